"""Array creation from traced arrays: zeros_like/ones_like/full_like/empty_like.

Constructors that take only shapes (zeros, ones, full, arange, eye) never see a traced array: NumPy
evaluates them at trace time and they become constants, which is exactly constant folding.
"""
from __future__ import annotations

import numpy as np

from .tracer import SymInt, lowers, name_of, shape_input


def _filled(g, res, a, fill, shape):
    """`fill` (an ONNX name) broadcast to the result shape; a fully static result is just a constant."""
    if shape is not None:
        return g.op("Expand", fill, shape_input(g, shape))
    if any(isinstance(d, SymInt) for d in a.shape):
        return g.op("Expand", fill, g.op("Shape", name_of(g, a)))
    return g.op("Expand", fill, g.ints(res.shape))


@lowers(np.zeros_like, np.empty_like)
def _zeros_like(g, res, a, dtype=None, order="K", subok=True, shape=None, *, device=None):
    return _filled(g, res, a, g.const(np.zeros((), res.dtype)), shape)


@lowers(np.ones_like)
def _ones_like(g, res, a, dtype=None, order="K", subok=True, shape=None, *, device=None):
    return _filled(g, res, a, g.const(np.ones((), res.dtype)), shape)


@lowers(np.full_like)
def _full_like(g, res, a, fill_value, dtype=None, order="K", subok=True, shape=None, *, device=None):
    return _filled(g, res, a, name_of(g, fill_value, res.dtype), shape)
