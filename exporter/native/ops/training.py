"""Optimizer updates of the ai.onnx.preview.training domain: Adagrad, Momentum (standard and Nesterov) and
Adam over any number of tensors (inputs R, T, then the tensors X, G, [V], [H] of each kind in turn), one
elementwise loop per tensor, computed in double."""
from __future__ import annotations

import numpy as np

from .. import dims as D
from ..cpp import literal
from . import OpDef, fail, register

DOMAIN = "ai.onnx.preview.training"
# op -> (the per-tensor inputs after X and G, outputs per tensor)
STATES = {"Adagrad": ("H",), "Momentum": ("V",), "Adam": ("V", "H")}
REAL = {np.dtype(np.float32), np.dtype(np.float64)}


@register
class Optimizer(OpDef):
    types = tuple(f"{DOMAIN}.{op}" for op in STATES)
    dtypes = REAL

    def _count(self, node):
        """The number of optimized tensors."""
        op = node.op.rsplit(".", 1)[1]
        per = 2 + len(STATES[op])
        tensors = len(node.inputs) - 2
        if tensors <= 0 or tensors % per:
            fail(node, f"it has {len(node.inputs)} inputs; {op} takes R, T and {per} tensors per optimized tensor")
        return op, tensors // per

    def check(self, node):
        op, n = self._count(node)
        r, t = node.inputs[:2]
        if r is None or r.dtype not in REAL or t is None or t.dtype.kind != "i":
            return "R other than a float or double scalar, or T other than an integer scalar"
        tensors = node.inputs[2:]
        if any(v is None or v.dtype != tensors[0].dtype for v in tensors) or tensors[0].dtype not in REAL:
            return "tensors of other dtypes than one float or double type"
        if op == "Momentum" and node.attr("mode", "standard") not in ("standard", "nesterov"):
            return f"mode {node.attr('mode')}"
        return None

    def infer(self, node):
        op, n = self._count(node)
        if op == "Momentum":
            missing = [a for a in ("alpha", "beta", "norm_coefficient") if node.attr(a) is None]
            if missing:
                fail(node, f"it has no {', '.join(missing)} attribute (Momentum requires them)")
        xs = node.inputs[2:2 + n]
        per = 2 + len(STATES[op])
        for k in range(per):  # X, G and the states of each tensor share its shape
            for x, v in zip(xs, node.inputs[2 + k * n:2 + (k + 1) * n]):
                if len(x.shape) != len(v.shape) or not all(D.same(a, b) for a, b in zip(x.shape, v.shape)):
                    if not any(isinstance(d, D.Sym) for d in list(x.shape) + list(v.shape)):
                        fail(node, f"'{v.name}' has shape {v.shape}, its tensor '{x.name}' {x.shape}")
        return [(x.dtype, x.shape) for _ in range(1 + len(STATES[op])) for x in xs]

    def emit(self, node, cg):
        op, n = self._count(node)
        ins = node.inputs[2:]
        states = len(STATES[op])
        tensors = []
        for i in range(n):
            x = ins[i]
            outs = node.outputs[i::n]
            tensors.append({"count": cg.dim(x.numel), "x": cg.var(x), "g": cg.var(ins[n + i]),
                            "states": [cg.var(ins[(2 + k) * n + i]) for k in range(states)],
                            "outs": [cg.var(o) if o is not None else None for o in outs]})
        r, t = node.inputs[:2]
        attrs = {name: literal(float(node.attr(name, default)), np.float64) for name, default in
                 (("alpha", 0.9), ("beta", 0.999), ("epsilon", 1e-6), ("norm_coefficient", 0.0),
                  ("norm_coefficient_post", 0.0), ("decay_factor", 0.0))}
        return [{"template": "optimizer", "op": op, "nesterov": node.attr("mode", "standard") == "nesterov",
                 "ctype": cg.ctype(ins[0].dtype), "r": f"double({cg.scalar(r)})", "t": f"int64_t({cg.scalar(t)})",
                 "tensors": tensors, **attrs}]
