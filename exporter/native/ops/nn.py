"""Neural-network kernels: Conv, pooling (Max, Average, Lp), Softmax/LogSoftmax, LayerNormalization, LSTM, GRU
and RNN."""
from __future__ import annotations

import numpy as np

from .. import dims as D
from ..cpp import c_text, literal
from . import FLOAT, OpDef, fail, norm_axis, register, require_known, softmax_extents


def _spatial(node, x, kernel):
    """Per spatial axis: (size, kernel, stride, dilation, pad_begin, pad_end) following ONNX's attributes."""
    n = len(kernel)
    strides = node.attr("strides") or [1] * n
    dilations = node.attr("dilations") or [1] * n
    pads = node.attr("pads") or [0] * (2 * n)
    auto_pad = node.attr("auto_pad", "NOTSET")
    result = []
    for i in range(n):
        size = x.shape[2 + i]
        begin, end = pads[i], pads[n + i]
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            if isinstance(size, D.Sym):
                fail(node, "auto_pad SAME over a dynamic spatial size is not supported")
            span = (kernel[i] - 1) * dilations[i] + 1
            total = max(0, (-(-size // strides[i]) - 1) * strides[i] + span - size)
            begin = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
            end = total - begin
        elif auto_pad == "VALID":
            begin = end = 0
        result.append((size, kernel[i], strides[i], dilations[i], begin, end))
    return result


def _out_size(size, kernel, stride, dilation, begin, end, ceil_mode=0):
    return D.call("conv_out", [size, kernel, stride, dilation, begin, end, ceil_mode], D.conv_out)


def _as_2d(spatial):
    """1-D sweeps run as 2-D ones with a height of 1."""
    return [(1, 1, 1, 1, 0, 0)] + spatial if len(spatial) == 1 else spatial


class Windowed(OpDef):
    dtypes = FLOAT

    def check(self, node):
        if node.inputs[0].rank not in (3, 4):
            return f"{node.inputs[0].rank - 2}-D windows (1-D and 2-D are supported)"
        return super().check(node)


# Winograd's weight transforms G of F(2x2, 3x3) and F(4x4, 3x3) (Lavin & Gray 2016); runtime_c/winograd.cpp holds
# the same with the input and output transforms
WINOGRAD_G = {2: np.array([[1, 0, 0], [.5, .5, .5], [.5, -.5, .5], [0, 0, 1]]),
              4: np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6],
                           [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]])}
# Measured against the im2col GEMM / direct kernels (Zen 3, AVX2, 1 and 2 threads, runtime_c/winograd.cpp's own
# split of the work), F(2x2) wins 1.3-1.8x from 16 channels (56x56 x 32: 1.8x, 14x14 x 256: 1.5-1.7x, 7x7 x 512:
# 1.3-1.4x, 55x55 16 -> 64: 1.2-1.35x) except where: the product is small (n c m oh ow under 2^19, e.g. 64 channels
# at 7x7: the transforms' and the fork's fixed costs), or the output channels outnumber the input ones more than 4
# to 1 (16 -> 128: 0.8x; the output transform grows with m, the saving with m c), or for 3-channel stems. Against
# the direct kernel (runtime conv_tiled, which takes stride-1 layers Winograd leaves) it loses at 16 output channels
# (16 -> 16 on 56x56: 0.9x, 48 -> 16 on 28x28: 0.9x) and on small planes with 3-4x more output than input channels
# (SqueezeNet's 48 -> 192 and 64 -> 256 on 13x13: 0.8-0.9x at 1 thread, 0.65-0.75x at 2; 7x7 tiles of 2x2 cover
# 14x14), and wins from 32 output channels (1.05-1.1x) and on wide layers (64-256 channels: 1.35-1.55x).
# F(4x4) measured no faster than F(2x2).
WINOGRAD_MIN_CHANNELS, WINOGRAD_MIN_OUT_CHANNELS, WINOGRAD_MAX_FAN_OUT, WINOGRAD_MIN_WORK = 16, 17, 4, 1 << 19
WINOGRAD_SMALL_PLANE, WINOGRAD_SMALL_PLANE_MAX_FAN_OUT = 16 * 16, 2
# With AVX-512 (Zen 5: the direct kernel and the GEMM at twice AVX2's rate, the transforms, bound by memory, not)
# Winograd still wins on wide layers (64 -> 64 on 56x56: 1.2x, 256 -> 256 on 14x14: 1.4x, 64 -> 256 on 28x28: 1.3x,
# 32 -> 64 on 56x56: 1.4x) but loses with 16 input channels (16 -> 64 on 55x55: 0.87x, 16 -> 48: 0.95x), with 32
# channels fanning out 4x (32 -> 128 on 27x27: 0.92x), and on 7x7 planes, where its 16/9 larger weights stream from
# memory in a whole model (ResNet-50's last stage, six 512 -> 512 layers: 9.1 ms against 8.6 direct).
WINOGRAD_AVX512_MIN_CHANNELS, WINOGRAD_AVX512_WIDE, WINOGRAD_AVX512_MIN_PLANE = 32, 64, 8 * 8


