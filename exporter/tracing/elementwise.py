"""Elementwise lowerings: ufuncs (operators go through these too), casts, where, clip, round.

A ufunc lowering receives its inputs already cast to the ufunc loop's input dtype (as NumPy resolves it
under NEP 50), so most are a single ONNX node.
"""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedError, tracing_error
from .tracer import (FUNCTIONS, METHODS, UFUNCS, astype, eager, find_graph, fold, lowers, lowers_ufunc, name_of,
                     only_constants, trace_function, unwrap_constants, weak_type, wrap)

# Ufuncs whose bool loop means a logical operation in NumPy but has no bool kernel in ONNX.
_BOOL_EQUIVALENT = {"Add": "Or", "Mul": "And", "Max": "Or", "Min": "And"}
_REDUCE_AS = {np.add: np.sum, np.multiply: np.prod, np.maximum: np.max, np.minimum: np.min,
              np.logical_and: np.all, np.logical_or: np.any}


def trace_ufunc(ufunc, method, inputs, kwargs):
    if only_constants(inputs, kwargs):
        return fold(ufunc, inputs, kwargs, method)
    inputs, kwargs = unwrap_constants(inputs), unwrap_constants(kwargs)
    if method == "reduce" and ufunc in _REDUCE_AS:
        kwargs.setdefault("axis", 0)
        return _REDUCE_AS[ufunc](*inputs, **kwargs)
    if method == "accumulate" and ufunc in (np.add, np.multiply):
        kwargs.setdefault("axis", 0)
        return (np.cumsum if ufunc is np.add else np.cumprod)(*inputs, **kwargs)
    if method != "__call__":
        raise tracing_error(f"numpy.{ufunc.__name__}.{method} is not supported", cls=UnsupportedError)
    if ufunc is np.matmul:
        return trace_function(np.matmul, FUNCTIONS[np.matmul], inputs, kwargs)
    lowering = UFUNCS.get(ufunc)
    if lowering is None:
        raise tracing_error(f"numpy.{ufunc.__name__} is not supported by exporter", cls=UnsupportedError)
    if kwargs:
        raise tracing_error(f"numpy.{ufunc.__name__} with arguments {sorted(kwargs)} is not supported",
                            "call it without out=/where=/dtype= and cast with astype", cls=UnsupportedError)
    g = find_graph(inputs)
    value, probe = eager(ufunc, inputs, {}, g, f"numpy.{ufunc.__name__}")
    loop = ufunc.resolve_dtypes(tuple(weak_type(x) for x in inputs) + (None,) * ufunc.nout)
    names = [name_of(g, x, loop[i]) for i, x in enumerate(inputs)]
    out = lowering(g, value, np.dtype(loop[0]), *names)
    return wrap(g, out, value, probe)


METHODS["ufunc"] = trace_ufunc


def _one(op_type: str):
    def lower(g, res, dt, *xs):
        if dt == np.bool_ and op_type in _BOOL_EQUIVALENT:
            return g.op(_BOOL_EQUIVALENT[op_type], *xs)
        return g.op(op_type, *xs)
    return lower


for _ufunc, _op in [(np.add, "Add"), (np.subtract, "Sub"), (np.multiply, "Mul"), (np.maximum, "Max"),
                    (np.minimum, "Min"), (np.negative, "Neg"), (np.sign, "Sign"), (np.exp, "Exp"),
                    (np.log, "Log"), (np.sqrt, "Sqrt"), (np.sin, "Sin"), (np.cos, "Cos"), (np.tan, "Tan"),
                    (np.tanh, "Tanh"), (np.sinh, "Sinh"), (np.cosh, "Cosh"), (np.arcsin, "Asin"),
                    (np.arccos, "Acos"), (np.arctan, "Atan"), (np.arcsinh, "Asinh"), (np.arccosh, "Acosh"),
                    (np.arctanh, "Atanh"), (np.equal, "Equal"), (np.less, "Less"),
                    (np.less_equal, "LessOrEqual"), (np.greater, "Greater"),
                    (np.greater_equal, "GreaterOrEqual"), (np.power, "Pow")]:
    UFUNCS[_ufunc] = _one(_op)


