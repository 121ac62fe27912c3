"""Reductions: sum/mean/max/min/prod/var/std/argmax/argmin/all/any and cumsum.

The output dtype comes from the shadow (NumPy sums int32 into int64, averages ints in float64); the input
is cast to it first so the ONNX reduction runs in exactly that dtype.
"""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedError, tracing_error
from .tracer import SymInt, lowers, name_of, norm_axes, norm_axis


def _reject(func: str, **given):
    for key, value in given.items():
        if value is not None and value is not np._NoValue:
            raise tracing_error(f"{func}({key}=...) is not supported", cls=UnsupportedError)


def _reduce(g, op_type, x, axis, keepdims, dtype):
    name = name_of(g, x, dtype)
    if x.ndim == 0:
        return g.op("Identity", name)
    axes = norm_axes(axis, x.ndim)
    if not axes:
        return g.op("Identity", name)
    return g.reduce(op_type, name, axes, bool(keepdims))


def _keep(keepdims):
    return False if keepdims is np._NoValue else bool(keepdims)


@lowers(np.sum)
def _sum(g, res, a, axis=None, dtype=None, out=None, keepdims=np._NoValue, initial=np._NoValue,
         where=np._NoValue):
    _reject("sum", initial=initial, where=where)
    if res.dtype == np.bool_:
        raise tracing_error("sum(dtype=bool) is not supported", cls=UnsupportedError)
    return _reduce(g, "ReduceSum", a, axis, _keep(keepdims), res.dtype)


@lowers(np.mean)
def _mean(g, res, a, axis=None, dtype=None, out=None, keepdims=np._NoValue, *, where=np._NoValue):
    _reject("mean", where=where)
    return _reduce(g, "ReduceMean", a, axis, _keep(keepdims), res.dtype)


@lowers(np.prod)
def _prod(g, res, a, axis=None, dtype=None, out=None, keepdims=np._NoValue, initial=np._NoValue,
          where=np._NoValue):
    _reject("prod", initial=initial, where=where)
    return _reduce(g, "ReduceProd", a, axis, _keep(keepdims), res.dtype)


def _extremum(op_type):
    def lower(g, res, a, axis=None, out=None, keepdims=np._NoValue, initial=np._NoValue, where=np._NoValue):
        _reject(op_type, initial=initial, where=where)
        if res.dtype == np.bool_:  # no bool kernels for ReduceMax/Min: reduce 0/1 integers
            return g.cast(_reduce(g, op_type, a, axis, _keep(keepdims), np.int32), np.bool_)
        return _reduce(g, op_type, a, axis, _keep(keepdims), res.dtype)
    return lower


lowers(np.max, np.amax)(_extremum("ReduceMax"))
lowers(np.min, np.amin)(_extremum("ReduceMin"))


def _logical(op_type):
    def lower(g, res, a, axis=None, out=None, keepdims=np._NoValue, *, where=np._NoValue):
        _reject("all/any", where=where)
        as_int = g.cast(name_of(g, a, np.bool_), np.int32)
        if a.ndim == 0 or not norm_axes(axis, a.ndim):
            return g.cast(as_int, np.bool_)
        return g.cast(g.reduce(op_type, as_int, norm_axes(axis, a.ndim), _keep(keepdims)), np.bool_)
    return lower


lowers(np.all)(_logical("ReduceMin"))
lowers(np.any)(_logical("ReduceMax"))


def _arg(op_type):
    def lower(g, res, a, axis=None, out=None, *, keepdims=np._NoValue):
        x = name_of(g, a)
        if a.dtype == np.bool_:
            x = g.cast(x, np.int32)
        keep = _keep(keepdims)
        if axis is None:
            flat = g.reshape(x, [-1])
            result = g.op(op_type, flat, axis=0, keepdims=0)
            return g.reshape(result, [1] * a.ndim) if keep else result
        return g.op(op_type, x, axis=norm_axis(axis, a.ndim), keepdims=int(keep))
    return lower


lowers(np.argmax)(_arg("ArgMax"))
lowers(np.argmin)(_arg("ArgMin"))


def _count(g, a, axes, dtype) -> str:
    """Number of elements reduced over `axes`, as a scalar of `dtype` (symbolic for dynamic axes)."""
    count = 1
    for ax in axes:
        count = a.shape[ax] * count
    if not isinstance(count, SymInt):
        return g.const(np.asarray(count, dtype))
    return g.cast(g.squeeze(count.tensor(), [0]), dtype)


@lowers(np.var)
def _var(g, res, a, axis=None, dtype=None, out=None, ddof=0, keepdims=np._NoValue, *, where=np._NoValue,
         mean=np._NoValue, correction=np._NoValue):
    _reject("var", where=where, mean=mean, correction=correction)
    return _variance(g, res, a, axis, ddof, _keep(keepdims))


def _variance(g, res, a, axis, ddof, keepdims):
    x = name_of(g, a, res.dtype)
    if a.ndim == 0:
        return g.op("Sub", x, x)
    axes = norm_axes(axis, a.ndim)
    centered = g.op("Sub", x, g.reduce("ReduceMean", x, axes, True))
    squares = g.op("Mul", centered, centered)
    if ddof == 0:
        return g.reduce("ReduceMean", squares, axes, keepdims)
    total = g.reduce("ReduceSum", squares, axes, keepdims)
    return g.op("Div", total, g.op("Sub", _count(g, a, axes, res.dtype), g.const(np.asarray(ddof, res.dtype))))


@lowers(np.std)
def _std(g, res, a, axis=None, dtype=None, out=None, ddof=0, keepdims=np._NoValue, *, where=np._NoValue,
         mean=np._NoValue, correction=np._NoValue):
    _reject("std", where=where, mean=mean, correction=correction)
    return g.op("Sqrt", _variance(g, res, a, axis, ddof, _keep(keepdims)))


@lowers(np.cumsum)
def _cumsum(g, res, a, axis=None, dtype=None, out=None):
    x = name_of(g, a, res.dtype)
    if axis is None or a.ndim == 0:
        x, axis = g.reshape(x, [-1]), 0
    return g.op("CumSum", x, g.const(np.asarray(norm_axis(axis, max(a.ndim, 1)), np.int64)))
