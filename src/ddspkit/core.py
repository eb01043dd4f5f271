"""Moved to :mod:`ddspkit.dsp.core`: this name (documented before the move) is that module."""

import sys

from ddspkit.dsp import core as _moved

sys.modules[__name__] = _moved
