"""np.sort and np.argsort (ONNX TopK with k = the axis length, smallest first; a dynamic axis gives a k
read from the shape), np.cumprod.

TopK orders equal values by index, so results equal NumPy's stable sort (kind="stable"); NumPy's default
quicksort may order ties differently in argsort. NaN sorts last, as in NumPy.
"""
from __future__ import annotations

import numpy as np

from .tracer import SymInt, Tracer, lowers, name_of, norm_axis


def _topk(g, a, axis):
    """(values, indices) of `a` sorted ascending along `axis` (None: flattened)."""
    x = name_of(g, a)
    shape = a.shape
    if axis is None:
        x, axis, shape = g.reshape(x, [-1]), 0, (a.size,)
    ax = norm_axis(axis, len(shape))
    n = shape[ax]
    k = n.tensor() if isinstance(n, SymInt) else g.ints([n])  # every element: k is the axis length
    if a.dtype == np.bool_:  # TopK has no bool kernels: sort 0/1 integers
        x = g.cast(x, np.int32)
    values, indices = g.op("TopK", x, k, axis=ax, largest=0, sorted=1, outputs=2)
    return (g.cast(values, np.bool_) if a.dtype == np.bool_ else values), indices


@lowers(np.sort)
def _sort(g, res, a, axis=-1, kind=None, order=None, *, stable=None):
    # every kind sorts to the same values (order= needs structured arrays, which NumPy refuses first)
    return _topk(g, a, axis)[0]


@lowers(np.argsort)
def _argsort(g, res, a, axis=-1, kind=None, order=None, *, stable=None):
    # ties in index order whatever the kind: NumPy's kind="stable"
    return _topk(g, a, axis)[1]


@lowers(np.cumprod)
def _cumprod(g, res, a, axis=None, dtype=None, out=None):
    """ONNX has no CumProd: out[..., i] = prod over j <= i of x[..., j], as a ReduceProd over a
    lower-triangular selection (n x n per line: meant for moderate axis lengths)."""
    x = a if isinstance(a, Tracer) else np.asarray(a)
    x = x.astype(res.dtype)
    if axis is None or x.ndim == 0:
        x, axis = x.reshape(-1), 0
    ax = norm_axis(axis, x.ndim)
    last = np.moveaxis(x, ax, -1)                   # [..., n]
    index = np.arange(last.shape[-1])
    keep = index[None, :] <= index[:, None]          # [i, j]: j <= i
    terms = np.where(keep, last[..., None, :], np.ones((), res.dtype))
    return np.moveaxis(np.prod(terms, axis=-1), -1, ax).name
