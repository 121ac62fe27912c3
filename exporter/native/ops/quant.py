"""Linear quantisation, as ONNX Runtime's quantiser writes it: QuantizeLinear / DequantizeLinear (QDQ
models; per tensor, per axis, blocked), DynamicQuantizeLinear with MatMulInteger / ConvInteger (dynamic
quantisation) and QLinearMatMul / QLinearConv (QOperator models). Kernels in runtime_c/quant.cpp: integer
products sum exactly in int32, and every rounding is ONNX's (half to even, then saturation).

The quantised element types are int8/uint8 (and for QuantizeLinear/DequantizeLinear int16/uint16, int4/uint4,
int2/uint2, the four float8 types and float4_e2m1fn; int32 for DequantizeLinear); scales are float32
(DequantizeLinear also takes float16 scales, its output then float16). float8e8m0 is refused by name.
"""
from __future__ import annotations

import numpy as np
from onnx import TensorProto

from ... import dtypes
from .. import dims as D
from . import OpDef, broadcast_shapes, norm_axis, register
from .linalg import _broadcast_strides
from .nn import Windowed, _as_2d, _out_size, _spatial

I8 = {np.dtype(np.int8), np.dtype(np.uint8)}
Q16 = I8 | {np.dtype(np.int16), np.dtype(np.uint16)}
F32 = np.dtype(np.float32)
F16 = np.dtype(np.float16)
# the storage types QuantizeLinear writes and DequantizeLinear reads besides Q16 (runtime_c/quant.cpp)
QSMALL = {dtypes.by_name(n).np for n in ("int4", "uint4", "int2", "uint2", "float4_e2m1fn", "float8_e4m3fn",
                                         "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz")}
QTYPES = Q16 | QSMALL
QINTS = {t for t in QSMALL if dtypes.by_name(t).kind in ("int", "uint")}
_ONNX_QTYPES = {dtypes.by_name(t).onnx: t for t in QTYPES}


QPANEL = 32  # kQPanel in runtime_c/quant.h (tests/native/test_packing.py checks that they agree)


