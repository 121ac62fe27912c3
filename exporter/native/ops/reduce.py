"""Reductions (Reduce*), ArgMax/ArgMin and CumSum/CumProd, as [outer, n, inner] sweeps; reductions over
scattered axes first transpose the reduced axes together into scratch."""
from __future__ import annotations

import numpy as np

from .. import dims as D
from . import NUMERIC, OpDef, fail, norm_axis, read_at_run_time, register, require_known

KINDS = {"ReduceSum": "Sum", "ReduceMean": "Mean", "ReduceMax": "Max", "ReduceMin": "Min", "ReduceProd": "Prod",
         "ReduceSumSquare": "SumSquare", "ReduceL1": "L1", "ReduceL2": "L2", "ReduceLogSumExp": "LogSumExp"}


@register
class Reduce(OpDef):
    types = tuple(KINDS)
    dtypes = NUMERIC
    shape_inputs = (1,)

    def check(self, node):
        # bool: ReduceMax and ReduceMin (any / all; runtime_c/reduce.cpp instantiates them for bool)
        if node.op in ("ReduceMax", "ReduceMin") and node.inputs[0].dtype == np.bool_:
            return None
        # bfloat16 ReduceSum: added in order, each sum rounded, as NumPy sums ml_dtypes' bfloat16 (ops/__init__.py)
        if node.op == "ReduceSum" and node.inputs[0].dtype == np.dtype("bfloat16"):
            return None
        return super().check(node)

    def _axes(self, node):
        """The reduced axes, sorted and normalised (known at export time)."""
        x = node.inputs[0]
        if not self._axes_as_input(node):
            axes = node.attr("axes")
        elif read_at_run_time(node, 1):  # (_runtime_axes takes the others) an empty axes input: nothing to read
            axes = []
        else:
            axes = require_known(node, 1, "axes")
        if not axes:
            return [] if node.attr("noop_with_empty_axes", 0) else list(range(x.rank))
        return sorted(norm_axis(int(a), x.rank) for a in axes)

    @staticmethod
    def _axes_as_input(node):
        return node.opset >= 18 or (node.op == "ReduceSum" and node.opset >= 13)

    def _runtime_axes(self, node):
        """The axes' element variables when they are a graph input read at run time (and not empty)."""
        if not (self._axes_as_input(node) and read_at_run_time(node, 1) and node.input(1).numel):
            return None
        x = node.inputs[0]
        axes = require_known(node, 1, "axes", kind="axis", rank=x.rank)
        # as many distinct axes as elements (checked when read): the output's rank is fixed now
        if len(axes) > x.rank:
            fail(node, f"{len(axes)} axes to reduce for an input of rank {x.rank} (they must be distinct)")
        if x.rank > 8:
            fail(node, f"axes read at run time over an input of rank {x.rank} (at most 8)")
        return axes

    def infer(self, node):
        x = node.inputs[0]
        keep = node.attr("keepdims", 1)
        axes = self._runtime_axes(node)
        if axes is not None:  # each output size depends on which axes the values name
            node.checks.append((D.call("axes_valid", [x.rank, len(axes)] + axes, D.axes_valid), 1,
                                "its axes are valid and distinct"))
            args = [x.rank, int(bool(keep)), len(axes)] + axes + list(x.shape)
            rank = x.rank if keep else x.rank - len(axes)
            return [(x.dtype, [D.call("reduce_dim", [i] + args, D.reduce_dim) for i in range(rank)])]
        axes = self._axes(node)
        shape = [1 if i in axes else d for i, d in enumerate(x.shape) if keep or i not in axes]
        return [(x.dtype, shape)]

    def _contiguous(self, axes):
        return not axes or axes == list(range(axes[0], axes[-1] + 1))

    def scratch(self, node):
        if self._runtime_axes(node) is not None:  # the axes may be scattered: room for a transpose
            return node.inputs[0].numel
        return 0 if self._contiguous(self._axes(node)) else node.inputs[0].numel

    def emit(self, node, cg):
        x, out = node.inputs[0], node.outputs[0]
        runtime = self._runtime_axes(node)
        if runtime is not None:
            return [{"template": "reduce_axes", "kind": KINDS[node.op], "src": cg.var(x), "dst": cg.var(out),
                     "scratch": cg.scratch_var(node), "ctype": cg.ctype(x.dtype), "rank": x.rank,
                     "shape": cg.dims(x.shape) or ["1"], "axes": cg.dims(runtime)}]
        axes = self._axes(node)
        if not axes:
            return [{"template": "copy", "src": cg.var(x), "dst": cg.var(out), "ctype": cg.ctype(x.dtype),
                     "count": cg.dim(x.numel)}]
        steps, src, shape = [], cg.var(x), x.shape
        if not self._contiguous(axes):
            kept = [i for i in range(x.rank) if i not in axes]
            perm = kept + axes
            src = cg.scratch_var(node)
            steps.append({"template": "transpose", "src": cg.var(x), "dst": src, "ctype": cg.ctype(x.dtype),
                          "rank": x.rank, "shape": cg.dims(x.shape), "perm": perm})
            shape = [x.shape[p] for p in perm]
            axes = list(range(len(kept), x.rank))
        steps.append({"template": "reduce", "kind": KINDS[node.op], "src": src, "dst": cg.var(out),
                      "ctype": cg.ctype(x.dtype), "outer": cg.dim(D.prod(shape[:axes[0]])),
                      "n": cg.dim(D.prod(shape[axes[0]:axes[-1] + 1])), "inner": cg.dim(D.prod(shape[axes[-1] + 1:]))})
        return steps