# A 1x1 convolution over a plane this small runs transposed (runtime conv2d_pointwise_t): its vectors then span output
# channels, not the 49 pixels of a 7x7 plane, which fill 64 lanes.
POINTWISE_T_MAX_PLANE = 63


def pointwise_transposed(shape: dict, dtype, constant_weights: bool) -> bool:
    """Whether a 2-D convolution runs as conv2d_pointwise_t: float32 1x1, stride 1, unpadded, one group, constant
    weights, a static plane of at most POINTWISE_T_MAX_PLANE pixels and whole vectors of output channels."""
    d = shape
    if not (constant_weights and np.dtype(dtype) == np.float32 and all(isinstance(d[k], int) for k in d)):
        return False
    return ((d["kh"], d["kw"], d["sh"], d["sw"], d["pt"], d["pl"], d["groups"]) == (1, 1, 1, 1, 0, 0, 1)
            and d["oh"] == d["h"] and d["ow"] == d["w"] and d["oh"] * d["ow"] <= POINTWISE_T_MAX_PLANE
            and d["m"] % 16 == 0)


def winograd_tile(shape: dict, dtype, constant_weights: bool, isa: str = "avx2") -> int:
    """2 when a 2-D convolution runs as Winograd's F(2x2, 3x3) (runtime conv2d_winograd), else 0; `isa`: the
    kernels' (target.vector_isa), whose speeds decide."""
    d = shape
    static = all(isinstance(d[k], int) for k in ("c", "m", "oh", "ow", "kh", "kw", "sh", "sw", "dh", "dw", "groups"))
    if not (static and constant_weights and np.dtype(dtype) == np.float32):  # (the runtime's is float only)
        return 0
    if (d["kh"], d["kw"], d["sh"], d["sw"], d["dh"], d["dw"], d["groups"]) != (3, 3, 1, 1, 1, 1, 1):
        return 0
    batch = d["n"] if isinstance(d["n"], int) else 1  # a dynamic batch counts as one image
    work = batch * d["c"] * d["m"] * d["oh"] * d["ow"]
    plane = d["oh"] * d["ow"]
    narrow = plane < WINOGRAD_SMALL_PLANE  # the smaller fan-out bound applies
    if isa == "avx512":
        if d["c"] < WINOGRAD_AVX512_MIN_CHANNELS or plane < WINOGRAD_AVX512_MIN_PLANE:
            return 0
        narrow = narrow or d["c"] < WINOGRAD_AVX512_WIDE
    fan_out = WINOGRAD_SMALL_PLANE_MAX_FAN_OUT if narrow else WINOGRAD_MAX_FAN_OUT
    return 2 if (d["c"] >= WINOGRAD_MIN_CHANNELS and d["m"] >= WINOGRAD_MIN_OUT_CHANNELS
                 and d["m"] <= fan_out * d["c"] and work >= WINOGRAD_MIN_WORK) else 0


def winograd_weights(w: np.ndarray, tile: int) -> np.ndarray:
    """[m, c, 3, 3] weights as conv2d_winograd reads them: U = G g G^T, (tile + 2)^2 matrices [m, c] one after
    the other, each in the pre-packed A layout (pack_rows). Computed in float64, rounded once."""
    from .linalg import pack_rows
    g = WINOGRAD_G[tile]
    u = np.einsum("ik,mckl,jl->ijmc", g, w.astype(np.float64), g).astype(w.dtype)
    return np.concatenate([pack_rows(m).reshape(-1) for m in u.reshape(-1, *u.shape[2:])])


