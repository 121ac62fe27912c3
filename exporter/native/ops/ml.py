"""ai.onnx.ml ops: Binarizer (an elementwise op of the fused loops) and ArrayFeatureExtractor (a Gather of
the last axis with the indices flattened)."""
from __future__ import annotations

from .. import dims as D
from ..cpp import c_text
from . import NUMERIC, OpDef, fail, register
from .elementwise import Elementwise

DOMAIN = "ai.onnx.ml"


@register
class Binarizer(Elementwise):
    """1 where x > threshold, else 0 (in x's type; the threshold compared as a double)."""
    types = (f"{DOMAIN}.Binarizer",)
    dtypes = NUMERIC

    def expr(self, node, args, cg):
        t = cg.ctype(node.outputs[0].dtype)
        return f"(double({args[0]}) > {float(node.attr('threshold', 0.0))!r} ? {t}(1) : {t}(0))"


@register
class ArrayFeatureExtractor(OpDef):
    """data[..., indices] with the indices flattened: [..., K] ([1, K] for a 1-D input), as ONNX Runtime."""
    types = (f"{DOMAIN}.ArrayFeatureExtractor",)
    dtypes = NUMERIC

    def check(self, node):
        if node.inputs[1].dtype.kind != "i":
            return f"indices of dtype {node.inputs[1].dtype}"
        return super().check(node)

    def infer(self, node):
        x, idx = node.inputs
        if x.rank == 0:
            fail(node, "its input is a scalar (at least one axis is needed)")
        lead = [1] if x.rank == 1 else list(x.shape[:-1])
        return [(x.dtype, lead + [idx.numel])]

    def emit(self, node, cg):
        x, idx = node.inputs
        return [{"template": "gather", "src": cg.var(x), "dst": cg.var(node.outputs[0]), "ctype": cg.ctype(x.dtype),
                 "indices": cg.var(idx), "itype": cg.ctype(idx.dtype), "outer": cg.dim(D.prod(x.shape[:-1])),
                 "n": cg.dim(x.shape[-1]), "inner": "1", "count": cg.dim(idx.numel), "node": c_text(node.name),
                 "op": "ArrayFeatureExtractor"}]
