"""Image rearrangements and resampling: DepthToSpace, SpaceToDepth (one 6-D transpose each), Resize and
Upsample, GridSample (runtime_c/resize.cpp)."""
from __future__ import annotations

from .. import dims as D
from ...errors import UnsupportedError
from ..cpp import c_text
from . import FLOAT, OpDef, fail, norm_axis, read_at_run_time, register, require_known


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


COORDS = {"half_pixel": "HalfPixel", "half_pixel_symmetric": "HalfPixelSymmetric",
          "pytorch_half_pixel": "PytorchHalfPixel", "align_corners": "AlignCorners", "asymmetric": "Asymmetric",
          "tf_crop_and_resize": "TfCropAndResize"}
NEAREST = {"round_prefer_floor": "RoundPreferFloor", "round_prefer_ceil": "RoundPreferCeil", "floor": "Floor",
           "ceil": "Ceil"}
MODES = {"nearest": "Nearest", "linear": "Linear", "cubic": "Cubic", "bilinear": "Linear"}


def _constant_floats(node, index, what):
    """A float input fixed at export time (scales, roi); None when absent or empty."""
    value = node.input(index)
    if value is None:
        return None
    if value.data is None:
        if value.known is not None:
            return [float(v) for v in value.known] or None
        raise UnsupportedError(f"{node.describe()}: its {what} (input '{value.name}') is computed from data at run "
                               "time; the native backend needs it fixed when the model is exported")
    return [float(v) for v in value.data.reshape(-1)] or None


def _scales(node, index):
    """Resize's scales: fixed at export time (floats), or variables read at run time from a graph input
    (whose bits hold the numbers, see runtime_values); None when absent or empty."""
    value = node.input(index)
    if value is not None and value.data is None and value.known is None and value.runtime:
        return require_known(node, index, "scales", kind="scale")
    if value is not None and value.runtime == []:
        return None
    return _constant_floats(node, index, "scales")


def _roi(node):
    """tf_crop_and_resize's roi: numbers fixed at export time, or C++ expressions reading numbers given at
    run time (a graph input); None when absent or empty."""
    value = node.input(1)
    if value is not None and value.data is None and value.known is None and value.runtime:
        return [f"exporter_rt::real_bits({D.cpp(v)})" for v in require_known(node, 1, "roi", kind="real")]
    return _constant_floats(node, 1, "roi")


def _real(v) -> str:
    """A C++ double: a number, or an expression already."""
    return v if isinstance(v, str) else repr(float(v))


def _scaled(dim, scale):
    """floor(dim * scale), also for a dynamic dim (then computed by exporter_rt::resize_out)."""
    if not isinstance(dim, D.Sym):
        return int(int(dim) * scale)
    return D.Sym(f"exporter_rt::resize_out({D.cpp(dim)}, {float(scale)!r})",
                 lambda env: int(D.evaluate(dim, env) * scale))