@register
class Conv(Windowed):
    """Conv, 1-D to 3-D. 3-D (NCDHW) runs as the sum, per output depth, of the 2-D convolutions of the input
    slices its window covers (runtime conv3d over conv2d_ex), with constant weights sliced along depth."""
    types = ("Conv",)

    def check(self, node):
        x, w = node.inputs[:2]
        if x.rank == 5:
            if w.data is None:
                return "3-D convolution with weights computed at run time (constant weights are supported)"
            return OpDef.check(self, node)
        return super().check(node)

    def scratch(self, node):
        if node.inputs[0].rank != 5:
            return 0
        x, out = node.inputs[0], node.outputs[0]
        return D.add(D.prod(x.shape[1:2] + x.shape[3:]), D.prod(out.shape[1:2] + out.shape[3:]))

    def _kernel(self, node):
        return node.attr("kernel_shape") or [int(d) for d in node.inputs[1].shape[2:]]

    def infer(self, node):
        x, w = node.inputs[:2]
        spatial = _spatial(node, x, self._kernel(node))
        return [(x.dtype, [x.shape[0], w.shape[0]] + [_out_size(*s) for s in spatial])]

    def _shape(self, node, cg):
        x, w = node.inputs[:2]
        out = node.outputs[0]
        (h, kh, sh, dh, pt, _), (wd, kw, sw, dw, pl, _) = _as_2d(_spatial(node, x, self._kernel(node)))
        oh, ow = ([1] + out.shape[2:]) if x.rank == 3 else out.shape[2:]
        return {"n": x.shape[0], "c": x.shape[1], "h": h, "w": wd, "m": w.shape[0], "kh": kh, "kw": kw, "oh": oh,
                "ow": ow, "sh": sh, "sw": sw, "dh": dh, "dw": dw, "pt": pt, "pl": pl, "groups": node.attr("group", 1)}

    def _emit_3d(self, node, cg):
        from .linalg import pack_rows
        x, w = node.inputs[:2]
        bias = node.input(2)
        out = node.outputs[0]
        (d, kd, sd, dd, pf, _), (h, kh, sh, dh, pt, _), (wd, kw, sw, dw, pl, _) = _spatial(node, x, self._kernel(node))
        groups = node.attr("group", 1)
        shape = {"n": x.shape[0], "c": x.shape[1], "d": d, "h": h, "w": wd, "m": w.shape[0], "kd": kd, "kh": kh,
                 "kw": kw, "od": out.shape[2], "oh": out.shape[3], "ow": out.shape[4], "sd": sd, "sh": sh, "sw": sw,
                 "dd": dd, "dh": dh, "dw": dw, "pf": pf, "pt": pt, "pl": pl, "groups": groups}
        # kernel slices along depth, one after the other, each as conv2d_ex takes it (packed unless depthwise)
        slices = [np.ascontiguousarray(w.data[:, :, k]) for k in range(w.shape[2])]
        packed = not (w.shape[1] == 1 and groups > 1)
        if packed:
            mg = w.shape[0] // groups
            slices = [np.concatenate([pack_rows(g).reshape(-1) for g in s.reshape(groups, mg, -1)]) for s in slices]
        weights = np.concatenate([s.reshape(-1) for s in slices])
        return [{"template": "conv3d", "x": cg.var(x), "w": cg.constant(weights, f"{w.name}_slices"),
                 "packed": packed, "w_slice": str(slices[0].size), "bias": cg.var(bias) if bias is not None else "nullptr",
                 "y": cg.var(out), "ctype": cg.ctype(x.dtype), "scratch": cg.scratch_var(node),
                 "shape": {k: cg.dim(v) for k, v in shape.items()}}]

    # A MaxPool after a convolution whose output (per image) is at least this large, with weights at most an eighth
    # of that, runs inside it (runtime conv2d_max_pool): the output no longer goes to memory and back, but each band
    # reads all the weights again. VGG-19 (Zen 5, 1 thread): 64 channels on 224x224 16.3 -> 14.3 ms, 128 on 112x112
    # 11.4 -> 10.6; 256 on 56x56 (2.4 MB of weights, 3.2 MB out) even, 512 on 28x28 (9.4 MB, 1.6 MB) 11.2 -> 12.1.
    # Strided convolutions (the stems) stay apart: each band rebuilds its polyphase input planes, and on an Emerald
    # Rapids Xeon the stem with its pool took longer fused (1 thread, best of 900: SqueezeNet 3x3/2 602-606 -> 696 us,
    # ResNet-50 7x7/2 1911-1938 -> 2019, Inception-v1 7x7/2 1906-1917 -> 1970-1978).
    POOL_FUSION_BYTES = 512 << 10

    def fuses_max_pool(self, node, pool) -> bool:
        """Whether `pool` (the sole consumer of this 2-D convolution's result, after its epilogue) runs inside it."""
        x, out = node.inputs[0], node.outputs[0]
        if pool.op != "MaxPool" or x.rank != 4 or node.attr("group", 1) != 1 or x.dtype not in (np.float32, np.float64):
            return False
        if any(s != 1 for s in node.attr("strides", [1, 1])):
            return False
        if any(o is not None for o in pool.outputs[1:]) or pool.inputs[0].rank != 4:
            return False  # Indices
        if not all(isinstance(d, int) for d in out.shape + pool.outputs[0].shape):
            return False
        (h, kh, sh, dh, pt, _), _cols = _spatial(pool, pool.inputs[0], pool.attr("kernel_shape"))
        # every window starts on a row of the convolution's output (ceil_mode may add one that starts in the padding)
        if (pool.outputs[0].shape[2] - 1) * sh - pt >= h:
            return False
        out_bytes = int(np.prod(out.shape[1:])) * x.dtype.itemsize
        w = node.inputs[1]
        if w.data is None or 8 * w.data.size * x.dtype.itemsize > out_bytes:
            return False
        return out_bytes >= self.POOL_FUSION_BYTES

    def emit(self, node, cg):
        from .linalg import pack_panels, pack_rows
        x, w = node.inputs[:2]
        if x.rank == 5:
            return self._emit_3d(node, cg)
        bias = node.input(2)
        shape = self._shape(node, cg)
        groups = shape["groups"]
        epilogue = cg.epilogue(node, per_row=True)
        plan = cg.fused.get(node)
        bias_var = cg.var(bias) if bias is not None else None
        if plan and plan["bias"] is not None:  # a following per-channel Add joins the conv's own bias
            extra = plan["bias"].data.reshape(-1).astype(x.dtype)
            total = np.broadcast_to(extra, (w.shape[0],)) + (bias.data if bias is not None else 0)
            bias_var = cg.constant(np.ascontiguousarray(total, x.dtype), f"{node.name}_bias")
        if bias_var:
            epilogue["bias"] = {"var": bias_var, "rs": "1", "cs": "0"}
        # constant weights are stored in the GEMM's A layout (per group) or Winograd-transformed; depthwise ones
        # stay as they are
        packed = w.data is not None and not (w.shape[1] == 1 and groups > 1)
        pool = plan.get("pool") if plan else None
        tile = winograd_tile(shape, x.dtype, w.data is not None, cg.isa)
        transposed = not pool and pointwise_transposed(shape, x.dtype, w.data is not None)
        if transposed:
            w_var = cg.constant(pack_panels(np.ascontiguousarray(w.data.reshape(w.shape[0], -1).T)), f"{w.name}_t")
        elif tile:
            w_var = cg.constant(winograd_weights(w.data, tile), f"{w.name}_winograd")
        elif packed:
            mg = w.shape[0] // groups
            per_group = w.data.reshape(groups, mg, -1)
            w_var = cg.constant(np.concatenate([pack_rows(g).reshape(-1) for g in per_group]), f"{w.name}_packed")
        else:
            w_var = cg.var(w)
        pool_shape = _pool2d_shape(_spatial(pool, pool.inputs[0], pool.attr("kernel_shape")), pool.outputs[0]) if pool else None
        return [{"template": "conv", "x": cg.var(x), "w": w_var, "packed": packed, "winograd": tile, "transposed": transposed,
                 "y": cg.var(cg.result(node)),
                 "pool": {k: cg.dim(v) for k, v in pool_shape.items()} if pool else None,
                 "ctype": cg.ctype(x.dtype), "epilogue": epilogue, "flops": cg.flops([shape[k] for k in ("n", "m", "oh", "ow", "kh", "kw")] + [w.shape[1]]),
                 "shape": {k: cg.dim(v) for k, v in shape.items()}}]


