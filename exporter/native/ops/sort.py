"""TopK: the k largest (or smallest) elements along an axis and their indices, as [outer, n, inner] lines
(runtime_c/sort.cpp). NumPy's sort/argsort trace to a TopK with k = n."""
from __future__ import annotations

import zlib

import numpy as np

from .. import dims as D
from . import NUMERIC, SMALL_INTS, OpDef, fail, norm_axis, read_at_run_time, register, require_known


class _Sizes(dict):
    """An env giving every dim a different size, derived from its name and a seed."""

    def __init__(self, seed):
        super().__init__()
        self.seed = seed

    def __missing__(self, key):
        return 2 + zlib.crc32(f"{self.seed}:{key}".encode()) % 1009


def _equal(a, b) -> bool:
    """Two dims written differently (n*5 from a Mul, 5*n from a Reshape) that agree at several sizes."""
    if D.same(a, b):
        return True
    try:
        return all(D.evaluate(a, _Sizes(seed)) == D.evaluate(b, _Sizes(seed)) for seed in range(5))
    except Exception:  # noqa: BLE001 (an expression that cannot be evaluated this way: not provably equal)
        return False


@register
class TopK(OpDef):
    types = ("TopK",)
    dtypes = NUMERIC | SMALL_INTS  # (runtime_c/sort.cpp instantiates topk for each)
    shape_inputs = (1,)

    def _params(self, node):
        x = node.inputs[0]
        axis = norm_axis(node.attr("axis", -1), x.rank)
        k = require_known(node, 1, "k", kind="size")[0] if node.opset >= 10 else node.attr("k")
        n = x.shape[axis]
        if read_at_run_time(node, 1):  # k read at run time: more than the axis has gives no valid size
            return axis, D.call("at_most", [k, n], D.at_most)
        if isinstance(k, D.Sym) and not _equal(k, n):
            fail(node, "a k computed from dynamic sizes (other than the axis length) is not supported")
        if not isinstance(k, D.Sym) and (k < 0 or (not isinstance(n, D.Sym) and k > n)):
            fail(node, f"k = {k} is outside 0..{n} (the length of axis {axis})")
        return axis, k

    def infer(self, node):
        x = node.inputs[0]
        axis, k = self._params(node)
        shape = x.shape[:axis] + [k] + x.shape[axis + 1:]
        return [(x.dtype, shape), (np.dtype(np.int64), shape)]

    def scratch(self, node):
        # one int64 index per element of a line, counted in elements of the input dtype (>= 4 bytes)
        x = node.inputs[0]
        axis, _ = self._params(node)
        return D.mul(x.shape[axis], -(-8 // x.dtype.itemsize))

    def emit(self, node, cg):
        x = node.inputs[0]
        axis, k = self._params(node)
        k = next(o for o in node.outputs if o is not None).shape[axis]  # a run-time k: as checked when read
        values, indices = (node.outputs + [None, None])[:2]
        return [{"template": "topk", "src": cg.var(x), "ctype": cg.ctype(x.dtype),
                 "out_values": cg.var(values) if values is not None else "nullptr",  # (not "values":
                 "out_indices": cg.var(indices) if indices is not None else "nullptr",  # a dict method in Jinja)
                 "outer": cg.dim(D.prod(x.shape[:axis])), "n": cg.dim(x.shape[axis]),
                 "inner": cg.dim(D.prod(x.shape[axis + 1:])), "k": cg.dim(k),
                 "largest": bool(node.attr("largest", 1)), "scratch": cg.scratch_var(node)}]