@register
class Resize(OpDef):
    """Resize (opset 10+) and Upsample: nearest / linear / cubic with every coordinate transformation mode;
    one separable pass per resized axis (runtime_c/resize.cpp), the scale and size fixed at export time.
    antialias (opset 18) widens the linear / cubic filter by 1 / scale when downsampling (ONNX ignores it
    for nearest)."""
    types = ("Resize", "Upsample")
    dtypes = FLOAT
    shape_inputs = (1, 2, 3)

    def check(self, node):
        if node.attr("mode", "nearest") not in MODES:
            return f"mode {node.attr('mode')}"
        if node.attr("coordinate_transformation_mode", "half_pixel") not in COORDS:
            return f"coordinate_transformation_mode {node.attr('coordinate_transformation_mode')}"
        if node.attr("nearest_mode", "round_prefer_floor") not in NEAREST:
            return f"nearest_mode {node.attr('nearest_mode')}"
        return super().check(node)

    def _legacy(self, node):
        return node.op == "Upsample" or node.opset < 11

    def _plan(self, node, inferred=True):
        """Per axis: (input dim, output dim, C++ scale expression, roi start, roi end); `inferred` once the
        output's shape is known."""
        x = node.inputs[0]
        rank = x.rank
        if node.op == "Upsample" and node.opset < 9:
            scales, sizes, roi = list(node.attr("scales")), None, None
        elif self._legacy(node):
            scales, sizes, roi = _scales(node, 1), None, None
        else:
            roi = _roi(node) if node.attr("coordinate_transformation_mode") == "tf_crop_and_resize" else None
            scales = _scales(node, 2)
            if roi is not None and scales is not None and any(isinstance(r, str) for r in roi):
                fail(node, "a roi read at run time needs sizes, not scales (the output size would follow from it)")
            sizes = None
            if scales is None:
                sizes = require_known(node, 3, "sizes", kind="size")
                if not sizes:
                    fail(node, "neither scales nor sizes is given")
        axes = [norm_axis(int(a), rank) for a in node.attr("axes")] if node.attr("axes") else list(range(rank))
        full_scale = [1.0] * rank
        full_size = list(x.shape)
        full_roi = [0.0] * rank + [1.0] * rank  # numbers, or C++ expressions (read at run time)
        if roi is not None:
            if len(roi) != 2 * len(axes):
                fail(node, f"{len(roi)} roi values for {len(axes)} axes (two per axis are needed)")
            for i, a in enumerate(axes):
                full_roi[a], full_roi[rank + a] = roi[i], roi[len(axes) + i]
        if scales is not None:
            if len(scales) != len(axes):
                fail(node, f"{len(scales)} scales for {len(axes)} axes")
            exprs = [repr(1.0)] * rank
            for i, a in enumerate(axes):
                if isinstance(scales[i], D.Sym):  # read at run time (a positive number, checked then)
                    full_size[a] = D.call("resize_scaled", [x.shape[a], scales[i]], D.resize_scaled)
                    exprs[a] = f"exporter_rt::real_bits({D.cpp(scales[i])})"
                    continue
                full_scale[a] = scales[i]
                if scales[i] <= 0:
                    fail(node, "scales must be positive")
                if scales[i] != 1.0:
                    full_size[a] = _scaled(x.shape[a], scales[i])
                exprs[a] = repr(float(scales[i]))
            if inferred and read_at_run_time(node, 1 if self._legacy(node) else 2):
                full_size = list(node.outputs[0].shape)  # as for run-time sizes below
        else:
            if len(sizes) != len(axes):
                fail(node, f"{len(sizes)} sizes for {len(axes)} axes")
            for i, a in enumerate(axes):
                full_size[a] = sizes[i]
            policy = node.attr("keep_aspect_ratio_policy", "stretch")
            runtime = read_at_run_time(node, 3)
            if policy != "stretch" and runtime:  # one common scale, found when the sizes are read
                args = [int(policy == "not_smaller"), len(axes)] + [x.shape[a] for a in axes] + list(sizes)
                for i, a in enumerate(axes):
                    full_size[a] = D.call("resize_keep_size", [i] + args, D.resize_keep_size)
                scale = f"exporter_rt::resize_keep_scale({', '.join(D.cpp(v) for v in args)})"
                exprs = [scale if a in axes else "1.0" for a in range(rank)]
            elif policy != "stretch":
                dims = [x.shape[a] for a in axes] + list(sizes)
                if not D.is_static(dims):
                    fail(node, "keep_aspect_ratio_policy over dynamic sizes is not supported")
                ratios = [int(sizes[i]) / int(x.shape[a]) for i, a in enumerate(axes)]
                common = min(ratios) if policy == "not_larger" else max(ratios)
                for a in axes:
                    full_size[a] = int(common * int(x.shape[a]) + 0.5)
                    full_scale[a] = common
                exprs = [repr(float(s)) for s in full_scale]
            if runtime and inferred:
                # sizes read at run time: once inferred, the output's own dims (which the arena plan knows)
                full_size = list(node.outputs[0].shape)
            if policy == "stretch":
                exprs = [f"(double({D.cpp(o)}) / double({D.cpp(i)}))" for o, i in zip(full_size, x.shape)]
        return [(x.shape[a], full_size[a], exprs[a], full_scale[a], full_roi[a], full_roi[rank + a])
                for a in range(rank)]

    def _moving_axes(self, node):
        plan = self._plan(node)
        moving = []
        for axis, (size, out, expr, scale, r0, r1) in enumerate(plan):
            same = D.same(size, out) and (scale == 1.0 or expr.startswith("(double("))
            if not (same and r0 == 0.0 and r1 == 1.0):
                moving.append(axis)
        return plan, moving

    def infer(self, node):
        return [(node.inputs[0].dtype, [p[1] for p in self._plan(node, inferred=False)])]

    def scratch(self, node):
        plan, moving = self._moving_axes(node)
        shape, biggest = [p[0] for p in plan], 0
        for axis in moving[:-1]:  # intermediate results between passes, in two alternating buffers
            shape[axis] = plan[axis][1]
            biggest = D.maximum(biggest, D.prod(shape)) if biggest != 0 else D.prod(shape)
        return 0 if biggest == 0 else D.mul(2, biggest)

    def emit(self, node, cg):
        x, out = node.inputs[0], node.outputs[0]
        plan, moving = self._moving_axes(node)
        if not moving:
            return [{"template": "copy", "src": cg.var(x), "dst": cg.var(out), "ctype": cg.ctype(x.dtype),
                     "count": cg.dim(x.numel)}]
        mode = node.attr("mode", "nearest")
        legacy = self._legacy(node)
        coord = "asymmetric" if legacy else node.attr("coordinate_transformation_mode", "half_pixel")
        nearest = "floor" if legacy else node.attr("nearest_mode", "round_prefer_floor")
        shape, steps, src = [p[0] for p in plan], [], cg.var(x)
        half = self.scratch(node)
        for k, axis in enumerate(moving):
            last = k == len(moving) - 1
            if last:
                dst = cg.var(out)
            else:
                buffer = cg.scratch_var(node)
                dst = buffer if k % 2 == 0 else f"({buffer} + {cg.dim(D.floordiv(half, 2))})"
            size, out_len, expr, _, r0, r1 = plan[axis]
            steps.append({"template": "resize", "src": src, "dst": dst, "ctype": cg.ctype(x.dtype),
                          "mode": MODES[mode], "coord": COORDS[coord], "nearest": NEAREST[nearest],
                          "cubic_a": repr(float(node.attr("cubic_coeff_a", -0.75))),
                          "exclude_outside": bool(node.attr("exclude_outside", 0)),
                          "antialias": bool(node.attr("antialias", 0)) and mode != "nearest",
                          "extrapolation": repr(float(node.attr("extrapolation_value", 0.0))),
                          "outer": cg.dim(D.prod(shape[:axis])), "in_len": cg.dim(size), "out_len": cg.dim(out_len),
                          "inner": cg.dim(D.prod(shape[axis + 1:])), "scale": expr, "roi_start": _real(r0),
                          "roi_end": _real(r1)})
            shape[axis] = out_len
            src = dst
        return steps