@register
class DeformConv(OpDef):
    """DeformConv over 2-D images: each kernel tap reads the input bilinearly (zeros outside) at its place moved
    by the offsets, scaled by the optional mask; the sampled columns (scratch) meet the weights in a GEMM."""
    types = ("DeformConv",)
    dtypes = FLOAT

    def check(self, node):
        x, w, offset = node.inputs[:3]
        if x.rank != 4:
            return f"{x.rank - 2}-D images (2-D, N x C x H x W, is supported)"
        if any(v is not None and v.dtype != x.dtype for v in node.inputs[1:]):
            return "inputs of different dtypes"
        return super().check(node)

    def _kernel(self, node):
        return node.attr("kernel_shape") or [int(d) for d in node.inputs[1].shape[2:]]

    def _shape(self, node):
        x, w = node.inputs[:2]
        rows, cols = _spatial(node, x, self._kernel(node))
        (h, kh, sh, dh, pt, _), (wd, kw, sw, dw, pl, _) = rows, cols
        groups, offset_groups = node.attr("group", 1), node.attr("offset_group", 1)
        c, m = x.shape[1], w.shape[0]
        static = [d for d in (c, m) if not isinstance(d, D.Sym)]
        if len(static) == 2 and (c % groups or m % groups or c % offset_groups):
            fail(node, f"{c} input and {m} output channels do not split into {groups} groups and {offset_groups} "
                       "offset groups")
        return {"n": x.shape[0], "c": c, "h": h, "w": wd, "m": m, "kh": kh, "kw": kw,
                "oh": _out_size(*rows), "ow": _out_size(*cols),
                "sh": sh, "sw": sw, "dh": dh, "dw": dw, "pt": pt, "pl": pl, "groups": groups,
                "offset_groups": offset_groups}

    def infer(self, node):
        d = self._shape(node)
        return [(node.inputs[0].dtype, [d["n"], d["m"], d["oh"], d["ow"]])]

    def scratch(self, node):
        d = self._shape(node)
        return D.mul(D.mul(d["c"], d["kh"] * d["kw"]), D.mul(d["oh"], d["ow"]))

    def emit(self, node, cg):
        var = lambda i: cg.var(node.input(i)) if node.input(i) is not None else "nullptr"  # noqa: E731
        return [{"template": "deform_conv", "ctype": cg.ctype(node.inputs[0].dtype), "x": var(0), "w": var(1),
                 "offset": var(2), "bias": var(3), "mask": var(4), "y": cg.var(node.outputs[0]),
                 "scratch": cg.scratch_var(node), "shape": {k: cg.dim(v) for k, v in self._shape(node).items()}}]


