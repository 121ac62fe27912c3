"""Image rearrangements and resampling: DepthToSpace, SpaceToDepth (one 6-D transpose each)."""
from __future__ import annotations

from .. import dims as D
from ..ir import fail
from . import OpDef, register


class BlockShuffle(OpDef):
    """Moves b x b blocks between channels and space; the data movement is one transpose of a 6-D view."""

    def _block(self, node):
        b = int(node.attr("blocksize", 0))
        if b < 1:
            fail(node, "blocksize must be at least 1")
        return b

    def check(self, node):
        if node.inputs[0].rank != 4:
            return f"rank {node.inputs[0].rank} input (N x C x H x W expected)"
        return super().check(node)

    def emit(self, node, cg):
        x = node.inputs[0]
        view, perm = self._view(node)
        return [{"template": "transpose", "src": cg.var(x), "dst": cg.var(node.outputs[0]), "ctype": cg.ctype(x.dtype),
                 "rank": 6, "shape": cg.dims(view), "perm": perm}]


@register
class DepthToSpace(BlockShuffle):
    types = ("DepthToSpace",)

    def check(self, node):
        c = node.inputs[0].shape[1] if node.inputs[0].rank == 4 else 1
        b = int(node.attr("blocksize", 0))
        if b >= 1 and not isinstance(c, D.Sym) and c % (b * b):
            return "channels not a multiple of blocksize^2"
        return super().check(node)

    def infer(self, node):
        n, c, h, w = node.inputs[0].shape
        b = self._block(node)
        return [(node.inputs[0].dtype, [n, D.floordiv(c, b * b), D.mul(h, b), D.mul(w, b)])]

    def _view(self, node):
        n, c, h, w = node.inputs[0].shape
        b = self._block(node)
        if node.attr("mode", "DCR") == "CRD":
            return [n, D.floordiv(c, b * b), b, b, h, w], [0, 1, 4, 2, 5, 3]
        return [n, b, b, D.floordiv(c, b * b), h, w], [0, 3, 4, 1, 5, 2]


@register
class SpaceToDepth(BlockShuffle):
    types = ("SpaceToDepth",)

    def check(self, node):
        x = node.inputs[0]
        b = int(node.attr("blocksize", 0))
        if x.rank == 4 and b >= 1 and any(not isinstance(d, D.Sym) and d % b for d in x.shape[2:]):
            return "spatial size not a multiple of blocksize"
        return super().check(node)

    def infer(self, node):
        n, c, h, w = node.inputs[0].shape
        b = self._block(node)
        return [(node.inputs[0].dtype, [n, D.mul(c, b * b), D.floordiv(h, b), D.floordiv(w, b)])]

    def _view(self, node):
        n, c, h, w = node.inputs[0].shape
        b = self._block(node)
        perm = [0, 1, 3, 5, 2, 4] if node.attr("mode", "DCR") == "CRD" else [0, 3, 5, 1, 2, 4]  # mode: opset 24
        return [n, c, D.floordiv(h, b), b, D.floordiv(w, b), b], perm
