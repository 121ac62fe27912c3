"""Ops whose output size is known only once they ran (NonZero, Compress): the output is planned at its
upper bound, the step counts as it goes and sets the size (runtime_values.result_dims), which the program
reports as the output's shape. Supported where that output is a graph output no other node reads."""
from __future__ import annotations

import numpy as np

from .. import dims as D
from ..runtime_values import result_index
from . import ALL, OpDef, norm_axis, register

BOOL = np.dtype(np.bool_)


def _is_nonzero(ctype: str, dtype) -> str:
    """A C++ test of `v` against zero for any dtype (float16 and bfloat16 compared as float)."""
    if dtype.itemsize == 2 and dtype.kind not in "iu":
        return "static_cast<float>(v) != 0.0f"
    return "v != 0" if dtype != BOOL else "v"


@register
class NonZero(OpDef):
    types = ("NonZero",)
    dtypes = ALL

    def infer(self, node):
        x = node.inputs[0]
        node.results = [(0, 1, x.numel)]  # at most every element
        return [(np.dtype(np.int64), [x.rank, x.numel])]

    def emit(self, node, cg):
        x, out = node.inputs[0], node.outputs[0]
        return [{"template": "nonzero", "src": cg.var(x), "out": cg.var(out), "ctype": cg.ctype(x.dtype),
                 "test": _is_nonzero(cg.ctype(x.dtype), x.dtype), "count": cg.dim(x.numel),
                 "dims": cg.dims(x.shape), "rank": x.rank, "slot": result_index(cg, out, 1)}]


@register
class Compress(OpDef):
    types = ("Compress",)
    dtypes = ALL

    def check(self, node):
        cond = node.inputs[1]
        if cond.dtype != BOOL or cond.rank != 1:
            return f"a condition of dtype {cond.dtype} and rank {cond.rank} (a 1-D bool tensor expected)"
        return super().check(node)

    def _axis(self, node):
        axis = node.attr("axis")
        return None if axis is None else norm_axis(axis, node.inputs[0].rank)

    def infer(self, node):
        x, cond = node.inputs
        axis = self._axis(node)
        length = cond.shape[0]
        if axis is None:
            size, shape, k = x.numel, [None], 0
        else:
            size, shape, k = x.shape[axis], list(x.shape), axis
        bound = size if isinstance(size, D.Sym) or isinstance(length, D.Sym) else min(int(size), int(length))
        shape[k] = bound
        node.results = [(0, k, bound)]
        return [(x.dtype, shape)]

    def emit(self, node, cg):
        x, cond = node.inputs
        out = node.outputs[0]
        axis = self._axis(node)
        if axis is None:
            outer, n, inner, k = 1, x.numel, 1, 0
        else:
            outer, n, inner, k = D.prod(x.shape[:axis]), x.shape[axis], D.prod(x.shape[axis + 1:]), axis
        return [{"template": "compress", "src": cg.var(x), "cond": cg.var(cond), "out": cg.var(out),
                 "ctype": cg.ctype(x.dtype), "outer": cg.dim(outer), "n": cg.dim(n), "inner": cg.dim(inner),
                 "length": cg.dim(cond.shape[0]), "slot": result_index(cg, out, k)}]