def _pool2d_shape(spatial, out):
    """Pool2dShape's fields for the 1-D or 2-D window `spatial` (_spatial's) producing `out` (the input's n and c)."""
    (h, kh, sh, dh, pt, pb), (wd, kw, sw, dw, pl, pr) = _as_2d(spatial)
    oh, ow = [1] + out.shape[2:] if out.rank == 3 else out.shape[-2:]
    return {"n": out.shape[0], "c": out.shape[1], "h": h, "w": wd, "kh": kh, "kw": kw, "oh": oh, "ow": ow,
            "sh": sh, "sw": sw, "dh": dh, "dw": dw, "pt": pt, "pl": pl, "pb": pb, "pr": pr}


@register
class Pool(Windowed):
    """MaxPool / AveragePool, 1-D to 3-D. A 3-D window is separable: a 2-D pool of every depth slice into
    scratch, then a pool of that along depth (a (kd x 1) window over [d, oh * ow]). Max of maxima is the max;
    for averages the 3-D divisor (counted or padded) is the product of the two, so the mean of means is the mean;
    LpPool's p-th power of a 2-D result is its window's sum of |x|^p, so the depth pass with the same p completes it."""
    types = ("MaxPool", "AveragePool", "LpPool")

    def check(self, node):
        if node.op == "LpPool" and float(node.attr("p", 2)) <= 0:
            return f"p={node.attr('p')} (a positive p expected)"
        x = node.inputs[0]
        if self._indices(node) and (x.rank == 5 or x.dtype not in FLOAT):
            return f"Indices output of a {x.rank - 2}-D {x.dtype} MaxPool (1-D and 2-D float pools give indices)"
        if node.op == "MaxPool" and x.dtype in (np.int8, np.uint8) and x.rank in (3, 4, 5):
            return None  # quantised models pool their 8-bit data (maxima commute with the monotone quantisation)
        if x.rank == 5:
            return OpDef.check(self, node)
        return super().check(node)

    def _indices(self, node):
        return node.op == "MaxPool" and len(node.outputs) > 1 and node.outputs[1] is not None

    def scratch(self, node):
        x, out = node.inputs[0], node.outputs[0]
        return D.prod(x.shape[:3] + out.shape[3:]) if x.rank == 5 else 0

    def infer(self, node):
        x = node.inputs[0]
        spatial = _spatial(node, x, node.attr("kernel_shape"))
        ceil = node.attr("ceil_mode", 0)
        shape = x.shape[:2] + [_out_size(*s, ceil) for s in spatial]
        return [(x.dtype, shape)] + ([(np.dtype(np.int64), shape)] if self._indices(node) else [])

    def emit(self, node, cg):
        x, out = node.inputs[0], node.outputs[0]
        spatial = _spatial(node, x, node.attr("kernel_shape"))
        depth = None
        if x.rank == 5:  # the (h, w) pool of each depth slice first, as images [n * c * d, 1, h, w]
            (d, kd, sd, dd, pf, pk), spatial = spatial[0], spatial[1:]
            od, plane = out.shape[2], D.mul(out.shape[3], out.shape[4])
            depth = {"n": D.mul(x.shape[0], x.shape[1]), "c": 1, "h": d, "w": plane, "kh": kd, "kw": 1, "oh": od,
                     "ow": plane, "sh": sd, "sw": 1, "dh": dd, "dw": 1, "pt": pf, "pl": 0, "pb": pk, "pr": 0}
        shape = _pool2d_shape(spatial, out)
        if depth:
            shape.update(n=D.prod(x.shape[:3]), c=1)
        indices = cg.var(node.outputs[1]) if self._indices(node) else None
        return [{"template": "pool", "max": node.op == "MaxPool", "x": cg.var(x), "y": cg.var(out),
                 "indices": indices, "column_major": bool(node.attr("storage_order", 0)),
                 "ctype": cg.ctype(x.dtype), "count_include_pad": bool(node.attr("count_include_pad", 0)),
                 "p": repr(float(node.attr("p", 2))) if node.op == "LpPool" else None,
                 "shape": {k: cg.dim(v) for k, v in shape.items()},
                 "depth": {k: cg.dim(v) for k, v in depth.items()} if depth else None,
                 "scratch": cg.scratch_var(node) if depth else None}]


