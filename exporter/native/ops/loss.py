"""Losses: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (LogSoftmax over the class axis, then the
same gather), with class weights, ignore_index and none/sum/mean reduction."""
from __future__ import annotations

from .. import dims as D
from ..cpp import c_text
from . import FLOAT, OpDef, register


@register
class Loss(OpDef):
    types = ("NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss")
    dtypes = FLOAT

    def check(self, node):
        x, target = node.inputs[:2]
        if x.rank < 2:
            return "input of rank below 2"
        if target.dtype.kind not in "iu":
            return f"target of dtype {target.dtype}"
        if node.attr("reduction", "mean") not in ("none", "sum", "mean"):
            return f"reduction {node.attr('reduction')}"
        return super().check(node)

    def infer(self, node):
        x, target = node.inputs[:2]
        loss = (x.dtype, list(target.shape) if node.attr("reduction", "mean") == "none" else [])
        return [loss, (x.dtype, x.shape)] if node.op == "SoftmaxCrossEntropyLoss" else [loss]

    def _log_prob_in_scratch(self, node):
        return node.op == "SoftmaxCrossEntropyLoss" and (len(node.outputs) < 2 or node.outputs[1] is None)

    def scratch(self, node):
        return node.inputs[0].numel if self._log_prob_in_scratch(node) else 0

    def emit(self, node, cg):
        x, target = node.inputs[:2]
        weight = node.input(2)
        n, c, d = x.shape[0], x.shape[1], D.prod(x.shape[2:])
        steps, source = [], cg.var(x)
        if node.op == "SoftmaxCrossEntropyLoss":
            source = cg.scratch_var(node) if self._log_prob_in_scratch(node) else cg.var(node.outputs[1])
            steps.append({"template": "softmax", "log": True, "src": cg.var(x), "dst": source,
                          "ctype": cg.ctype(x.dtype), "outer": cg.dim(n), "n": cg.dim(c), "inner": cg.dim(d)})
        ignore = node.attr("ignore_index")
        steps.append({"template": "nll_loss", "op": node.op, "node": c_text(node.name), "x": source,
                      "target": cg.var(target), "weight": cg.var(weight) if weight is not None else None,
                      "y": cg.var(node.outputs[0]), "ctype": cg.ctype(x.dtype), "n": cg.dim(n), "c": cg.dim(c),
                      "d": cg.dim(d), "ignore": None if ignore is None else f"INT64_C({int(ignore)})",
                      "reduction": node.attr("reduction", "mean")})
        return steps
