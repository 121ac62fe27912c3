"""Operator definitions for the native backend: one class per ONNX op family, each with its shape rule
(`infer`), optional shape-arithmetic rule (`value`) and code emission (`emit`, data for a template in
templates/ops/). Adding an op: a class here plus, for a new family, one template."""
from __future__ import annotations

import numpy as np

from ... import dtypes
from ...errors import ExporterError, UnsupportedError
from .. import dims as D

OPS: dict = {}

FLOAT = set(dtypes.FLOATS & dtypes.KERNEL)
NUMERIC = set(dtypes.KERNEL)     # types the compiled runtime kernels are built for (EXPORTER_ALL_NUMERIC)
ALL = set(dtypes.NATIVE)
# Narrow and unsigned integers: computed by generated loops (elementwise) and byte-moving kernels only.
SMALL_INTS = {d for d in ALL - NUMERIC if d.kind in "iu"}
# float16 in generated loops: each op computes in float32 and rounds its result once (dtypes.DType.compute)
WIDENED = set(dtypes.WIDENED)
ARITH = NUMERIC | SMALL_INTS | WIDENED   # types generated arithmetic loops handle
LOOP_FLOAT = FLOAT | WIDENED             # floating types of generated loops (maths functions, activations)
# Kernel ops whose every output has input 0's float type: for float16 the graph builder runs them in float32
# between Casts (a float32 copy of each float16 input, one rounding of each output), as ONNX Runtime's float16
# kernels accumulate in float32. Costs a copy each way; no float16 kernels to maintain.
WIDENED_KERNELS = {"MatMul", "Gemm", "Einsum", "Softmax", "LogSoftmax", "ReduceMax", "ReduceMin", "ReduceSum",
                   "ReduceMean", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp",
                   "ReduceSumSquare", "CumSum", "Conv", "GlobalAveragePool", "GlobalMaxPool", "Hardmax"}
# bfloat16: ONNX's reference computes with ml_dtypes arrays, whose sums (np.sum, and so every reduction,
# Gemm's alpha/beta steps, pooling...) add in bfloat16, rounding after each addition, where a float32 kernel
# rounds once. Only these widen to float32 for bfloat16: MatMul and Einsum (np.matmul/np.dot sum in float32
# and round once), max/min selections (exact), and (Log)Softmax from opset 13 (built from steps, its sum a
# ReduceSum); ReduceSum itself runs natively on bfloat16, adding in order and rounding each sum
# (runtime_c/reduce.cpp). The other kernels refuse bfloat16.
BF16_WIDENED_KERNELS = {"MatMul", "Einsum", "Softmax", "LogSoftmax", "ReduceMax", "ReduceMin", "GlobalMaxPool",
                        "Hardmax"}


def register(cls):
    """Class decorator: instantiate the op definition and register it for each of its `types`."""
    instance = cls()
    for t in cls.types:
        OPS[t] = instance
    return cls


class OpDef:
    types: tuple = ()
    kind = "kernel"  # "elementwise": fused loops; "alias": a view of its input; "kernel": its own step
    dtypes = ALL     # accepted dtypes of input 0
    shape_inputs: tuple = ()  # inputs read at export time (shapes, axes, pads), never at run time

    def check(self, node):
        """None when the node is supported, else a short reason."""
        x = node.input(0)
        if x is not None and x.dtype not in self.dtypes:
            return f"dtype {x.dtype}"
        return None

    def infer(self, node):
        raise NotImplementedError

    def value(self, node):
        return None

    def constant(self, node):
        """The outputs as arrays when they are fixed at export time (the node then becomes weights)."""
        return None

    def scratch(self, node):
        """Scratch elements (of the output dtype) this node needs while it runs."""
        return 0

    def emit(self, node, cg):
        raise NotImplementedError


def broadcast_shapes(*shapes):
    """NumPy broadcasting over Dims (a symbolic dim against 1 wins; two symbols are assumed equal)."""
    rank = max((len(s) for s in shapes), default=0)
    out = []
    for axis in range(rank):
        dim = 1
        for s in shapes:
            d = s[axis - rank + len(s)] if axis - rank + len(s) >= 0 else 1
            if isinstance(d, D.Sym):
                dim = d if (not isinstance(dim, D.Sym) and dim == 1) or isinstance(dim, D.Sym) else dim
            elif d != 1:
                dim = d
        out.append(dim)
    return out


from ...axes import norm_axis  # noqa: E402,F401 (op rules use it from here)


def softmax_extents(node, x):
    """(outer, n, inner) of Softmax-like ops (Softmax, LogSoftmax, Hardmax) over `axis`: before opset 13
    they flatten the input to 2-D at `axis` (default 1), from 13 on they reduce the one axis (default -1)."""
    if node.opset < 13:
        axis = norm_axis(node.attr("axis", 1), x.rank)
        return D.prod(x.shape[:axis]), D.prod(x.shape[axis:]), 1
    axis = norm_axis(node.attr("axis", -1), x.rank)
    return D.prod(x.shape[:axis]), x.shape[axis], D.prod(x.shape[axis + 1:])


def require_known(node, index: int, what: str, kind: str | None = None, rank: int | None = None):
    """Contents of input `index` (a shape, axes, pads...): known at generation time, or, when the op can
    take it at run time (`kind`, see runtime_values.KINDS; `rank` for axes) and it is a graph input,
    variables read from that input's data before planning, or a value computed from such inputs,
    expressions of those variables (evaluated and checked before planning)."""
    value = node.input(index)
    if value is None:
        return None
    from ..runtime_values import computed, readable, use, use_computed
    if value.runtime is not None and readable(value, kind):
        return use(node, value, what, kind, rank)
    if computed(value):  # computed in the graph from values read at run time: expressions of them
        known = use_computed(node, value, what, kind, rank)
    else:
        known = None if value.runtime is not None else value.known_ints()
    if known is None:
        raise UnsupportedError(f"{node.describe()}: its {what} (input '{value.name}') is computed from data at run "
                               "time; the native backend needs it fixed when the model is exported")
    return known


def read_at_run_time(node, index: int) -> bool:
    """True when input `index` is a shape-defining graph input read at run time (require_known gives its
    element variables)."""
    from ..runtime_values import computed
    value = node.input(index)
    # (a float input is read only as a kind that takes floats, which require_known checks)
    return value is not None and (value.runtime is not None or computed(value))


def fail(node, why: str):
    raise ExporterError(f"{node.describe()}: {why}")


from . import (control, deconv, elementwise, image, indexing, linalg, loss, ml, nn, norm, quant,  # noqa: E402,F401
               reduce, select, shape, signal, sort, training)  # (registration)