@register
class MaxUnpool(OpDef):
    """MaxUnpool: zeros, with each input value written at its index (MaxPool's Indices) into the output, whose
    shape is output_shape (fixed at export time or read at run time) or the pooling's inverse by default."""
    types = ("MaxUnpool",)
    dtypes = FLOAT
    shape_inputs = (2,)

    def check(self, node):
        if node.inputs[1].dtype != np.int64:
            return f"indices dtype {node.inputs[1].dtype}"
        return super().check(node)

    def infer(self, node):
        x = node.inputs[0]
        if node.input(2) is not None:
            shape = list(require_known(node, 2, "output shape", kind="size"))
            if len(shape) != x.rank:
                fail(node, f"output_shape has {len(shape)} entries for a rank-{x.rank} input")
            return [(x.dtype, shape)]
        return [(x.dtype, self._grid(node))]

    def _grid(self, node):
        """The pooling's inverse shape, which the indices address."""
        x = node.inputs[0]
        kernel = node.attr("kernel_shape")
        n = len(kernel)
        strides, pads = node.attr("strides") or [1] * n, node.attr("pads") or [0] * (2 * n)
        spatial = [D.add(D.mul(D.add(x.shape[2 + i], -1), strides[i]), kernel[i] - pads[i] - pads[n + i])
                   for i in range(n)]
        return x.shape[:2] + spatial

    def emit(self, node, cg):
        x, out = node.inputs[0], node.outputs[0]
        return [{"template": "max_unpool", "node": c_text(node.name), "ctype": cg.ctype(x.dtype), "x": cg.var(x),
                 "indices": cg.var(node.inputs[1]), "y": cg.var(out), "n": cg.dim(x.numel), "rank": x.rank,
                 "grid": cg.dims(self._grid(node)), "out": cg.dims(out.shape)}]