@register
class GridSample(OpDef):
    """GridSample over 2-D and 3-D images, N x C x [D x] H x W (opset 16 names bilinear/bicubic and 20 names
    linear/cubic alike; cubic is defined for 2-D images only)."""
    types = ("GridSample",)
    dtypes = FLOAT
    MODES = {"nearest": "Nearest", "linear": "Linear", "bilinear": "Linear", "cubic": "Cubic", "bicubic": "Cubic"}
    PADDINGS = {"zeros": "Zeros", "border": "Border", "reflection": "Reflection"}

    def _attr(self, node, key, default):
        v = node.attr(key, default)
        return v.decode() if isinstance(v, bytes) else v

    def check(self, node):
        x, grid = node.inputs[:2]
        if x.rank not in (4, 5):
            return f"{x.rank - 2}-D images (2-D and 3-D, N x C x [D x] H x W, are supported)"
        if grid.rank != x.rank or (grid.shape[-1] != x.rank - 2 and not isinstance(grid.shape[-1], D.Sym)):
            return f"grid of shape {grid.shape} for {x.rank - 2}-D images (N x [D x] H x W x {x.rank - 2} expected)"
        if x.rank == 5 and self.MODES.get(self._attr(node, "mode", "linear")) == "Cubic":
            return "cubic mode on 3-D images (ONNX defines it for 2-D images only)"
        if grid.dtype != x.dtype:
            return f"grid dtype {grid.dtype} differs from the image's {x.dtype}"
        if self._attr(node, "mode", "linear") not in self.MODES:
            return f"mode {self._attr(node, 'mode', 'linear')}"
        if self._attr(node, "padding_mode", "zeros") not in self.PADDINGS:
            return f"padding_mode {self._attr(node, 'padding_mode', 'zeros')}"
        return super().check(node)

    def infer(self, node):
        x, grid = node.inputs[:2]
        return [(x.dtype, x.shape[:2] + grid.shape[1:-1])]

    def emit(self, node, cg):
        x, grid = node.inputs[:2]
        out = node.outputs[0]
        return [{"template": "grid_sample", "x": cg.var(x), "grid": cg.var(grid), "y": cg.var(out),
                 "ctype": cg.ctype(x.dtype), "batch": cg.dim(x.shape[0]), "channels": cg.dim(x.shape[1]),
                 "rank": x.rank - 2, "in": [cg.dim(d) for d in x.shape[2:]], "out": [cg.dim(d) for d in out.shape[2:]],
                 "mode": self.MODES[self._attr(node, "mode", "linear")],
                 "padding": self.PADDINGS[self._attr(node, "padding_mode", "zeros")],
                 "align_corners": bool(node.attr("align_corners", 0))}]


