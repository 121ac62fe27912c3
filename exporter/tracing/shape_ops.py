"""Shape and data-movement lowerings: reshape, transpose, concatenate, split, pad, flip, tile, repeat,
take and friends. Composite functions lower by calling NumPy on the traced arrays again."""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedError, tracing_error
from .tracer import SymInt, Tracer, lowers, name_of, norm_axis, shape_input

INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min


@lowers(np.reshape)
def _reshape(g, res, a, shape=None, order="C", *, newshape=None, copy=None):
    if order != "C":
        raise tracing_error(f"reshape(order={order!r}) is not supported", cls=UnsupportedError)
    target = newshape if shape is None else shape
    if isinstance(target, (int, np.integer, SymInt)):
        target = (target,)
    allowzero = 1 if any(not isinstance(d, SymInt) and int(d) == 0 for d in target) else None
    return g.op("Reshape", name_of(g, a), shape_input(g, target), allowzero=allowzero)


@lowers(np.ravel)
def _ravel(g, res, a, order="C"):
    return g.reshape(name_of(g, a), [-1])


@lowers(np.transpose, np.permute_dims)
def _transpose(g, res, a, axes=None):
    perm = list(range(a.ndim))[::-1] if axes is None else [norm_axis(int(p), a.ndim) for p in axes]
    return g.transpose(name_of(g, a), perm)


@lowers(np.swapaxes)
def _swapaxes(g, res, a, axis1, axis2):
    perm = list(range(a.ndim))
    i, j = norm_axis(axis1, a.ndim), norm_axis(axis2, a.ndim)
    perm[i], perm[j] = perm[j], perm[i]
    return g.transpose(name_of(g, a), perm)


