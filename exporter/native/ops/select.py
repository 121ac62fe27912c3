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
