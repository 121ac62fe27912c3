"""Indexing: basic (ints, slices with steps, negative indices, Ellipsis, None) and advanced (integer
arrays, constant boolean masks, traced integer indices), following NumPy's placement rules."""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedError, tracing_error
from .tracer import METHODS, SymInt, Tracer, lowers, name_of, shape_input

INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min


def getitem(a, key):
    """Eager counterpart of Tracer.__getitem__ (used for the shadow value)."""
    return a[key]


METHODS["getitem"] = getitem


def _classify(key, ndim):
    """Expand Ellipsis and boolean masks; returns a list of items, one per consumed axis or None."""
    key = key if isinstance(key, tuple) else (key,)
    items = []
    for k in key:
        if isinstance(k, Tracer):
            if k.dtype == np.bool_:
                raise tracing_error("boolean-mask indexing with a traced mask has a data-dependent shape",
                                    "use np.where(mask, x, fill) to keep the shape static")
            if k.dtype.kind not in "iu":
                raise tracing_error(f"arrays used as indices must be integers, not {k.dtype}")
            items.append(k)
        elif k is None or k is Ellipsis or isinstance(k, (slice, SymInt)):
            items.append(k)
        elif isinstance(k, (bool, np.bool_)):
            raise tracing_error("indexing with a scalar boolean is not supported", cls=UnsupportedError)
        elif isinstance(k, (int, np.integer)):
            items.append(int(k))
        else:
            arr = np.asarray(k)
            if arr.dtype == np.bool_:
                items.extend(np.nonzero(arr))  # a constant mask is a static set of integer indices
            elif arr.dtype.kind in "iu":
                items.append(arr.astype(np.int64))
            else:
                raise tracing_error(f"index of type {type(k).__name__} ({arr.dtype}) is not supported",
                                    cls=UnsupportedError)
    consumed = sum(1 for k in items if k is not None and k is not Ellipsis)
    if Ellipsis in [k for k in items if not isinstance(k, (np.ndarray, Tracer))]:
        at = next(i for i, k in enumerate(items) if k is Ellipsis and not isinstance(k, np.ndarray))
        items[at:at + 1] = [slice(None)] * (ndim - consumed)
    items += [slice(None)] * (ndim - sum(1 for k in items if k is not None))
    return items


def _is_array(k):
    return isinstance(k, (np.ndarray, Tracer))


@lowers(getitem)
def _getitem(g, res, a, key):
    items = _classify(key, a.ndim)
    advanced = any(_is_array(k) for k in items)
    x = name_of(g, a)

    # 1. all slices in one Slice node (Python's clamping rules are ONNX's too)
    starts, ends, axes, steps = [], [], [], []
    axis = 0
    for k in items:
        if k is None:
            continue
        if isinstance(k, slice) and k != slice(None):
            step = 1 if k.step is None else int(k.step)
            if step == 0:
                raise tracing_error("slice step cannot be zero")
            starts.append(k.start if k.start is not None else (0 if step > 0 else INT64_MAX))
            ends.append(k.stop if k.stop is not None else (INT64_MAX if step > 0 else INT64_MIN))
            axes.append(axis)
            steps.append(step)
        axis += 1
    if axes:
        x = g.op("Slice", x, shape_input(g, starts), shape_input(g, ends), g.ints(axes), g.ints(steps))

    if not advanced:
        # 2. integers remove their axis (highest first, so lower axis numbers stay valid)
        consumed = [k for k in items if k is not None]
        for ax in reversed(range(len(consumed))):
            k = consumed[ax]
            if isinstance(k, (int, SymInt)):
                index = name_of(g, k, np.int64) if isinstance(k, SymInt) else g.const(np.asarray(k, np.int64))
                x = g.op("Gather", x, index, axis=ax)
        # 3. None inserts a new axis at its position in the result
        new_axes, pos = [], 0
        for k in items:
            if k is None:
                new_axes.append(pos)
            if k is None or isinstance(k, slice):
                pos += 1
        return g.unsqueeze(x, new_axes) if new_axes else (x if x != name_of(g, a) else g.op("Identity", x))

    if any(k is None for k in items):
        raise tracing_error("mixing None/np.newaxis with array indices is not supported",
                            "index first, then add the axis with np.expand_dims", cls=UnsupportedError)
    # Advanced: integers count as 0-d index arrays; NumPy puts the broadcast index dimensions where the
    # first index sits when all index arrays are adjacent, else in front.
    adv = [i for i, k in enumerate(items) if _is_array(k) or isinstance(k, (int, SymInt))]
    indices = [items[i] for i in adv]
    if len(adv) == 1:
        return g.op("Gather", x, name_of(g, indices[0], np.int64), axis=adv[0])
    index_shape = np.broadcast_shapes(*[np.shape(k.value if isinstance(k, Tracer) else k)
                                        for k in indices if not isinstance(k, SymInt)])
    stacked = []
    for k in indices:
        name = name_of(g, k, np.int64)
        if np.shape(k.value if isinstance(k, Tracer) else (0 if isinstance(k, SymInt) else k)) != index_shape:
            name = g.op("Expand", name, g.ints(index_shape))
        stacked.append(g.unsqueeze(name, [len(index_shape)]))
    rest = [i for i in range(len(items)) if i not in adv]
    if adv != list(range(len(adv))):
        x = g.transpose(x, adv + rest)
    x = g.op("GatherND", x, g.concat(stacked, axis=len(index_shape)))
    adjacent = adv == list(range(adv[0], adv[0] + len(adv)))
    if adjacent and adv[0] > 0:  # move the index dimensions back to where the first index was
        b, first = len(index_shape), adv[0]
        perm = list(range(b, b + first)) + list(range(b)) + list(range(b + first, b + len(rest)))
        x = g.transpose(x, perm)
    return x