@register
class GlobalPool(OpDef):
    types = ("GlobalAveragePool", "GlobalMaxPool")
    dtypes = FLOAT

    def infer(self, node):
        x = node.inputs[0]
        return [(x.dtype, x.shape[:2] + [1] * (x.rank - 2))]

    def emit(self, node, cg):
        x = node.inputs[0]
        return [{"template": "global_pool", "max": node.op == "GlobalMaxPool", "x": cg.var(x),
                 "y": cg.var(node.outputs[0]), "ctype": cg.ctype(x.dtype), "nc": cg.dim(D.prod(x.shape[:2])),
                 "hw": cg.dim(D.prod(x.shape[2:]))}]


@register
class Softmax(OpDef):
    types = ("Softmax", "LogSoftmax")
    dtypes = FLOAT

    def infer(self, node):
        return [(node.inputs[0].dtype, node.inputs[0].shape)]

    def emit(self, node, cg):
        x = node.inputs[0]
        outer, n, inner = softmax_extents(node, x)
        return [{"template": "softmax", "log": node.op == "LogSoftmax", "src": cg.var(x), "dst": cg.var(node.outputs[0]),
                 "ctype": cg.ctype(x.dtype), "outer": cg.dim(outer), "n": cg.dim(n), "inner": cg.dim(inner)}]


@register
class LayerNormalization(OpDef):
    types = ("LayerNormalization",)
    dtypes = FLOAT

    def check(self, node):
        if any(o is not None for o in node.outputs[1:]) and node.attr("stash_type", 1) != 1:
            return "Mean/InvStdDev outputs with a stash_type other than float32"
        x = node.inputs[0]
        axis = norm_axis(node.attr("axis", -1), x.rank)
        for v in node.inputs[1:]:
            if v is not None and not D.same(v.numel, D.prod(x.shape[axis:])):
                return "broadcast scale/bias"
        return super().check(node)

    def infer(self, node):
        x = node.inputs[0]
        axis = norm_axis(node.attr("axis", -1), x.rank)
        # Mean and InvStdDev keep the input's rank with the normalised axes set to 1, in stash_type (float32)
        stats = (np.dtype(np.float32), list(x.shape[:axis]) + [1] * (x.rank - axis))
        return [(x.dtype, x.shape), stats, stats]

    def emit(self, node, cg):
        x, scale = node.inputs[:2]
        bias = node.input(2)
        axis = norm_axis(node.attr("axis", -1), x.rank)
        out = lambda i: cg.var(node.outputs[i]) if i < len(node.outputs) and node.outputs[i] is not None \
            else "nullptr"  # noqa: E731
        return [{"template": "layer_norm", "src": cg.var(x), "dst": cg.var(node.outputs[0]), "ctype": cg.ctype(x.dtype),
                 "mean": out(1), "inv_std": out(2),
                 "scale": cg.var(scale), "bias": cg.var(bias) if bias else "nullptr",
                 "rows": cg.dim(D.prod(x.shape[:axis])), "n": cg.dim(D.prod(x.shape[axis:])),
                 "eps": literal(node.attr("epsilon", 1e-5), x.dtype)}]


