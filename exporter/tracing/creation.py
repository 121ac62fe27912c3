"""Array creation: zeros_like/ones_like/full_like/empty_like from traced arrays, and arange/zeros/ones/
full/empty over dynamic sizes.

Constructors given only fixed sizes (zeros, ones, full, arange, eye) never see a traced array: NumPy
evaluates them at trace time and they become constants, which is exactly constant folding.
"""
from __future__ import annotations

import contextlib
import threading

import numpy as np

from ..errors import tracing_error
from .tracer import FUNCTIONS, SymInt, Tracer, lowers, name_of, shape_input, trace_function, tree_leaves


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


# ---- constructors over dynamic sizes ---------------------------------------------------------------------
# np.arange/zeros/ones/full/empty take sizes, not arrays, so NumPy never dispatches them to a Tracer: given a
# dynamic size (SymInt) NumPy would compare it and fail. While a function is traced, `numpy.<name>` is
# replaced by a wrapper that lowers calls with dynamic sizes (ONNX Range, Expand) and passes every other
# call to NumPy untouched.
ORIGINAL = {name: getattr(np, name) for name in ("arange", "zeros", "ones", "full", "empty")}
_lock = threading.Lock()
_active = 0


def _dispatching(name):
    original = ORIGINAL[name]

    def wrapper(*args, **kwargs):
        if not any(isinstance(a, (SymInt, Tracer)) for a in tree_leaves((args, kwargs))):
            return original(*args, **kwargs)
        return trace_function(original, FUNCTIONS[original], args, kwargs, label=f"numpy.{name}")
    wrapper.__name__ = wrapper.__qualname__ = name
    wrapper.__doc__ = original.__doc__
    wrapper.__wrapped__ = original
    return wrapper


WRAPPERS = {name: _dispatching(name) for name in ORIGINAL}


@contextlib.contextmanager
def size_constructors():
    """numpy.arange & co. accept dynamic sizes for the duration of the block (nested and threaded traces
    share one installation)."""
    global _active
    with _lock:
        if _active == 0:
            for name, wrapper in WRAPPERS.items():
                setattr(np, name, wrapper)
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                for name, original in ORIGINAL.items():
                    setattr(np, name, original)


def _scalar(g, x, dtype) -> str:
    if isinstance(x, Tracer):
        raise tracing_error(f"np.arange with a traced value as a bound ({x.name}) has a data-dependent length",
                            "use sizes from x.shape (np.arange(x.shape[0])) or constants as bounds")
    return name_of(g, x, dtype) if isinstance(x, SymInt) else g.const(np.asarray(x, dtype))


@lowers(ORIGINAL["arange"])
def _arange(g, res, *args, start=None, stop=None, step=None, dtype=None, device=None, like=None):
    bounds = list(args) + [v for v in (start, stop, step) if v is not None]
    if len(bounds) == 1:
        bounds = [0] + bounds
    first, limit, delta = (bounds + [1])[:3]
    integral = all(isinstance(v, (SymInt, int, np.integer)) and not isinstance(v, bool) for v in (first, limit, delta))
    if integral and res.dtype.kind == "f":
        # an integer range cast to float equals NumPy's float range, and stays an integer Range (exact,
        # and the native backend sizes it symbolically)
        values = g.op("Range", *(_scalar(g, v, np.int64) for v in (first, limit, delta)))
        return g.cast(values, res.dtype)
    return g.op("Range", *(_scalar(g, v, res.dtype) for v in (first, limit, delta)))


def _fill_shape(g, res, shape, fill_value):
    return g.op("Expand", g.const(np.asarray(fill_value, res.dtype)), shape_input(g, shape))


@lowers(ORIGINAL["zeros"], ORIGINAL["empty"])
def _zeros(g, res, shape, dtype=None, order="C", *, device=None, like=None):
    return _fill_shape(g, res, shape, 0)


@lowers(ORIGINAL["ones"])
def _ones(g, res, shape, dtype=None, order="C", *, device=None, like=None):
    return _fill_shape(g, res, shape, 1)


@lowers(ORIGINAL["full"])
def _full(g, res, shape, fill_value, dtype=None, order="C", *, device=None, like=None):
    if isinstance(fill_value, (Tracer, SymInt)):
        return g.op("Expand", name_of(g, fill_value, res.dtype), shape_input(g, shape))
    return _fill_shape(g, res, shape, fill_value)
