"""Linear algebra lowerings: matmul/@, dot, einsum, tensordot, outer, linalg.norm."""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedError, tracing_error
from .tracer import Tracer, lowers, name_of, norm_axes


def _check_matmul_dtype(dtype):
    if dtype == np.bool_:
        raise tracing_error("matrix products of bool arrays are not supported", "cast to int32 or float32 first",
                            cls=UnsupportedError)


@lowers(np.matmul)
def _matmul(g, res, a, b, **kwargs):
    _check_matmul_dtype(res.dtype)
    return g.op("MatMul", name_of(g, a, res.dtype), name_of(g, b, res.dtype))


@lowers(np.dot)
def _dot(g, res, a, b, out=None):
    _check_matmul_dtype(res.dtype)
    na, nb = np.ndim(_value(a)), np.ndim(_value(b))
    if na == 0 or nb == 0:
        return g.op("Mul", name_of(g, a, res.dtype), name_of(g, b, res.dtype))
    if nb <= 2:  # np.dot and np.matmul agree whenever the second operand has at most 2 dims
        return g.op("MatMul", name_of(g, a, res.dtype), name_of(g, b, res.dtype))
    return np.tensordot(a, b, axes=([na - 1], [nb - 2])).astype(res.dtype).name


@lowers(np.einsum)
def _einsum(g, res, subscripts, *operands, out=None, dtype=None, order="K", casting="safe", optimize=False):
    if not isinstance(subscripts, str):
        raise tracing_error("np.einsum with interleaved operand/subscript lists is not supported",
                            "pass the subscripts as a string", cls=UnsupportedError)
    _check_matmul_dtype(res.dtype)
    equation = subscripts.replace(" ", "")
    return g.op("Einsum", *[name_of(g, x, res.dtype) for x in operands], equation=equation)


@lowers(np.tensordot)
def _tensordot(g, res, a, b, axes=2):
    _check_matmul_dtype(res.dtype)
    na, nb = np.ndim(_value(a)), np.ndim(_value(b))
    if isinstance(axes, (int, np.integer)):
        axes_a, axes_b = list(range(na - axes, na)), list(range(axes))
    else:
        axes_a, axes_b = ([int(x) for x in np.atleast_1d(ax)] for ax in axes)
    axes_a, axes_b = [x % na for x in axes_a], [x % nb for x in axes_b]
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    sa = [next(letters) for _ in range(na)]
    sb = [next(letters) for _ in range(nb)]
    for i, j in zip(axes_a, axes_b):
        sb[j] = sa[i]
    kept = [sa[i] for i in range(na) if i not in axes_a] + [sb[j] for j in range(nb) if j not in axes_b]
    equation = f"{''.join(sa)},{''.join(sb)}->{''.join(kept)}"
    return g.op("Einsum", name_of(g, a, res.dtype), name_of(g, b, res.dtype), equation=equation)


@lowers(np.outer)
def _outer(g, res, a, b, out=None):
    flat_a = g.reshape(name_of(g, a, res.dtype), [-1, 1])
    return g.op("Mul", flat_a, g.reshape(name_of(g, b, res.dtype), [1, -1]))


@lowers(np.linalg.norm)
def _norm(g, res, x, ord=None, axis=None, keepdims=False):
    a = x if x.dtype.kind == "f" else x.astype(res.dtype)
    vector = axis is not None and np.ndim(axis) == 0 or (axis is None and x.ndim == 1)
    if ord in (None, "fro") or (ord == 2 and vector):
        return np.sqrt(np.sum(a * a, axis=axis, keepdims=keepdims)).name
    if vector and ord == np.inf:
        return np.max(np.abs(a), axis=axis, keepdims=keepdims).name
    if vector and ord == -np.inf:
        return np.min(np.abs(a), axis=axis, keepdims=keepdims).name
    if vector and ord == 1:
        return np.sum(np.abs(a), axis=axis, keepdims=keepdims).name
    if vector and isinstance(ord, (int, float)) and ord > 0:
        return (np.sum(np.abs(a) ** ord, axis=axis, keepdims=keepdims) ** (1.0 / ord)).astype(res.dtype).name
    raise tracing_error(f"numpy.linalg.norm(ord={ord!r}) over {'a vector' if vector else 'matrices'} is not "
                        "supported", "use ord=None/'fro', or a vector norm with ord 1, 2, inf, -inf or p > 0",
                        cls=UnsupportedError)


def _value(x):
    return x.value if isinstance(x, Tracer) else np.asarray(x)


__all__ = ["norm_axes"]
