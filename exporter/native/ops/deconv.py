"""ConvTranspose (1-D to 3-D, groups, dilations, output_padding, output_shape, auto_pad) and Col2Im; kernels in
runtime_c/conv_transpose.cpp."""
from __future__ import annotations

from .. import dims as D
from . import FLOAT, OpDef, fail, register, require_known


@register
class ConvTranspose(OpDef):
    types = ("ConvTranspose",)
    dtypes = FLOAT

    def check(self, node):
        x, w = node.inputs[:2]
        if x.rank not in (3, 4, 5):
            return f"{x.rank - 2}-D windows (1-D to 3-D are supported)"
        if any(isinstance(d, D.Sym) for d in x.shape[1:]) or any(isinstance(d, D.Sym) for d in w.shape):
            return "dynamic channel or spatial sizes"
        return super().check(node)

    def _geometry(self, node):
        """Per spatial axis: (input, kernel, stride, dilation, pad_begin, output) as ONNX's reference computes them."""
        x, w = node.inputs[:2]
        n = x.rank - 2
        kernel = list(node.attr("kernel_shape") or [int(d) for d in w.shape[2:]])
        strides = list(node.attr("strides") or [1] * n)
        dilations = list(node.attr("dilations") or [1] * n)
        out_pad = list(node.attr("output_padding") or [0] * n)
        output_shape = node.attr("output_shape")
        auto_pad = node.attr("auto_pad", "NOTSET")
        pads = node.attr("pads")
        if output_shape is not None and len(output_shape) > n:
            output_shape = list(output_shape)[-n:]  # the full N x C x ... form
        geometry = []
        for i in range(n):
            size, span = int(x.shape[2 + i]), (kernel[i] - 1) * dilations[i] + 1
            full = strides[i] * (size - 1) + out_pad[i] + span
            if pads is None and auto_pad in ("SAME_UPPER", "SAME_LOWER"):
                out = int(output_shape[i]) if output_shape is not None else size * strides[i]
                total = full - out
                begin = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
            else:
                begin, end = (pads[i], pads[n + i]) if pads is not None else (0, 0)
                out = int(output_shape[i]) if output_shape is not None else full - begin - end
            if out < 0:
                fail(node, "the output would have a negative size")
            geometry.append((size, kernel[i], strides[i], dilations[i], begin, out))
        return geometry

    def infer(self, node):
        x, w = node.inputs[:2]
        m = D.mul(w.shape[1], node.attr("group", 1))
        return [(x.dtype, [x.shape[0], m] + [g[5] for g in self._geometry(node)])]

    def _shape(self, node):
        x, w = node.inputs[:2]
        geometry = self._geometry(node)
        geometry = [(1, 1, 1, 1, 0, 1)] * (3 - len(geometry)) + geometry  # 1-D and 2-D as 3-D of depth 1
        (d, kd, sd, dd, pf, od), (h, kh, sh, dh, pt, oh), (wd, kw, sw, dw, pl, ow) = geometry
        groups = node.attr("group", 1)
        return {"n": x.shape[0], "c": x.shape[1], "d": d, "h": h, "w": wd, "m": w.shape[1] * groups, "kd": kd,
                "kh": kh, "kw": kw, "od": od, "oh": oh, "ow": ow, "sd": sd, "sh": sh, "sw": sw, "dd": dd, "dh": dh,
                "dw": dw, "pf": pf, "pt": pt, "pl": pl, "groups": groups}

    def scratch(self, node):
        s = self._shape(node)
        return s["d"] * s["h"] * s["w"] * (s["c"] // s["groups"] + s["m"] // s["groups"] * s["kd"] * s["kh"] * s["kw"])

    def emit(self, node, cg):
        x, w = node.inputs[:2]
        bias = node.input(2)
        s = self._shape(node)
        # each input element meets the kh*kw weights of every output channel in its group
        flops = cg.flops([s["n"], s["h"], s["w"]] + list(w.shape))
        return [{"template": "conv_transpose", "x": cg.var(x), "w": cg.var(w), "bias": cg.var(bias) if bias else "nullptr",
                 "y": cg.var(node.outputs[0]), "ctype": cg.ctype(x.dtype), "scratch": cg.scratch_var(node),
                 "flops": flops,
                 "shape": {k: cg.dim(v) for k, v in s.items()}}]


@register
class Col2Im(OpDef):
    """Col2Im: columns [N, C * prod(block), L] added back into images [N, C, *image_shape]; image and block
    shapes known at export time or, from graph inputs, read at run time."""
    types = ("Col2Im",)
    dtypes = FLOAT
    shape_inputs = (1, 2)

    def _params(self, node):
        image = list(require_known(node, 1, "image_shape", kind="size"))
        block = list(require_known(node, 2, "block_shape", kind="size"))
        rank = len(image)
        strides = node.attr("strides") or [1] * rank
        dilations = node.attr("dilations") or [1] * rank
        pads = node.attr("pads") or [0] * (2 * rank)
        return image, block, list(strides), list(dilations), list(pads)

    def check(self, node):
        image, block, *_ = self._params(node)
        if len(image) != len(block) or not 1 <= len(image) <= 8:
            return f"image_shape of {len(image)} axes with block_shape of {len(block)} (1 to 8, equal, supported)"
        return super().check(node)

    def infer(self, node):
        x = node.inputs[0]
        image, block, *_ = self._params(node)
        return [(x.dtype, [x.shape[0], D.floordiv(x.shape[1], D.prod(block))] + image)]

    def emit(self, node, cg):
        x, out = node.inputs[0], node.outputs[0]
        image, block, strides, dilations, pads = self._params(node)
        return [{"template": "col2im", "x": cg.var(x), "y": cg.var(out), "ctype": cg.ctype(x.dtype),
                 "n": cg.dim(out.shape[0]), "c": cg.dim(out.shape[1]), "rank": len(image),
                 "image": [cg.dim(d) for d in image], "block": [cg.dim(d) for d in block], "strides": strides, "dilations": dilations, "pads": pads}]