@register
class Unique(OpDef):
    """Y (the distinct slices along `axis`, or elements of the flattened input), indices (first occurrences),
    inverse_indices (each slice's place in Y; a fixed size) and counts; sorted ascending (slices compared
    lexicographically) or in order of first occurrence."""
    types = ("Unique",)
    dtypes = ALL

    def _extents(self, node):
        x = node.inputs[0]
        axis = node.attr("axis")
        if axis is None:
            return None, 1, x.numel, 1
        axis = norm_axis(axis, x.rank)
        return axis, D.prod(x.shape[:axis]), x.shape[axis], D.prod(x.shape[axis + 1:])

    def infer(self, node):
        x = node.inputs[0]
        axis, _, n, _ = self._extents(node)
        y = [n] if axis is None else list(x.shape)
        types = [(x.dtype, y), (np.dtype(np.int64), [n]), (np.dtype(np.int64), [n]), (np.dtype(np.int64), [n])]
        present = [k for k, o in enumerate(node.outputs) if o is not None]
        node.results = [(k, 0 if k or axis is None else axis, n) for k in present if k != 2]
        return types[:len(node.outputs)]

    def scratch(self, node):
        # three int64 arrays of n (sorted order, first occurrence of each group, place in Y), counted in
        # elements of the input dtype
        return D.mul(self._extents(node)[2], 3 * -(-8 // node.inputs[0].dtype.itemsize))

    def emit(self, node, cg):
        x = node.inputs[0]
        axis, outer, n, inner = self._extents(node)
        outs = (node.outputs + [None] * 4)[:4]
        narrow = x.dtype.itemsize == 2 and x.dtype.kind not in "iu"
        ptr = lambda v: cg.var(v) if v is not None else "nullptr"  # noqa: E731
        slots = [result_index(cg, o, 0 if k or axis is None else axis) for k, o in enumerate(outs)
                 if o is not None and k != 2]
        return [{"template": "unique", "src": cg.var(x), "ctype": cg.ctype(x.dtype),
                 "key": "float" if narrow else cg.ctype(x.dtype), "y": ptr(outs[0]), "first": ptr(outs[1]),
                 "inverse": ptr(outs[2]), "counts": ptr(outs[3]), "outer": cg.dim(outer), "n": cg.dim(n),
                 "inner": cg.dim(inner), "sorted": bool(node.attr("sorted", 1)), "scratch": cg.scratch_var(node),
                 "slots": slots}]


@register
class NonMaxSuppression(OpDef):
    """Per batch and class: boxes by score (highest first, ties by box number), each kept unless it overlaps
    a kept one by more than iou_threshold (IoU), at most max_output_boxes_per_class; corner (y1, x1, y2, x2)
    or center (x, y, w, h) boxes. The count is known once it ran (bound: batches x classes x boxes)."""
    types = ("NonMaxSuppression",)
    dtypes = {np.dtype(np.float32), np.dtype(np.float64)}

    def check(self, node):
        boxes, scores = node.inputs[:2]
        if boxes.rank != 3 or scores.rank != 3:
            return f"boxes of rank {boxes.rank} and scores of rank {scores.rank} (3 and 3 expected)"
        if scores.dtype != boxes.dtype:
            return f"scores of dtype {scores.dtype} with boxes of dtype {boxes.dtype}"
        if node.attr("center_point_box", 0) not in (0, 1):
            return f"center_point_box = {node.attr('center_point_box')}"
        for k in (2, 3, 4):
            v = node.input(k)
            if v is not None and not D.is_static(v.shape) or v is not None and D.prod(v.shape) > 1:
                return f"input {k} ('{v.name}') of shape {v.shape} (one element expected)"
        return super().check(node)

    def infer(self, node):
        boxes, scores = node.inputs[:2]
        bound = D.prod([scores.shape[0], scores.shape[1], boxes.shape[1]])
        node.results = [(0, 0, bound)]
        return [(np.dtype(np.int64), [bound, 3])]

    def scratch(self, node):
        # two int64 arrays of the boxes (candidates by score, those kept), in elements of the box dtype
        return D.mul(node.inputs[0].shape[1], 2 * -(-8 // node.inputs[0].dtype.itemsize))

    def emit(self, node, cg):
        boxes, scores = node.inputs[:2]
        out = node.outputs[0]

        def scalar(k, default):
            v = node.input(k)
            return default if v is None or D.prod(v.shape) == 0 else cg.scalar(v)
        threshold = node.input(4)
        return [{"template": "nms", "boxes": cg.var(boxes), "scores": cg.var(scores), "out": cg.var(out),
                 "ctype": cg.ctype(boxes.dtype), "batches": cg.dim(scores.shape[0]), "classes": cg.dim(scores.shape[1]),
                 "n": cg.dim(boxes.shape[1]), "max_out": scalar(2, "0"), "iou": scalar(3, "0"),
                 "score": None if threshold is None or D.prod(threshold.shape) == 0 else cg.scalar(threshold),
                 "center": bool(node.attr("center_point_box", 0)), "scratch": cg.scratch_var(node),
                 "slot": result_index(cg, out, 0)}]
