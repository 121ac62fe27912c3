"""Index-driven ops: ScatterElements (and the older Scatter), ScatterND, OneHot, Trilu, EyeLike, Hardmax,
ReverseSequence."""
from __future__ import annotations

import numpy as np

from .. import dims as D
from ..cpp import c_text
from . import ALL, FLOAT, NUMERIC, OpDef, fail, norm_axis, register, require_known, softmax_extents

REDUCTIONS = {"none": "None", "add": "Add", "mul": "Mul", "max": "Max", "min": "Min"}


class Scatter(OpDef):
    def check(self, node):
        if node.attr("reduction", "none") not in REDUCTIONS:
            return f"reduction {node.attr('reduction')}"
        if node.inputs[1].dtype.kind not in "iu":
            return f"indices of dtype {node.inputs[1].dtype}"
        if node.inputs[0].rank > 8:
            return "rank above 8"
        return super().check(node)

    def infer(self, node):
        return [(node.inputs[0].dtype, node.inputs[0].shape)]

    def _common(self, node, cg):
        data, idx, updates = node.inputs
        return {"template": "scatter", "op": node.op, "node": c_text(node.name), "data": cg.var(data),
                "indices": cg.var(idx), "updates": cg.var(updates), "out": cg.var(node.outputs[0]),
                "ctype": cg.ctype(data.dtype), "itype": cg.ctype(idx.dtype), "rank": data.rank,
                "data_shape": cg.dims(data.shape) or ["1"], "reduce": REDUCTIONS[node.attr("reduction", "none")]}


@register
class ScatterElements(Scatter):
    types = ("ScatterElements", "Scatter")

    def emit(self, node, cg):
        data, idx = node.inputs[:2]
        return [dict(self._common(node, cg), nd=False, index_shape=cg.dims(idx.shape),
                     axis=norm_axis(node.attr("axis", 0), data.rank))]


@register
class ScatterND(Scatter):
    types = ("ScatterND",)

    def check(self, node):
        if isinstance(node.inputs[1].shape[-1], D.Sym):
            return "dynamic index depth"
        return super().check(node)

    def emit(self, node, cg):
        idx = node.inputs[1]
        return [dict(self._common(node, cg), nd=True, count=cg.dim(D.prod(idx.shape[:-1])), k=int(idx.shape[-1]))]


@register
class OneHot(OpDef):
    types = ("OneHot",)
    dtypes = NUMERIC
    shape_inputs = (1,)

    def _depth(self, node):
        value = node.inputs[1]
        if value.data is not None:  # depth may be stored as a float: its integer part, as ONNX Runtime takes it
            data = value.data.reshape(-1)
            if data.size != 1 or not np.isfinite(data[0]):
                fail(node, f"its depth must be one finite number, got {data.tolist()[:4]}")
            depth = int(data[0])
        else:
            depth = require_known(node, 1, "depth", kind="count")[0]  # integer or float, as ONNX allows
        if not isinstance(depth, D.Sym) and depth < 1:  # (run-time values are checked when read)
            fail(node, f"its depth is {depth}; it must be at least 1")
        return depth

    def infer(self, node):
        idx, values = node.inputs[0], node.inputs[2]
        axis = norm_axis(node.attr("axis", -1), idx.rank + 1)
        return [(values.dtype, idx.shape[:axis] + [self._depth(node)] + idx.shape[axis:])]

    def emit(self, node, cg):
        idx, values = node.inputs[0], node.inputs[2]
        axis = norm_axis(node.attr("axis", -1), idx.rank + 1)
        return [{"template": "onehot", "indices": cg.var(idx), "on_off": cg.var(values), "y": cg.var(node.outputs[0]),
                 "ctype": cg.ctype(values.dtype), "depth": cg.dim(self._depth(node)),
                 "outer": cg.dim(D.prod(idx.shape[:axis])), "inner": cg.dim(D.prod(idx.shape[axis:]))}]


@register
class Trilu(OpDef):
    types = ("Trilu",)

    def check(self, node):
        if node.inputs[0].rank < 2:
            return "rank below 2"
        return super().check(node)

    def infer(self, node):
        return [(node.inputs[0].dtype, node.inputs[0].shape)]

    def emit(self, node, cg):
        x = node.inputs[0]
        k = node.input(1)
        # k only selects elements (no shape depends on it), so a run-time k is read from its tensor
        k_expr = "0" if k is None else f"static_cast<int64_t>({cg.scalar(k)})"
        return [{"template": "trilu", "x": cg.var(x), "y": cg.var(node.outputs[0]), "ctype": cg.ctype(x.dtype),
                 "batch": cg.dim(D.prod(x.shape[:-2])), "rows": cg.dim(x.shape[-2]), "cols": cg.dim(x.shape[-1]),
                 "k": k_expr, "upper": bool(node.attr("upper", 1)), "eye": False}]