@lowers_ufunc(np.true_divide)
def _divide(g, res, dt, a, b):
    return g.op("Div", a, b)


@lowers_ufunc(np.absolute, np.fabs)
def _abs(g, res, dt, x):
    return x if dt == np.bool_ else g.op("Abs", x)


@lowers_ufunc(np.positive)
def _positive(g, res, dt, x):
    return g.op("Identity", x)


def _float_rounding(op_type):
    def lower(g, res, dt, x):
        if dt.kind in "iub":
            return g.op("Identity", x)
        if op_type == "Trunc":  # ONNX has no Trunc: round toward zero through the sign
            return g.op("Mul", g.op("Sign", x), g.op("Floor", g.op("Abs", x)))
        return g.op(op_type, x)
    return lower


for _ufunc, _op in [(np.floor, "Floor"), (np.ceil, "Ceil"), (np.rint, "Round"), (np.trunc, "Trunc")]:
    UFUNCS[_ufunc] = _float_rounding(_op)


@lowers_ufunc(np.not_equal)
def _not_equal(g, res, dt, a, b):
    return g.op("Not", g.op("Equal", a, b))


def _logical(op_type):
    def lower(g, res, dt, *xs):
        xs = [x if dt == np.bool_ else g.cast(x, np.bool_) for x in xs]
        return g.op(op_type, *xs)
    return lower


for _ufunc, _op in [(np.logical_and, "And"), (np.logical_or, "Or"), (np.logical_xor, "Xor"),
                    (np.logical_not, "Not")]:
    UFUNCS[_ufunc] = _logical(_op)


def _bitwise(op_type, bool_op):
    def lower(g, res, dt, *xs):
        return g.op(bool_op if dt == np.bool_ else op_type, *xs)
    return lower


for _ufunc, _op, _bool in [(np.bitwise_and, "BitwiseAnd", "And"), (np.bitwise_or, "BitwiseOr", "Or"),
                           (np.bitwise_xor, "BitwiseXor", "Xor"), (np.invert, "BitwiseNot", "Not")]:
    UFUNCS[_ufunc] = _bitwise(_op, _bool)


@lowers_ufunc(np.floor_divide)
def _floor_divide(g, res, dt, a, b):
    if dt.kind == "f":
        return g.op("Floor", g.op("Div", a, b))
    # ONNX integer Div truncates toward zero; subtracting the floored remainder first makes it exact.
    return g.op("Div", g.op("Sub", a, g.op("Mod", a, b)), b)


@lowers_ufunc(np.remainder)
def _remainder(g, res, dt, a, b):
    if dt.kind == "f":  # ONNX Mod on floats only does fmod; NumPy's remainder takes the divisor's sign
        return g.op("Sub", a, g.op("Mul", g.op("Floor", g.op("Div", a, b)), b))
    return g.op("Mod", a, b, fmod=0)


@lowers_ufunc(np.fmod)
def _fmod(g, res, dt, a, b):
    return g.op("Mod", a, b, fmod=1)


@lowers_ufunc(np.square)
def _square(g, res, dt, x):
    return g.op("Mul", x, x)


@lowers_ufunc(np.reciprocal)
def _reciprocal(g, res, dt, x):
    return g.op("Reciprocal", x) if dt.kind == "f" else g.op("Div", g.const(np.ones((), dt)), x)


@lowers_ufunc(np.exp2)
def _exp2(g, res, dt, x):
    return g.op("Pow", g.const(np.asarray(2, dt)), x)


def _log_with_base(base):
    def lower(g, res, dt, x):
        return g.op("Div", g.op("Log", x), g.const(np.asarray(np.log(base), dt)))
    return lower


UFUNCS[np.log2] = _log_with_base(2.0)
UFUNCS[np.log10] = _log_with_base(10.0)


