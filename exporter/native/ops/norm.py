"""Normalisations over channels of NCHW-style tensors: LRN, InstanceNormalization, GroupNormalization, and
LpNormalization along one axis (kernels in runtime_c/norm.cpp)."""
from __future__ import annotations

from .. import dims as D
from . import FLOAT, OpDef, norm_axis, register


def _ncs(x):
    """[n, c, spatial] view of an N x C x D1 x ... tensor."""
    return x.shape[0], x.shape[1], D.prod(x.shape[2:])


@register
class LRN(OpDef):
    types = ("LRN",)
    dtypes = FLOAT

    def check(self, node):
        if node.inputs[0].rank < 3:
            return f"rank {node.inputs[0].rank} input (N x C x spatial expected)"
        if int(node.attr("size", 0)) < 1:
            return "size < 1"
        return super().check(node)

    def infer(self, node):
        return [(node.inputs[0].dtype, node.inputs[0].shape)]

    def emit(self, node, cg):
        x = node.inputs[0]
        n, c, spatial = _ncs(x)
        return [{"template": "lrn", "x": cg.var(x), "y": cg.var(node.outputs[0]), "ctype": cg.ctype(x.dtype),
                 "n": cg.dim(n), "c": cg.dim(c), "spatial": cg.dim(spatial), "size": int(node.attr("size")),
                 "alpha": repr(float(node.attr("alpha", 1e-4))), "beta": repr(float(node.attr("beta", 0.75))),
                 "bias": repr(float(node.attr("bias", 1.0)))}]


@register
class LpNormalization(OpDef):
    types = ("LpNormalization",)
    dtypes = FLOAT

    def check(self, node):
        if node.attr("p", 2) not in (1, 2):
            return f"p={node.attr('p')} (ONNX allows 1 or 2)"
        return super().check(node)

    def infer(self, node):
        return [(node.inputs[0].dtype, node.inputs[0].shape)]

    def emit(self, node, cg):
        x = node.inputs[0]
        axis = norm_axis(node.attr("axis", -1), x.rank)
        return [{"template": "lp_norm", "x": cg.var(x), "y": cg.var(node.outputs[0]), "ctype": cg.ctype(x.dtype),
                 "outer": cg.dim(D.prod(x.shape[:axis])), "n": cg.dim(x.shape[axis]),
                 "inner": cg.dim(D.prod(x.shape[axis + 1:])), "p": int(node.attr("p", 2))}]


@register
class GroupNorm(OpDef):
    """InstanceNormalization (one group per channel) and GroupNormalization (scale/bias per channel
    from opset 21, per group before)."""
    types = ("InstanceNormalization", "GroupNormalization")
    dtypes = FLOAT

    def _groups(self, node):
        x = node.inputs[0]
        return x.shape[1] if node.op == "InstanceNormalization" else int(node.attr("num_groups"))

    def _per_group(self, node):
        return node.op == "GroupNormalization" and node.opset < 21

    def check(self, node):
        x = node.inputs[0]
        if x.rank < 2:
            return f"rank {x.rank} input"
        if node.op == "GroupNormalization":
            if node.attr("stash_type", 1) != 1:
                return "stash_type other than float32"
            c, groups = x.shape[1], self._groups(node)
            if isinstance(c, D.Sym) or groups < 1 or c % groups:
                return "channels not a fixed multiple of num_groups"
        return super().check(node)

    def infer(self, node):
        return [(node.inputs[0].dtype, node.inputs[0].shape)]

    def emit(self, node, cg):
        x, scale, bias = node.inputs[:3]
        n, c, spatial = _ncs(x)
        return [{"template": "group_norm", "x": cg.var(x), "scale": cg.var(scale), "bias": cg.var(bias),
                 "y": cg.var(node.outputs[0]), "ctype": cg.ctype(x.dtype), "n": cg.dim(n), "c": cg.dim(c),
                 "spatial": cg.dim(spatial), "groups": cg.dim(self._groups(node)),
                 "per_group": self._per_group(node), "eps": repr(float(node.attr("epsilon", 1e-5)))}]