@register
class EyeLike(OpDef):
    """Ones on diagonal k of a 2-D tensor shaped like the input (whose values are never read), in the `dtype`
    attribute's type or the input's; Trilu's loop with an equality band."""
    types = ("EyeLike",)

    def _dtype(self, node):
        from onnx import helper
        to = node.attr("dtype")
        return node.inputs[0].dtype if to is None else np.dtype(helper.tensor_dtype_to_np_dtype(to))

    def check(self, node):
        if node.inputs[0].rank != 2:
            return f"rank {node.inputs[0].rank} input (ONNX's EyeLike is 2-D)"
        if self._dtype(node) not in ALL:
            return f"dtype {self._dtype(node)}"
        return None

    def infer(self, node):
        return [(self._dtype(node), node.inputs[0].shape)]

    def emit(self, node, cg):
        out = node.outputs[0]
        return [{"template": "trilu", "x": None, "y": cg.var(out), "ctype": cg.ctype(out.dtype), "batch": "1",
                 "rows": cg.dim(out.shape[0]), "cols": cg.dim(out.shape[1]), "k": str(int(node.attr("k", 0))),
                 "upper": False, "eye": True}]


@register
class Hardmax(OpDef):
    types = ("Hardmax",)
    dtypes = FLOAT

    def infer(self, node):
        return [(node.inputs[0].dtype, node.inputs[0].shape)]

    def emit(self, node, cg):
        x = node.inputs[0]
        outer, n, inner = softmax_extents(node, x)
        return [{"template": "hardmax", "x": cg.var(x), "y": cg.var(node.outputs[0]), "ctype": cg.ctype(x.dtype),
                 "outer": cg.dim(outer), "n": cg.dim(n), "inner": cg.dim(inner)}]




@register
class ReverseSequence(OpDef):
    """Reverses the first sequence_lens[b] steps along time_axis of every batch entry; the lengths are read
    at run time (they select elements, no shape depends on them)."""
    types = ("ReverseSequence",)

    def check(self, node):
        axes = {int(node.attr("batch_axis", 1)), int(node.attr("time_axis", 0))}
        if axes != {0, 1}:
            return f"batch_axis/time_axis {sorted(axes)} (ONNX requires 0 and 1, one each)"
        return super().check(node)

    def infer(self, node):
        return [(node.inputs[0].dtype, node.inputs[0].shape)]

    def emit(self, node, cg):
        x, lens = node.inputs[:2]
        return [{"template": "reverse_sequence", "x": cg.var(x), "y": cg.var(node.outputs[0]), "lens": cg.var(lens),
                 "ctype": cg.ctype(x.dtype), "d0": cg.dim(x.shape[0]), "d1": cg.dim(x.shape[1]),
                 "inner": cg.dim(D.prod(x.shape[2:])), "time_first": int(node.attr("time_axis", 0)) == 0}]


@register
class TensorScatter(OpDef):
    """TensorScatter (a KV cache update): past_cache with, for each batch b, update's rows along `axis` written
    from write_indices[b] on (0 when absent); circular mode wraps them around the axis, linear mode
    requires them inside it (checked when it runs)."""
    types = ("TensorScatter",)

    def _axis(self, node):
        past = node.inputs[0]
        axis = node.attr("axis", -2)
        if not -past.rank <= axis < past.rank or axis % past.rank == 0:
            fail(node, f"axis {axis} is not a sequence axis of its rank-{past.rank} cache (axis 0 is the batch)")
        return axis % past.rank

    def check(self, node):
        if node.attr("mode", "linear") not in ("linear", "circular"):
            return f"mode {node.attr('mode')}"
        idx = node.input(2)
        if idx is not None and idx.dtype.kind != "i":
            return f"write_indices of dtype {idx.dtype}"
        return super().check(node)

    def infer(self, node):
        past, update = node.inputs[:2]
        axis = self._axis(node)
        if update.rank != past.rank or update.dtype != past.dtype:
            fail(node, f"its update ({update.dtype}, rank {update.rank}) does not match its cache ({past.dtype}, "
                       f"rank {past.rank})")
        for k, (a, b) in enumerate(zip(past.shape, update.shape)):
            if k != axis and not D.same(a, b):
                if not isinstance(a, D.Sym) and not isinstance(b, D.Sym):
                    fail(node, f"its update's size on axis {k} is {b}, its cache's {a}")
                node.checks.append((a, b, f"its update and cache agree on axis {k}"))
        if not isinstance(past.shape[axis], D.Sym) and not isinstance(update.shape[axis], D.Sym) \
                and update.shape[axis] > past.shape[axis]:
            fail(node, f"its update has {update.shape[axis]} rows on axis {axis}, more than its cache's "
                       f"{past.shape[axis]}")
        return [(past.dtype, past.shape)]

    def emit(self, node, cg):
        past, update = node.inputs[:2]
        idx = node.input(2)
        axis = self._axis(node)
        return [{"template": "tensor_scatter", "node": c_text(node.name), "past": cg.var(past),
                 "src": cg.var(update), "out": cg.var(node.outputs[0]), "ctype": cg.ctype(past.dtype),
                 "indices": cg.var(idx) if idx is not None else None, "count": cg.dim(past.numel),
                 "batch": cg.dim(past.shape[0]), "per_batch": cg.dim(D.prod(past.shape[1:axis])),
                 "capacity": cg.dim(past.shape[axis]), "rows": cg.dim(update.shape[axis]),
                 "inner": cg.dim(D.prod(past.shape[axis + 1:])), "circular": node.attr("mode", "linear") == "circular"}]