@register
class Recurrent(OpDef):
    """ONNX LSTM, GRU and RNN (default activations; LSTM also with peepholes and sequence lengths). layout=1
    (batch-major X, Y, initial and final states) runs the layout-0 kernel between transposes through scratch."""
    types = ("LSTM", "GRU", "RNN")
    dtypes = FLOAT

    def check(self, node):
        activations = [a.decode() if isinstance(a, bytes) else a for a in node.attr("activations") or []]
        if node.op == "RNN" and all(a == "Tanh" for a in activations):
            activations = []  # RNN's default, spelled out
        if node.attr("clip") is not None or activations or node.attr("input_forget", 0):
            return "clip/custom activations/input_forget"
        if node.input(4) is not None and node.op != "LSTM":
            return "sequence_lens (LSTM takes them)"
        if node.input(4) is not None and node.inputs[4].dtype != np.int32:
            return f"sequence_lens of dtype {node.inputs[4].dtype}"
        return super().check(node)

    def _dims(self, node):
        x = node.inputs[0]
        hidden = node.attr("hidden_size") or node.inputs[2].shape[2]
        directions = 2 if node.attr("direction", "forward") == "bidirectional" else 1
        if node.attr("layout", 0):
            return x.shape[1], x.shape[0], x.shape[2], hidden, directions
        return x.shape[0], x.shape[1], x.shape[2], hidden, directions

    def infer(self, node):
        seq, batch, _, hidden, directions = self._dims(node)
        dtype = node.inputs[0].dtype
        if node.attr("layout", 0):
            types = [(dtype, [batch, seq, directions, hidden]), (dtype, [batch, directions, hidden])]
            return types + [(dtype, [batch, directions, hidden])] if node.op == "LSTM" else types
        types = [(dtype, [seq, directions, batch, hidden]), (dtype, [directions, batch, hidden])]
        return types + [(dtype, [directions, batch, hidden])] if node.op == "LSTM" else types

    def _kernel_scratch(self, node):
        seq, batch, inp, hidden, _ = self._dims(node)
        g = {"LSTM": 4, "GRU": 3, "RNN": 1}[node.op] * hidden
        return D.add(D.add(D.add(D.mul(inp, g), D.mul(hidden, g)), D.mul(D.mul(seq, batch), g)),
                     D.add(D.mul(batch, g), D.mul(2 * hidden, batch)))

    def _batchwise_buffers(self, node):
        """layout=1: the layout-0 copies of X, Y and the states, as (name, elements) in scratch order."""
        seq, batch, inp, hidden, directions = self._dims(node)
        state = D.mul(D.mul(directions, batch), hidden)
        return [("x", D.mul(D.mul(seq, batch), inp)), ("y", D.mul(seq, state)), ("h0", state), ("c0", state),
                ("yh", state), ("yc", state)]

    def scratch(self, node):
        total = self._kernel_scratch(node)
        if node.attr("layout", 0):
            for _, size in self._batchwise_buffers(node):
                total = D.add(total, size)
        return total

    def emit(self, node, cg):
        seq, batch, inp, hidden, directions = self._dims(node)
        var = lambda i: cg.var(node.input(i)) if node.input(i) is not None else "nullptr"  # noqa: E731
        out = lambda i: cg.var(node.outputs[i]) if i < len(node.outputs) and node.outputs[i] is not None \
            else "nullptr"  # noqa: E731
        step = self._step(node, cg, var, out)
        if not node.attr("layout", 0):
            return [step]
        # batch-major: transpose the inputs into scratch, run, transpose the outputs back
        ctype, buffer = cg.ctype(node.inputs[0].dtype), cg.scratch_var(node)
        offset, at = self._kernel_scratch(node), {}
        for name, size in self._batchwise_buffers(node):
            at[name] = f"({buffer} + {cg.dim(offset)})"
            offset = D.add(offset, size)

        def swap(src, dst, shape, perm):
            return {"template": "transpose", "src": src, "dst": dst, "ctype": ctype, "rank": len(shape),
                    "shape": cg.dims(shape), "perm": perm}

        before, after = [swap(var(0), at["x"], [batch, seq, inp], [1, 0, 2])], []
        for key, index in (("h0", 5), ("c0", 6)):
            if step[key] != "nullptr":
                before.append(swap(step[key], at[key], [batch, directions, hidden], [1, 0, 2]))
                step[key] = at[key]
        if step["y"] != "nullptr":
            after.append(swap(at["y"], step["y"], [seq, directions, batch, hidden], [2, 0, 1, 3]))
            step["y"] = at["y"]
        for key in ("yh", "yc"):
            if step[key] != "nullptr":
                after.append(swap(at[key], step[key], [directions, batch, hidden], [1, 0, 2]))
                step[key] = at[key]
        step["x"] = at["x"]
        return before + [step] + after

    def _step(self, node, cg, var, out):
        seq, batch, inp, hidden, directions = self._dims(node)
        return {"template": "rnn", "cell": node.op.lower(), "ctype": cg.ctype(node.inputs[0].dtype),
                 "shape": {"seq": cg.dim(seq), "batch": cg.dim(batch), "input": cg.dim(inp), "hidden": cg.dim(hidden),
                           "directions": str(directions)},
                 "reverse": node.attr("direction", "forward") == "reverse",
                 "x": var(0), "w": var(1), "r": var(2), "b": var(3), "h0": var(5), "c0": var(6),
                 "seq_lens": var(4), "p": var(7), "node": c_text(node.name),
                 "y": out(0), "yh": out(1), "yc": out(2), "scratch": cg.scratch_var(node),
                 "linear_before_reset": bool(node.attr("linear_before_reset", 0))}

