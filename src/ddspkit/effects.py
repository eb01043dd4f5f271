"""Moved to :mod:`ddspkit.dsp.effects`: this name (documented before the move) is that module."""

import sys

from ddspkit.dsp import effects as _moved

sys.modules[__name__] = _moved
