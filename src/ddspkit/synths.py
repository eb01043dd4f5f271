"""Moved to :mod:`ddspkit.dsp.synths`: this name (documented before the move) is that module."""

import sys

from ddspkit.dsp import synths as _moved

sys.modules[__name__] = _moved