@register
class RoiAlign(OpDef):
    """RoiAlign: avg or max over each bin's grid of bilinear samples; half_pixel (opset 16's default) or
    output_half_pixel (opset 10's behaviour) coordinates."""
    types = ("RoiAlign",)
    dtypes = FLOAT

    def _attr(self, node, key, default):
        v = node.attr(key, default)
        return v.decode() if isinstance(v, bytes) else v

    def _coords(self, node):
        return self._attr(node, "coordinate_transformation_mode", "half_pixel" if node.opset >= 16 else
                          "output_half_pixel")

    def check(self, node):
        x, rois, indices = node.inputs[:3]
        if x.rank != 4:
            return f"rank {x.rank} input (N x C x H x W expected)"
        if rois.dtype != x.dtype:
            return f"rois dtype {rois.dtype} differs from the input's {x.dtype}"
        if indices.dtype.name != "int64":
            return f"batch_indices dtype {indices.dtype}"
        if self._attr(node, "mode", "avg") not in ("avg", "max"):
            return f"mode {self._attr(node, 'mode', 'avg')}"
        if self._coords(node) not in ("half_pixel", "output_half_pixel"):
            return f"coordinate_transformation_mode {self._coords(node)}"
        return super().check(node)

    def infer(self, node):
        x, rois = node.inputs[:2]
        if rois.rank != 2 or (not isinstance(rois.shape[1], D.Sym) and rois.shape[1] != 4):
            fail(node, f"rois of shape {rois.shape} (num_rois x 4 expected)")
        return [(x.dtype, [rois.shape[0], x.shape[1], int(node.attr("output_height", 1)),
                           int(node.attr("output_width", 1))])]

    def emit(self, node, cg):
        x, rois, indices = node.inputs[:3]
        out = node.outputs[0]
        dims = list(x.shape) + [rois.shape[0]] + out.shape[2:]
        return [{"template": "roi_align", "node": c_text(node.name), "ctype": cg.ctype(x.dtype), "x": cg.var(x),
                 "rois": cg.var(rois), "batch_indices": cg.var(indices), "y": cg.var(out),
                 "dims": [cg.dim(d) for d in dims], "sampling_ratio": str(int(node.attr("sampling_ratio", 0))),
                 "spatial_scale": repr(float(node.attr("spatial_scale", 1.0))),
                 "half_pixel": self._coords(node) == "half_pixel", "max_mode": self._attr(node, "mode", "avg") == "max"}]