@lowers_ufunc(np.log1p)
def _log1p(g, res, dt, x):
    # log(1 + x) loses all precision for tiny x; log(u) * x / (u - 1) with u = 1 + x recovers it
    # (Goldberg's trick), and x itself where u rounds to exactly 1.
    one = g.const(np.ones((), dt))
    u = g.op("Add", x, one)
    d = g.op("Sub", u, one)
    exact = g.op("Div", g.op("Mul", g.op("Log", u), x), d)
    return g.op("Where", g.op("Equal", d, g.const(np.zeros((), dt))), x, exact)


@lowers_ufunc(np.expm1)
def _expm1(g, res, dt, x):
    # exp(x) - 1 cancels for tiny x; a short Taylor series is exact to rounding there.
    small = g.op("Less", g.op("Abs", x), g.const(np.asarray(1e-5, dt)))
    taylor = g.op("Add", x, g.op("Mul", g.op("Mul", x, x), g.const(np.asarray(0.5, dt))))
    direct = g.op("Sub", g.op("Exp", x), g.const(np.ones((), dt)))
    return g.op("Where", small, taylor, direct)


@lowers_ufunc(np.deg2rad, np.radians)
def _deg2rad(g, res, dt, x):
    return g.op("Mul", x, g.const(np.asarray(np.pi / 180, dt)))


@lowers_ufunc(np.rad2deg, np.degrees)
def _rad2deg(g, res, dt, x):
    return g.op("Mul", x, g.const(np.asarray(180 / np.pi, dt)))


@lowers_ufunc(np.isnan)
def _isnan(g, res, dt, x):
    return g.op("IsNaN", x) if dt.kind == "f" else g.op("Not", g.op("Equal", x, x))


@lowers_ufunc(np.isinf)
def _isinf(g, res, dt, x):
    return g.op("IsInf", x) if dt.kind == "f" else g.op("Not", g.op("Equal", x, x))


@lowers_ufunc(np.isfinite)
def _isfinite(g, res, dt, x):
    if dt.kind != "f":
        return g.op("Equal", x, x)
    return g.op("Not", g.op("Or", g.op("IsNaN", x), g.op("IsInf", x)))


# ---------------------------------------------------------------------------------------------------
# Functions


@lowers(astype)
def _astype(g, res, x, dtype):
    if np.dtype(dtype).kind not in "biuf" or np.dtype(dtype).itemsize == 2:
        raise tracing_error(f"astype({np.dtype(dtype)}) is not supported",
                            "use float32, float64, int32, int64 or bool", cls=UnsupportedError)
    return name_of(g, x) if x.dtype == res.dtype else g.cast(x.name, res.dtype)


@lowers(np.where)
def _where(g, res, condition, x=None, y=None):
    if x is None or y is None:
        raise tracing_error("np.where(condition) with one argument returns data-dependent indices",
                            "use the three-argument form np.where(condition, x, y)")
    cond = name_of(g, condition, np.bool_)
    return g.op("Where", cond, name_of(g, x, res.dtype), name_of(g, y, res.dtype))


@lowers(np.clip)
def _clip(g, res, a, a_min=np._NoValue, a_max=np._NoValue, out=None, *, min=np._NoValue, max=np._NoValue,
          **kwargs):
    lo = a_min if a_min is not np._NoValue else min
    hi = a_max if a_max is not np._NoValue else max
    result = name_of(g, a, res.dtype)
    if lo is not np._NoValue and lo is not None:
        result = g.op("Max", result, name_of(g, lo, res.dtype))
    if hi is not np._NoValue and hi is not None:
        result = g.op("Min", result, name_of(g, hi, res.dtype))
    return result


@lowers(np.round, np.around)
def _round(g, res, a, decimals=0, out=None):
    x = name_of(g, a, res.dtype)
    if res.dtype.kind in "iub" and decimals >= 0:
        return g.op("Identity", x)
    if res.dtype.kind != "f":
        raise tracing_error("np.round with negative decimals on integers is not supported", cls=UnsupportedError)
    if decimals == 0:
        return g.op("Round", x)
    scale = g.const(np.asarray(10.0 ** decimals, res.dtype))
    return g.op("Div", g.op("Round", g.op("Mul", x, scale)), scale)


@lowers(np.copy)
def _copy(g, res, a, *args, **kwargs):
    return g.op("Identity", name_of(g, a))