@register
class ArgReduce(OpDef):
    types = ("ArgMax", "ArgMin")
    dtypes = NUMERIC

    def infer(self, node):
        x = node.inputs[0]
        axis = norm_axis(node.attr("axis", 0), x.rank)
        keep = node.attr("keepdims", 1)
        shape = [1 if i == axis else d for i, d in enumerate(x.shape) if keep or i != axis]
        return [(np.dtype(np.int64), shape)]

    def emit(self, node, cg):
        x = node.inputs[0]
        axis = norm_axis(node.attr("axis", 0), x.rank)
        return [{"template": "arg_reduce", "is_max": node.op == "ArgMax", "last": bool(node.attr("select_last_index", 0)),
                 "src": cg.var(x), "dst": cg.var(node.outputs[0]), "ctype": cg.ctype(x.dtype),
                 "outer": cg.dim(D.prod(x.shape[:axis])), "n": cg.dim(x.shape[axis]),
                 "inner": cg.dim(D.prod(x.shape[axis + 1:]))}]


@register
class Cumulative(OpDef):
    """CumSum and CumProd (opset 26): running sums or products along one axis."""
    types = ("CumSum", "CumProd")
    dtypes = NUMERIC
    shape_inputs = (1,)

    def _axis(self, node):
        """The axis: a number, or a variable read at run time (checked then against the input's rank)."""
        axis = require_known(node, 1, "axis", kind="axis", rank=node.inputs[0].rank)
        if len(axis) != 1:
            fail(node, f"its axis input has {len(axis)} elements (one is needed)")
        return axis[0]

    def infer(self, node):
        self._axis(node)  # refused (or registered as read at run time) here, before any code is generated
        return [(node.inputs[0].dtype, node.inputs[0].shape)]

    def emit(self, node, cg):
        x = node.inputs[0]
        step = {"template": "cumulative", "product": node.op == "CumProd", "src": cg.var(x),
                "dst": cg.var(node.outputs[0]), "ctype": cg.ctype(x.dtype), "exclusive": bool(node.attr("exclusive", 0)),
                "reverse": bool(node.attr("reverse", 0))}
        axis = self._axis(node)
        if read_at_run_time(node, 1):  # [outer, n, inner] found when it runs
            return [dict(step, axis=cg.dim(axis), shape=cg.dims(x.shape))]
        axis = norm_axis(int(axis), x.rank)
        return [dict(step, outer=cg.dim(D.prod(x.shape[:axis])), n=cg.dim(x.shape[axis]),
                     inner=cg.dim(D.prod(x.shape[axis + 1:])))]