def pack_int_panels(b: np.ndarray, zp: np.ndarray | None) -> np.ndarray:
    """A constant [K, N] int8/uint8 matrix in the integer GEMM's B layout (qpack_b in runtime_c/quant.cpp):
    b - zp (one zero point or one per column) as int16, in panels of QPANEL columns, each
    [ceil(K/2)][QPANEL][2] (pairs of rows side by side), zero-padded."""
    k, n = b.shape
    z = np.zeros(n, np.int16) if zp is None else np.broadcast_to(zp.reshape(-1).astype(np.int16), (n,))
    k2, panels = -(-k // 2), -(-n // QPANEL)
    padded = np.zeros((2 * k2, panels * QPANEL), np.int16)
    padded[:k, :n] = b.astype(np.int16) - z
    return np.ascontiguousarray(padded.reshape(k2, 2, panels, QPANEL).transpose(2, 0, 3, 1)).reshape(-1)


def _packed_bytes(k, n):
    """Bytes of a packed [k, n] B (qpacked_size int16 elements): scratch is counted in 8-bit elements."""
    return D.mul(4 * QPANEL, D.mul(D.floordiv(D.add(n, QPANEL - 1), QPANEL), D.floordiv(D.add(k, 1), 2)))


def _one(v) -> bool:
    return v is None or (D.is_static(v.shape) and int(np.prod([int(d) for d in v.shape])) == 1)


def _quant_axis(node, x, scale):
    """How the scale of each element of x is found: ("tensor" | "axis" | "blocked", axis, block), or a reason."""
    block = int(node.attr("block_size", 0) or 0)
    if block < 0:
        return "a negative block_size"
    if _one(scale) and not block:
        return ("tensor", 0, 1)
    axis = norm_axis(int(node.attr("axis", 1)), x.rank) if x.rank else 0
    if not block:
        if scale.rank == 1 and D.same(scale.shape[0], x.shape[axis]):
            return ("axis", axis, 1)
        return f"a scale of shape {scale.shape} for input of shape {x.shape} (per tensor or along axis {axis} expected)"
    n = x.shape[axis]
    if isinstance(n, D.Sym):
        return "blocked quantisation along a dynamic axis"
    want = list(x.shape)
    want[axis] = -(-int(n) // block)
    if scale.rank != x.rank or not all(D.same(a, b) for a, b in zip(scale.shape, want)):
        return f"a blocked scale of shape {scale.shape} (expected {want} for block_size {block})"
    return ("blocked", axis, block)


def _zero_point_problem(zp, scale):
    if zp is not None and not (zp.rank == scale.rank and all(D.same(a, b) for a, b in zip(zp.shape, scale.shape))
                               or _one(zp) and _one(scale)):
        return f"a zero point of shape {zp.shape} for a scale of shape {scale.shape}"
    return None


def _axis_data(node, x, scale, cg):
    """The runtime's QuantAxis {outer, n, inner, block, so, sn, si} for x and its scale."""
    mode, axis, block = _quant_axis(node, x, scale)
    if mode == "tensor":
        return ["1", "1", cg.dim(x.numel if x.rank else 1), "1", "0", "0", "0"]
    outer, n, inner = D.prod(x.shape[:axis]), x.shape[axis], D.prod(x.shape[axis + 1:])
    if mode == "axis":
        return [cg.dim(outer), cg.dim(n), cg.dim(inner), "1", "0", "1", "0"]
    blocks = scale.shape[axis]
    return [cg.dim(outer), cg.dim(n), cg.dim(inner), str(block), cg.dim(D.mul(blocks, inner)), cg.dim(inner), "1"]


def _scale_problem(node, *scales, allowed=(F32,)):
    for s in scales:
        if s is not None and s.dtype not in allowed:
            return f"{s.dtype} scales (float32 only: the native backend has no {s.dtype} arithmetic)"
    return None


def _unsupported_element(elem_type) -> str:
    """The reason for a quantised type the backend has no element type for (an ONNX enum or a NumPy dtype)."""
    name = TensorProto.DataType.Name(elem_type).lower() if isinstance(elem_type, int) else str(elem_type)
    return (f"quantised type {name} (the native backend quantises to int8, uint8, int16, uint16, int4, uint4, int2, "
            "uint2, float4_e2m1fn and the float8 types, and dequantises those and int32)")


@register
class QuantizeLinear(OpDef):
    types = ("QuantizeLinear",)

    def _out_dtype(self, node):
        zp = node.input(2)
        if zp is not None:
            return zp.dtype
        attr = int(node.attr("output_dtype", 0) or 0)  # opset 21: the type when there is no zero point
        return _ONNX_QTYPES[attr] if attr in _ONNX_QTYPES else (np.dtype(np.uint8) if not attr else None)

    def check(self, node):
        x, scale, zp = node.inputs[0], node.inputs[1], node.input(2)
        attr = int(node.attr("output_dtype", 0) or 0)
        if zp is None and attr and attr not in _ONNX_QTYPES:
            return _unsupported_element(attr)
        if self._out_dtype(node) not in QTYPES:
            return _unsupported_element(zp.dtype)
        if x.dtype != F32:
            return f"input dtype {x.dtype} (float32 only)"
        precision = int(node.attr("precision", 0) or 0)
        if precision not in (0, TensorProto.FLOAT):
            return f"precision {TensorProto.DataType.Name(precision).lower()} (float32 only)"
        problem = _scale_problem(node, scale) or _zero_point_problem(zp, scale)
        mode = _quant_axis(node, x, scale)
        return problem or (mode if isinstance(mode, str) else None)

    def infer(self, node):
        return [(self._out_dtype(node), node.inputs[0].shape)]

    def emit(self, node, cg):
        x, scale, zp = node.inputs[0], node.inputs[1], node.input(2)
        out = node.outputs[0]
        return [{"template": "quantize", "quantize": True, "qtype": cg.ctype(out.dtype), "x": cg.var(x),
                 "scale": cg.var(scale), "zp": cg.var(zp) if zp is not None else "nullptr", "y": cg.var(out),
                 "axis": _axis_data(node, x, scale, cg), "saturate": bool(node.attr("saturate", 1))}]


@register
class DequantizeLinear(OpDef):
    types = ("DequantizeLinear",)

    def check(self, node):
        x, scale, zp = node.inputs[0], node.inputs[1], node.input(2)
        if x.dtype not in QTYPES | {np.dtype(np.int32)}:
            return _unsupported_element(x.dtype)
        attr = int(node.attr("output_dtype", 0) or 0)
        if attr not in (0, dtypes.by_name(scale.dtype).onnx if scale.dtype in (F32, F16) else TensorProto.FLOAT):
            return f"output_dtype {TensorProto.DataType.Name(attr).lower()} (the scale's type only)"
        problem = _scale_problem(node, scale, allowed=(F32, F16)) or _zero_point_problem(zp, scale)
        mode = _quant_axis(node, x, scale)
        return problem or (mode if isinstance(mode, str) else None)

    def infer(self, node):
        return [(node.inputs[1].dtype, node.inputs[0].shape)]

    def constant(self, node):
        """Constant quantised weights (QDQ models) are dequantised at export time, so the float op after them
        gets constant weights (packed ahead of time, like any other)."""
        x, scale, zp = node.inputs[0], node.inputs[1], node.input(2)
        if x.data is None or scale.data is None or (zp is not None and zp.data is None):
            return None
        mode, axis, block = _quant_axis(node, x, scale)

        def spread(v):  # scale or zero point broadcast over x, as the kernel reads them
            if mode == "tensor":
                return v.reshape(-1)[0]
            if mode == "axis":
                return v.reshape([-1 if d == axis else 1 for d in range(x.rank)])
            return np.take(np.repeat(v, block, axis), range(x.shape[axis]), axis)

        # (ONNX's reference ignores a float zero point: 0 for float8, unused for float4)
        z = spread(zp.data).astype(np.float32) if zp is not None and x.dtype not in QSMALL - QINTS else np.float32(0)
        y = (x.data.astype(np.float32) - z) * spread(scale.data).astype(np.float32)
        return [y.astype(scale.dtype)]

    def emit(self, node, cg):
        x, scale, zp = node.inputs[0], node.inputs[1], node.input(2)
        return [{"template": "quantize", "quantize": False, "qtype": cg.ctype(x.dtype), "x": cg.var(x),
                 "scale": cg.var(scale), "zp": cg.var(zp) if zp is not None else "nullptr",
                 "y": cg.var(node.outputs[0]), "axis": _axis_data(node, x, scale, cg)}]


@register
class DynamicQuantizeLinear(OpDef):
    types = ("DynamicQuantizeLinear",)
    dtypes = {F32}

    def infer(self, node):
        return [(np.dtype(np.uint8), node.inputs[0].shape), (F32, []), (np.dtype(np.uint8), [])]

    def emit(self, node, cg):
        x = node.inputs[0]
        outs = [cg.var(o) if o is not None else None for o in node.outputs]
        return [{"template": "dynamic_quantize", "x": cg.var(x), "count": cg.dim(x.numel), "y": outs[0],
                 "scale": outs[1], "zp": outs[2]}]


def _per_row(zp, rows, batch_rank) -> bool:
    """A zero point or scale that is one value, or one per row (shape [rows] or [..., rows, 1] with a batch of 1s)."""
    if _one(zp):
        return True
    if zp.rank == 1:
        return batch_rank == 0 and D.same(zp.shape[0], rows)
    return D.same(zp.shape[-2], rows) and D.same(zp.shape[-1], 1) and all(D.same(d, 1) for d in zp.shape[:-2])


def _per_column(zp, cols) -> bool:
    if _one(zp):
        return True
    return D.same(zp.shape[-1], cols) and all(D.same(d, 1) for d in zp.shape[:-1])


@register
class IntegerMatMul(OpDef):
    """MatMulInteger (int32 out) and QLinearMatMul (requantised to y_zero_point's type), NumPy-batched."""
    types = ("MatMulInteger", "QLinearMatMul")

    def _operands(self, node):
        """(a, a_zp, b, b_zp, a_scale, b_scale, y_scale, y_zp)."""
        i = node.input
        if node.op == "MatMulInteger":
            return i(0), i(2), i(1), i(3), None, None, None, None
        return i(0), i(2), i(3), i(5), i(1), i(4), i(6), i(7)

    def check(self, node):
        a, a_zp, b, b_zp, a_scale, b_scale, y_scale, y_zp = self._operands(node)
        if a.dtype not in I8 or b.dtype not in I8:
            return f"operands {a.dtype} x {b.dtype} (int8 and uint8 only)"
        if a.rank < 2 or b.rank < 2:
            return "1-D operands"
        if not D.same(a.shape[-1], b.shape[-2]):
            return f"inner dimensions {a.shape[-1]} and {b.shape[-2]} that are not known to agree"
        m, n = a.shape[-2], b.shape[-1]
        for v, ok in ((a_zp, _per_row(a_zp, m, a.rank - 2)), (a_scale, a_scale is None or _per_row(a_scale, m, a.rank - 2)),
                      (b_zp, _per_column(b_zp, n)), (b_scale, b_scale is None or _per_column(b_scale, n))):
            if not ok:
                return f"'{v.name}' of shape {v.shape} (one value, per row of A or per column of B)"
        for v in (a_zp, b_zp):
            if v is not None and v.dtype != (a if v is a_zp else b).dtype:
                return f"zero point '{v.name}' of type {v.dtype} for {(a if v is a_zp else b).dtype} data"
        if node.op == "QLinearMatMul":
            if y_zp is None or y_zp.dtype not in I8 or not _one(y_zp) or not _one(y_scale):
                return "an output scale and zero point that are not one int8/uint8 value"
            if len({a_scale.dtype, b_scale.dtype, y_scale.dtype}) > 1:
                return f"scales of mixed types ({a_scale.dtype}, {b_scale.dtype}, {y_scale.dtype})"
            return _scale_problem(node, a_scale, b_scale, y_scale, allowed=(F32, F16))
        return None

    def infer(self, node):
        a, _, b, _, _, _, _, y_zp = self._operands(node)
        out = broadcast_shapes(a.shape[:-2], b.shape[:-2]) + [a.shape[-2], b.shape[-1]]
        return [(np.dtype(np.int32) if node.op == "MatMulInteger" else y_zp.dtype, out)]

    def _packed_at_export(self, node):
        """B is one constant matrix (weights): packed now; otherwise the step packs it into scratch."""
        _, _, b, b_zp, *_ = self._operands(node)
        return b.data is not None and D.prod(b.shape[:-2]) == 1 and (b_zp is None or b_zp.data is not None)

    def scratch(self, node):
        _, _, b, *_ = self._operands(node)
        return 0 if self._packed_at_export(node) else _packed_bytes(b.shape[-2], b.shape[-1])

    def emit(self, node, cg):
        a, a_zp, b, b_zp, a_scale, b_scale, y_scale, y_zp = self._operands(node)
        out = node.outputs[0]
        m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
        batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
        packed = self._packed_at_export(node)
        b_var = cg.constant(pack_int_panels(b.data.reshape(b.shape[-2:]), None if b_zp is None else b_zp.data),
                            f"{b.name}_packed") if packed else cg.var(b)
        step = {"template": "qgemm", "ta": cg.ctype(a.dtype), "tb": cg.ctype(b.dtype), "tc": cg.ctype(out.dtype),
                "a": cg.var(a), "b": b_var, "packed": packed, "c": cg.var(out), "k": cg.dim(k), "n": cg.dim(n),
                "a_zp": cg.var(a_zp) if a_zp is not None else "nullptr", "a_zp_rs": "0" if _one(a_zp) else "1",
                "b_zp": cg.var(b_zp) if b_zp is not None else "nullptr", "b_zp_cs": "0" if _one(b_zp) else "1",
                "scratch": None if packed else cg.scratch_var(node), "requant": None}
        if node.op == "QLinearMatMul":
            step["requant"] = {"a_scale": cg.var(a_scale), "a_scale_rs": "0" if _one(a_scale) else "1",
                               "b_scale": cg.var(b_scale), "b_scale_cs": "0" if _one(b_scale) else "1",
                               "y_scale": cg.scalar(y_scale), "y_zp": f"int32_t({cg.scalar(y_zp)})", "bias": None,
                               "half": a_scale.dtype == F16}
        per_row = not (_one(a_zp) and (a_scale is None or _one(a_scale)))
        if D.prod(b.shape[:-2]) == 1 and not (per_row and a.rank > 2):
            # B is one matrix: A's batch dims fold into M, one product
            return [dict(step, m=cg.dim(D.mul(D.prod(a.shape[:-2]), m)), batch=None)]
        rank = len(batch)
        pa = [1] * (rank - (a.rank - 2)) + a.shape[:-2]
        pb = [1] * (rank - (b.rank - 2)) + b.shape[:-2]
        return [dict(step, m=cg.dim(m), batch={
            "dims": cg.dims(batch), "count": cg.dim(D.prod(batch)),
            "a_strides": cg.dims(_broadcast_strides(pa, D.mul(m, k))),
            "b_strides": cg.dims(_broadcast_strides(pb, D.mul(k, n)))})]


@register
class IntegerConv(Windowed):
    """ConvInteger (int32 out) and QLinearConv (requantised, optional int32 bias); 1-D and 2-D."""
    types = ("ConvInteger", "QLinearConv")

    def _operands(self, node):
        """(x, x_zp, w, w_zp, x_scale, w_scale, y_scale, y_zp, bias)."""
        i = node.input
        if node.op == "ConvInteger":
            return i(0), i(2), i(1), i(3), None, None, None, None, None
        return i(0), i(2), i(3), i(5), i(1), i(4), i(6), i(7), i(8)

    def _kernel(self, node, w):
        return node.attr("kernel_shape") or [int(d) for d in w.shape[2:]]

    def check(self, node):
        x, x_zp, w, w_zp, x_scale, w_scale, y_scale, y_zp, bias = self._operands(node)
        if x.rank not in (3, 4):
            return f"{x.rank - 2}-D windows (1-D and 2-D are supported)"
        if x.dtype not in I8 or w.dtype not in I8:
            return f"operands {x.dtype} x {w.dtype} (int8 and uint8 only)"
        if not D.is_static(x.shape[1:]) or not D.is_static(w.shape):
            return "dynamic channel or spatial sizes"
        m = w.shape[0]
        if not _one(x_zp) or not _one(x_scale):
            return "an input zero point or scale with more than one value"
        for v in (w_zp, w_scale):
            if v is not None and not (_one(v) or (v.rank == 1 and D.same(v.shape[0], m))):
                return f"'{v.name}' of shape {v.shape} (one value or one per output channel)"
        if bias is not None and (bias.dtype != np.int32 or bias.rank != 1 or not D.same(bias.shape[0], m)):
            return f"bias '{bias.name}' ({bias.dtype} {bias.shape}; int32 [{m}] expected)"
        if node.op == "QLinearConv":
            if y_zp is None or y_zp.dtype not in I8 or not _one(y_zp) or not _one(y_scale):
                return "an output scale and zero point that are not one int8/uint8 value"
            return _scale_problem(node, x_scale, w_scale, y_scale)
        return None

    def infer(self, node):
        x, _, w, _, _, _, _, y_zp, _ = self._operands(node)
        spatial = _spatial(node, x, self._kernel(node, w))
        dtype = np.dtype(np.int32) if node.op == "ConvInteger" else y_zp.dtype
        return [(dtype, [x.shape[0], w.shape[0]] + [_out_size(*s) for s in spatial])]

    def _shape(self, node):
        x, _, w, _, _, _, _, _, _ = self._operands(node)
        out = node.outputs[0]
        (h, kh, sh, dh, pt, _), (wd, kw, sw, dw, pl, _) = _as_2d(_spatial(node, x, self._kernel(node, w)))
        oh, ow = ([1] + out.shape[2:]) if x.rank == 3 else out.shape[2:]
        return {"n": x.shape[0], "c": x.shape[1], "h": h, "w": wd, "m": w.shape[0], "kh": kh, "kw": kw, "oh": oh,
                "ow": ow, "sh": sh, "sw": sw, "dh": dh, "dw": dw, "pt": pt, "pl": pl, "groups": node.attr("group", 1)}

    def scratch(self, node):
        s = self._shape(node)  # one image's and group's columns, packed (qconv2d_scratch_size)
        return _packed_bytes(s["c"] // s["groups"] * s["kh"] * s["kw"], D.mul(s["oh"], s["ow"]))

    def emit(self, node, cg):
        x, x_zp, w, w_zp, x_scale, w_scale, y_scale, y_zp, bias = self._operands(node)
        out = node.outputs[0]
        requant = None
        if node.op == "QLinearConv":  # the weights' scale per output channel is the GEMM's per-row scale
            requant = {"a_scale": cg.var(w_scale), "a_scale_rs": "0" if _one(w_scale) else "1",
                       "b_scale": cg.var(x_scale), "b_scale_cs": "0", "y_scale": cg.scalar(y_scale),
                       "y_zp": f"int32_t({cg.scalar(y_zp)})", "bias": cg.var(bias) if bias is not None else None,
                       "half": False}
        return [{"template": "qconv", "tx": cg.ctype(x.dtype), "tw": cg.ctype(w.dtype), "ty": cg.ctype(out.dtype),
                 "x": cg.var(x), "x_zp": cg.var(x_zp) if x_zp is not None else "nullptr", "w": cg.var(w),
                 "w_zp": cg.var(w_zp) if w_zp is not None else "nullptr", "w_zp_stride": "0" if _one(w_zp) else "1",
                 "y": cg.var(out), "requant": requant, "scratch": cg.scratch_var(node),
                 "shape": {k: cg.dim(v) for k, v in self._shape(node).items()}}]
