"""Moved to :mod:`ddspkit.dsp.losses`: this name (documented before the move) is that module."""

import sys

from ddspkit.dsp import losses as _moved

sys.modules[__name__] = _moved