@lowers(np.moveaxis)
def _moveaxis(g, res, a, source, destination):
    src = [norm_axis(s, a.ndim) for s in np.atleast_1d(source)]
    dst = [norm_axis(d, a.ndim) for d in np.atleast_1d(destination)]
    order = [n for n in range(a.ndim) if n not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return g.transpose(name_of(g, a), order)


@lowers(np.expand_dims)
def _expand_dims(g, res, a, axis):
    axes = sorted(norm_axis(int(x), res.ndim) for x in np.atleast_1d(axis))
    return g.unsqueeze(name_of(g, a), axes)


@lowers(np.squeeze)
def _squeeze(g, res, a, axis=None):
    if axis is None:
        axes = [i for i, d in enumerate(a.shape) if not isinstance(d, SymInt) and d == 1]
    else:
        axes = sorted(norm_axis(int(x), a.ndim) for x in np.atleast_1d(axis))
    return g.squeeze(name_of(g, a), axes) if axes else g.op("Identity", name_of(g, a))


@lowers(np.broadcast_to)
def _broadcast_to(g, res, array, shape, subok=False):
    return g.op("Expand", name_of(g, array, res.dtype), shape_input(g, shape))


@lowers(np.atleast_1d, np.atleast_2d, np.atleast_3d)
def _atleast(g, res, *arys):
    if len(arys) != 1:
        raise tracing_error("np.atleast_Nd with several arrays is not supported", "call it once per array",
                            cls=UnsupportedError)
    a = arys[0]
    in_ndim = np.ndim(a.value if isinstance(a, Tracer) else a)
    if in_ndim == res.ndim:
        return g.op("Identity", name_of(g, a))
    # Where NumPy puts the new axes, by (result ndim, input ndim): atleast_3d maps (n,) to (1, n, 1).
    axes = {(1, 0): [0], (2, 0): [0, 1], (2, 1): [0], (3, 0): [0, 1, 2], (3, 1): [0, 2], (3, 2): [2]}
    return g.unsqueeze(name_of(g, a), axes[(res.ndim, in_ndim)])


@lowers(np.concatenate)
def _concatenate(g, res, arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    names = [name_of(g, x, res.dtype) for x in arrays]
    if axis is None:
        return g.concat([g.reshape(n, [-1]) for n in names], axis=0)
    return g.concat(names, axis=norm_axis(axis, res.ndim))


@lowers(np.stack)
def _stack(g, res, arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    ax = norm_axis(axis, res.ndim)
    return g.concat([g.unsqueeze(name_of(g, x, res.dtype), [ax]) for x in arrays], axis=ax)


@lowers(np.hstack)
def _hstack(g, res, tup, *, dtype=None, casting="same_kind"):
    arrays = [np.atleast_1d(x) for x in tup]
    return np.concatenate(arrays, axis=0 if arrays[0].ndim == 1 else 1).astype(res.dtype).name


@lowers(np.vstack)
def _vstack(g, res, tup, *, dtype=None, casting="same_kind"):
    return np.concatenate([np.atleast_2d(x) for x in tup], axis=0).astype(res.dtype).name


def _split_sizes(a, axis, res):
    dim = a.shape[axis]
    if isinstance(dim, SymInt):
        raise tracing_error("splitting along a dynamic axis is not supported",
                            "split along a static axis, or drop the axis from dynamic_axes", cls=UnsupportedError)
    return [part.shape[axis] for part in res]


@lowers(np.split, np.array_split)
def _split(g, res, ary, indices_or_sections, axis=0):
    ax = norm_axis(axis, ary.ndim)
    sizes = _split_sizes(ary, ax, res)
    x = name_of(g, ary)
    if len(sizes) == 1:
        return [g.op("Identity", x)]
    parts, start = [], 0
    for size in sizes:  # one Slice per part keeps zero-sized pieces legal
        parts.append(g.slice(x, [start], [start + size], [ax]))
        start += size
    return parts


@lowers(np.pad)
def _pad(g, res, array, pad_width, mode="constant", **kwargs):
    onnx_mode = {"constant": "constant", "edge": "edge", "reflect": "reflect", "wrap": "wrap"}.get(mode)
    if onnx_mode is None or set(kwargs) - {"constant_values"}:
        raise tracing_error(f"np.pad(mode={mode!r}, {', '.join(kwargs)}) is not supported",
                            "use mode='constant' (with a scalar constant_values), 'edge', 'reflect' or 'wrap'",
                            cls=UnsupportedError)
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64).reshape(-1, 2) if np.ndim(pad_width) else
                             np.asarray(pad_width, dtype=np.int64), (array.ndim, 2))
    pads = g.ints(list(widths[:, 0]) + list(widths[:, 1]))
    value = kwargs.get("constant_values", 0)
    if np.ndim(value) != 0:
        if np.ptp(np.asarray(value)) != 0:
            raise tracing_error("np.pad with per-axis constant_values is not supported", "use one scalar value",
                                cls=UnsupportedError)
        value = np.asarray(value).reshape(-1)[0]
    fill = g.const(np.asarray(value).astype(res.dtype)) if onnx_mode == "constant" else None
    return g.op("Pad", name_of(g, array), pads, fill, mode=onnx_mode)


@lowers(np.flip)
def _flip(g, res, m, axis=None):
    axes = list(range(m.ndim)) if axis is None else [norm_axis(int(a), m.ndim) for a in np.atleast_1d(axis)]
    n = len(axes)
    return g.slice(name_of(g, m), [-1] * n, [INT64_MIN] * n, axes, [-1] * n)


@lowers(np.fliplr)
def _fliplr(g, res, m):
    return g.slice(name_of(g, m), [-1], [INT64_MIN], [1], [-1])


@lowers(np.flipud)
def _flipud(g, res, m):
    return g.slice(name_of(g, m), [-1], [INT64_MIN], [0], [-1])


@lowers(np.tile)
def _tile(g, res, A, reps):
    reps = [int(r) for r in np.atleast_1d(reps)]
    x = name_of(g, A)
    if len(reps) > A.ndim:
        x = g.unsqueeze(x, list(range(len(reps) - A.ndim)))
    reps = [1] * (res.ndim - len(reps)) + reps
    return g.op("Tile", x, g.ints(reps))


@lowers(np.repeat)
def _repeat(g, res, a, repeats, axis=None):
    x = name_of(g, a)
    if axis is None:
        x, ax, n = g.reshape(x, [-1]), 0, a.size
    else:
        ax = norm_axis(axis, a.ndim)
        n = a.shape[ax]
    if isinstance(n, SymInt) or isinstance(repeats, (Tracer, SymInt)):
        raise tracing_error("np.repeat along a dynamic axis or with traced repeats is not supported",
                            cls=UnsupportedError)
    index = np.repeat(np.arange(n, dtype=np.int64), repeats)
    return g.op("Gather", x, g.const(index), axis=ax)


@lowers(np.take)
def _take(g, res, a, indices, axis=None, out=None, mode=None):
    if mode not in (None, "raise"):
        raise tracing_error(f"np.take(mode={mode!r}) is not supported", cls=UnsupportedError)
    x = name_of(g, a)
    if axis is None:
        x, axis = g.reshape(x, [-1]), 0
    else:
        axis = norm_axis(axis, a.ndim)
    return g.op("Gather", x, name_of(g, indices, np.int64), axis=axis)


@lowers(np.take_along_axis)
def _take_along_axis(g, res, arr, indices, axis=-1):
    x, idx = name_of(g, arr), name_of(g, indices, np.int64)
    if axis is None:
        return g.op("GatherElements", g.reshape(x, [-1]), idx, axis=0)
    ax = norm_axis(axis, np.ndim(res))
    if any(isinstance(d, SymInt) for d in (arr.shape if isinstance(arr, Tracer) else ())):
        return g.op("GatherElements", x, idx, axis=ax)
    # NumPy broadcasts the non-axis dimensions; GatherElements needs them equal.
    idx_shape = list(res.shape)
    idx = g.op("Expand", idx, g.ints(idx_shape)) if np.shape(_value(indices)) != res.shape else idx
    arr_shape = list(np.shape(_value(arr)))
    want = [s if i == ax else res.shape[i] for i, s in enumerate(arr_shape)]
    if want != arr_shape:
        x = g.op("Expand", x, g.ints(want))
    return g.op("GatherElements", x, idx, axis=ax)


def _value(x):
    return x.value if isinstance(x, Tracer) else np.asarray(x)
