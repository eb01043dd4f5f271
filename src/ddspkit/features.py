"""Moved to :mod:`ddspkit.analysis.features`: this name (documented before the move) is that module."""

import sys

from ddspkit.analysis import features as _moved

sys.modules[__name__] = _moved
