"""Shape and data-movement ops: views (Reshape & co.), shape arithmetic (Shape, Size, Range), copies
(Concat, Split, Slice, Transpose, Tile, Pad, BitCast) and gathers."""
from __future__ import annotations

import struct

import numpy as np

from .. import dims as D
from ..cpp import c_text, literal
from ..runtime_values import is_float, use_real
from . import OpDef, fail, norm_axis, read_at_run_time, register, require_known

INT64_MAX = np.iinfo(np.int64).max


class View(OpDef):
    """Output shares the input's memory (a different shape over the same contiguous data)."""
    kind = "alias"

    def value(self, node):
        known = node.inputs[0].known_ints()
        return None if known is None else [known]


@register
class Identity(View):
    """Identity, and Dropout where it is one: at inference, or in training mode with ratio 0 (its mask all
    true). A nonzero ratio in training mode draws a random mask, which no reference generator would match."""
    types = ("Identity", "Dropout")

    @property
    def shape_inputs(self):
        return (1, 2)  # Dropout's ratio and training_mode: needed at export time (exporter.backend fixes them)

    def check(self, node):
        if node.op == "Dropout" and node.input(2) is not None:
            mode = node.inputs[2].known_ints()
            if mode is None:
                return ("training mode given at run time (training_mode must be fixed at export time: false, or "
                        "true with ratio 0)")
            ratio = node.input(1)
            rate = 0.5 if ratio is None else (ratio.known_floats() or [None])[0]
            if mode != [0] and rate != 0:
                return ("training mode with ratio given at run time (a nonzero ratio draws a random mask)"
                        if rate is None else f"training mode with ratio {rate:g} (a random mask)")
        return super().check(node)

    def infer(self, node):
        x = node.inputs[0]
        types = [(x.dtype, x.shape)]
        return types + [(np.dtype(np.bool_), x.shape)] if node.op == "Dropout" else types


@register
class Reshape(View):
    types = ("Reshape",)
    shape_inputs = (1,)

    def infer(self, node):
        x = node.inputs[0]
        target = list(require_known(node, 1, "target shape", kind="extent"))
        allowzero = node.attr("allowzero", 0)
        if read_at_run_time(node, 1):
            return [(x.dtype, self._runtime(x, target, allowzero))]
        out, unknown = [], None
        for i, d in enumerate(target):
            if not isinstance(d, D.Sym) and d == 0 and not allowzero:
                d = x.shape[i]
            if not isinstance(d, D.Sym) and d == -1:
                unknown = i
                d = 1
            out.append(d)
        if unknown is not None:
            out[unknown] = D.floordiv(x.numel, D.prod(out))
        return [(x.dtype, out)]

    @staticmethod
    def _runtime(x, target, allowzero):
        # entries read at run time: 0 and -1 are resolved then (0 -> the input's size, unless allowzero;
        # -1 -> from the element count); an invalid target gives -1, reported before planning
        fixed = [D.call("reshape_fix", [t, x.shape[i] if i < x.rank else 0, int(bool(allowzero))], D.reshape_fix)
                 for i, t in enumerate(target)]
        return [D.call("reshape_infer", [f, x.numel] + fixed, D.reshape_infer) for f in fixed]


@register
class Flatten(View):
    types = ("Flatten",)

    def infer(self, node):
        x = node.inputs[0]
        axis = norm_axis(node.attr("axis", 1), x.rank)
        return [(x.dtype, [D.prod(x.shape[:axis]), D.prod(x.shape[axis:])])]


def _axes(node, index=1, attr="axes", rank=None):
    if node.opset >= 13 and node.op in ("Squeeze", "Unsqueeze"):
        return require_known(node, index, "axes", kind="axis", rank=rank)
    return node.attr(attr)


@register
class Squeeze(View):
    types = ("Squeeze",)
    shape_inputs = (1,)

    def infer(self, node):
        x = node.inputs[0]
        axes = _axes(node, rank=x.rank)
        if read_at_run_time(node, 1):  # each output size picks the input axis left after the squeezed ones
            args = [x.rank, len(axes)] + axes + list(x.shape)
            return [(x.dtype, [D.call("squeeze_dim", [i] + args, D.squeeze_dim) for i in range(x.rank - len(axes))])]
        if axes is None:
            axes = [i for i, d in enumerate(x.shape) if not isinstance(d, D.Sym) and d == 1]
        axes = {norm_axis(int(a), x.rank) for a in axes}
        return [(x.dtype, [d for i, d in enumerate(x.shape) if i not in axes])]


@register
class Unsqueeze(View):
    types = ("Unsqueeze",)
    shape_inputs = (1,)

    def infer(self, node):
        x = node.inputs[0]
        # run-time axes count in the output's rank (one per element)
        rank = x.rank + node.input(1).numel if read_at_run_time(node, 1) else None
        axes = _axes(node, rank=rank)
        rank = x.rank + len(axes)
        if read_at_run_time(node, 1):
            args = [rank, len(axes)] + axes + list(x.shape)
            return [(x.dtype, [D.call("unsqueeze_dim", [i] + args, D.unsqueeze_dim) for i in range(rank)])]
        axes = sorted(norm_axis(int(a), rank) for a in axes)
        out, it = [], iter(x.shape)
        for i in range(rank):
            out.append(1 if i in axes else next(it))
        return [(x.dtype, out)]


class Known(OpDef):
    """Ops whose output is known when the model is generated (possibly as an expression of dynamic
    dims); they cost nothing at run time unless a data op reads them, which fills them in then."""
    kind = "known"


@register
class Shape(Known):
    types = ("Shape",)

    def infer(self, node):
        start, end = self._range(node)
        return [(np.dtype(np.int64), [len(node.inputs[0].shape[start:end])])]

    def _range(self, node):
        rank = node.inputs[0].rank
        start = node.attr("start", 0)
        end = node.attr("end", rank)
        start = max(0, min(rank, start + rank if start < 0 else start))
        end = max(0, min(rank, end + rank if end < 0 else end))
        return start, end

    def value(self, node):
        start, end = self._range(node)
        return [list(node.inputs[0].shape[start:end])]


@register
class Size(Known):
    types = ("Size",)

    def infer(self, node):
        return [(np.dtype(np.int64), [])]

    def value(self, node):
        return [[node.inputs[0].numel]]


@register
class ConstantOfShape(OpDef):
    types = ("ConstantOfShape",)
    dtypes = {np.dtype(np.int64)}
    shape_inputs = (0,)

    def _fill(self, node):
        value = node.attr("value")
        return np.zeros(1, np.float32) if value is None else np.asarray(value).reshape(-1)

    def infer(self, node):
        return [(self._fill(node).dtype, list(require_known(node, 0, "shape", kind="size")))]

    def value(self, node):
        shape = require_known(node, 0, "shape", kind="size")
        fill = self._fill(node)
        if fill.dtype.kind in "iub" and D.is_static(shape) and int(np.prod(shape)) <= 64:
            return [[int(fill[0])] * int(np.prod(shape))]
        return None

    def constant(self, node):
        # Weights written as ConstantOfShape (the model zoo's "light" files, zero-initialised states):
        # a read-only broadcast view, materialised only when it is written into the weights blob.
        shape = require_known(node, 0, "shape", kind="size")
        if not D.is_static(shape):
            return None
        fill = self._fill(node)
        return [np.broadcast_to(fill[:1].reshape(()), tuple(int(d) for d in shape))]

    def emit(self, node, cg):
        out = node.outputs[0]
        return [{"template": "fill", "out": cg.var(out), "ctype": cg.ctype(out.dtype), "count": cg.dim(out.numel),
                 "value": literal(self._fill(node)[0], out.dtype)}]


@register
class Range(OpDef):
    types = ("Range",)

    def infer(self, node):
        if is_float(node.inputs[0].dtype):
            return [(node.inputs[0].dtype, [self._float_count(node)])]
        start, limit, delta = (require_known(node, i, what, kind=kind) for i, what, kind in
                               ((0, "start", "bound"), (1, "limit", "bound"), (2, "delta", "delta")))
        s, l, d = start[0], limit[0], delta[0]
        if isinstance(s, D.Sym) or isinstance(l, D.Sym) or isinstance(d, D.Sym):
            count = D.call("range_count", [s, l, d], lambda a, b, c: max(0, -(-(b - a) // c)))
        else:
            count = max(0, int(np.ceil((l - s) / d)))
        return [(node.inputs[0].dtype, [count])]

    @staticmethod
    def _float_count(node):
        """The element count of a float Range: from constants, or from numbers read at run time (their
        variables hold the doubles' bits, see runtime_values), as NumPy's arange counts."""
        bits = []
        for i, what in enumerate(("start", "limit", "delta")):
            value = node.inputs[i]
            if read_at_run_time(node, i):
                bits.append(require_known(node, i, what, kind="real")[0])
                continue
            if value.real is not None and len(value.real) == 1:  # a Cast of values read at run time
                bits.append(use_real(node, value, what)[0])
                continue
            if value.data is not None and value.data.size == 1:
                number = float(value.data.reshape(-1)[0])
            else:  # shape arithmetic cast to float: a number only if it is fixed
                known = require_known(node, i, what)
                if len(known) != 1 or isinstance(known[0], D.Sym):
                    fail(node, "float ranges with bounds computed from dynamic sizes are not supported")
                number = float(known[0])
            bits.append(struct.unpack("<q", struct.pack("<d", number))[0])
        count = D.call("range_count_real", bits, D.range_count_real)
        if not isinstance(count, D.Sym) and count < 0:
            fail(node, "its bounds give no valid element count (a zero or non-finite delta, or too many elements)")
        return count

    def value(self, node):
        start, limit, delta = (node.inputs[i].known_ints() for i in range(3))
        if is_float(node.inputs[0].dtype) or None in (start, limit, delta) or any(
                isinstance(v, D.Sym) for v in start + limit + delta):
            return None
        return [list(range(start[0], limit[0], delta[0]))]

    def emit(self, node, cg):
        out = node.outputs[0]
        start, delta = node.inputs[0], node.inputs[2]
        narrow = out.dtype.itemsize == 2 and out.dtype.kind != "i"  # float16, bfloat16: computed in float
        return [{"template": "range", "out": cg.var(out), "ctype": cg.ctype(out.dtype), "count": cg.dim(out.numel),
                 "start": cg.scalar(start), "delta": cg.scalar(delta), "compute": "float" if narrow else None}]


def _blocks(shape, axis):
    return D.prod(shape[:axis]), D.prod(shape[axis + 1:])


@register
class Concat(OpDef):
    types = ("Concat",)

    def infer(self, node):
        first = node.inputs[0]
        axis = norm_axis(node.attr("axis"), first.rank)
        out = list(first.shape)
        out[axis] = 0
        for v in node.inputs:
            out[axis] = D.add(out[axis], v.shape[axis])
        return [(first.dtype, out)]

    def value(self, node):
        knowns = [v.known_ints() for v in node.inputs]
        if any(k is None for k in knowns) or node.inputs[0].rank != 1:
            return None
        return [[d for k in knowns for d in k]]

    def emit(self, node, cg):
        out = node.outputs[0]
        axis = norm_axis(node.attr("axis"), out.rank)
        outer, inner = _blocks(out.shape, axis)
        parts = [{"src": cg.var(v), "block": cg.dim(D.mul(v.shape[axis], inner))} for v in node.inputs
                 if not (not isinstance(v.shape[axis], D.Sym) and v.shape[axis] == 0)]
        return [{"template": "concat", "out": cg.var(out), "ctype": cg.ctype(out.dtype), "outer": cg.dim(outer),
                 "parts": parts}]


@register
class Split(OpDef):
    types = ("Split",)
    shape_inputs = (1,)

    def _sizes(self, node):
        x = node.inputs[0]
        axis = norm_axis(node.attr("axis", 0), x.rank)
        split = require_known(node, 1, "split sizes", kind="size") if node.opset >= 13 and node.input(1) is not None \
            else node.attr("split")
        count = len(node.outputs) if node.outputs else node.attr("num_outputs") or len(split or [])
        if split is None:
            n = node.attr("num_outputs") or count
            dim = x.shape[axis]
            if isinstance(dim, D.Sym):
                fail(node, "an even split of a dynamic axis is not supported")
            chunk = -(-dim // n)
            split = [min(chunk, dim - i * chunk) for i in range(n)]
        return axis, list(split)

    def infer(self, node):
        x = node.inputs[0]
        axis, split = self._sizes(node)
        if read_at_run_time(node, 1):
            if len(split) != len(node.outputs):
                fail(node, f"{len(split)} split sizes for {len(node.outputs)} outputs")
            total = 0
            for size in split:
                total = D.add(total, size)
            node.checks.append((total, x.shape[axis], f"the split sizes add up to axis {axis}"))
        return [(x.dtype, x.shape[:axis] + [s] + x.shape[axis + 1:]) for s in split]

    def value(self, node):
        known = node.inputs[0].known_ints()
        if known is None or node.inputs[0].rank != 1:
            return None
        _, split = self._sizes(node)
        if any(isinstance(size, D.Sym) for size in split):
            return None
        out, start = [], 0
        for size in split:
            out.append(known[start:start + size])
            start += size
        return out

    def emit(self, node, cg):
        x = node.inputs[0]
        axis, split = self._sizes(node)
        outer, inner = _blocks(x.shape, axis)
        parts, offset = [], 0
        for out, size in zip(node.outputs, split):
            if out is not None:
                parts.append({"dst": cg.var(out), "offset": cg.dim(D.mul(offset, inner)),
                              "block": cg.dim(D.mul(size, inner))})
            offset = D.add(offset, size)
        return [{"template": "split", "src": cg.var(x), "ctype": cg.ctype(x.dtype), "outer": cg.dim(outer),
                 "row": cg.dim(D.mul(x.shape[axis], inner)), "parts": parts}]


@register
class Slice(OpDef):
    types = ("Slice",)
    shape_inputs = (1, 2, 3, 4)

    def _params(self, node):
        x = node.inputs[0]
        if node.opset < 10:
            starts, ends, axes = node.attr("starts"), node.attr("ends"), node.attr("axes")
            steps = None
        else:
            starts = require_known(node, 1, "starts", kind="index")
            ends = require_known(node, 2, "ends", kind="index")
            axes = require_known(node, 3, "axes", kind="axis", rank=x.rank)
            steps = require_known(node, 4, "steps", kind="step")
        if len(ends) != len(starts) or any(v is not None and len(v) != len(starts) for v in (axes, steps)):
            fail(node, "starts, ends, axes and steps differ in length")
        steps = [1] * len(starts) if steps is None else list(steps)
        if node.opset >= 10 and read_at_run_time(node, 3):
            # axes read at run time: each data axis picks its (start, end, step), if any names it
            n, picks = len(axes), list(axes)
            per_axis = {i: tuple(D.call("axis_pick", [i, x.rank, default, n] + picks + list(values), D.axis_pick)
                                 for default, values in ((0, starts), (INT64_MAX, ends), (1, steps)))
                        for i in range(x.rank)}
            node.checks.append((D.call("axes_valid", [x.rank, n] + picks, D.axes_valid), 1,
                                "its axes are valid and distinct"))
        else:
            axes = list(range(len(starts))) if axes is None else [norm_axis(int(a), x.rank) for a in axes]
            per_axis = {a: (s, e, st) for a, s, e, st in zip(axes, starts, ends, steps)}
        runtime_steps = node.opset >= 10 and (read_at_run_time(node, 4) or read_at_run_time(node, 3))
        result = []
        for axis, dim in enumerate(x.shape):
            s, e, st = per_axis.get(axis, (0, INT64_MAX, 1))
            if runtime_steps:  # non-zero when read; no larger than the axis, so strides stay in range
                st = D.call("slice_step", [dim, st], D.slice_step)
            elif isinstance(st, D.Sym) or st == 0:
                fail(node, "slice steps must be fixed non-zero numbers")
            s = max(min(s, INT64_MAX // 2), -INT64_MAX // 2) if not isinstance(s, D.Sym) else s
            e = max(min(e, INT64_MAX // 2), -INT64_MAX // 2) if not isinstance(e, D.Sym) else e
            result.append((dim, s, e, st if isinstance(st, D.Sym) else int(st)))
        return result

    def infer(self, node):
        shape = [D.call("slice_len", [d, s, e, st], D.slice_len) for d, s, e, st in self._params(node)]
        return [(node.inputs[0].dtype, shape)]

    def value(self, node):
        known = node.inputs[0].known_ints()
        if known is None or node.inputs[0].rank != 1:
            return None
        (dim, s, e, st), = self._params(node)
        if any(isinstance(v, D.Sym) for v in (s, e, st)):
            return None
        return [known[slice(D.slice_start(len(known), s, st), None, st)][:D.slice_len(len(known), s, e, st)]]

    def emit(self, node, cg):
        x, out = node.inputs[0], node.outputs[0]
        params = self._params(node)
        strides, stride = [], 1
        for dim in reversed(x.shape):
            strides.insert(0, stride)
            stride = D.mul(stride, dim)
        offset = 0
        for (dim, s, e, st), stride in zip(params, strides):
            offset = D.add(offset, D.mul(D.call("slice_start", [dim, s, st], D.slice_start), stride))
        return [{"template": "strided_copy", "src": cg.var(x), "dst": cg.var(out), "ctype": cg.ctype(x.dtype),
                 "rank": out.rank, "shape": cg.dims(out.shape), "strides": cg.dims(
                     [D.mul(st, stride) for (_, _, _, st), stride in zip(params, strides)]), "offset": cg.dim(offset)}]


@register
class Transpose(OpDef):
    types = ("Transpose",)

    def _perm(self, node):
        perm = node.attr("perm")
        return list(range(node.inputs[0].rank))[::-1] if perm is None else [int(p) for p in perm]

    def infer(self, node):
        x = node.inputs[0]
        return [(x.dtype, [x.shape[p] for p in self._perm(node)])]

    def emit(self, node, cg):
        x, out = node.inputs[0], node.outputs[0]
        if x.rank == 0:
            return [{"template": "copy", "src": cg.var(x), "dst": cg.var(out), "ctype": cg.ctype(x.dtype), "count": "1"}]
        return [{"template": "transpose", "src": cg.var(x), "dst": cg.var(out), "ctype": cg.ctype(x.dtype),
                 "rank": x.rank, "shape": cg.dims(x.shape), "perm": self._perm(node)}]


@register
class BitCast(OpDef):
    """BitCast (opset 26): the same bytes read as another dtype of the same width; a copy (not a view, so the
    planner never sees one buffer under two dtypes)."""
    types = ("BitCast",)

    def _to(self, node):
        from onnx import helper
        return np.dtype(helper.tensor_dtype_to_np_dtype(node.attr("to")))

    def check(self, node):
        x, to = node.inputs[0], self._to(node)
        if x.dtype not in self.dtypes or to not in self.dtypes:
            return f"bitcast {x.dtype} -> {to}"
        if x.dtype.itemsize != to.itemsize:
            return f"bitcast between widths ({x.dtype} is {x.dtype.itemsize} bytes, {to} {to.itemsize}); ONNX " \
                   "requires the same width"
        return None

    def infer(self, node):
        return [(self._to(node), node.inputs[0].shape)]

    def constant(self, node):
        x = node.inputs[0]
        return None if x.data is None else [np.ascontiguousarray(x.data).view(self._to(node))]

    def emit(self, node, cg):
        x, out = node.inputs[0], node.outputs[0]
        return [{"template": "copy", "src": cg.var(x), "dst": cg.var(out), "ctype": cg.ctype(x.dtype),
                 "count": cg.dim(x.numel)}]


@register
class Gather(OpDef):
    types = ("Gather",)

    def infer(self, node):
        x, idx = node.inputs
        axis = norm_axis(node.attr("axis", 0), x.rank)
        return [(x.dtype, x.shape[:axis] + idx.shape + x.shape[axis + 1:])]

    def value(self, node):
        x, idx = node.inputs
        data, indices = x.known_ints(), idx.known_ints()
        if data is None or indices is None or x.rank != 1 or any(isinstance(i, D.Sym) for i in indices):
            return None
        return [[data[i] for i in indices]]

    def check(self, node):
        if node.inputs[1].dtype.kind not in "iu":
            return f"indices of dtype {node.inputs[1].dtype}"
        return super().check(node)

    def emit(self, node, cg):
        x, idx = node.inputs
        out = node.outputs[0]
        axis = norm_axis(node.attr("axis", 0), x.rank)
        outer, inner = _blocks(x.shape, axis)
        return [{"template": "gather", "src": cg.var(x), "dst": cg.var(out), "ctype": cg.ctype(x.dtype),
                 "indices": cg.var(idx), "itype": cg.ctype(idx.dtype), "outer": cg.dim(outer),
                 "n": cg.dim(x.shape[axis]), "inner": cg.dim(inner), "count": cg.dim(idx.numel), "node": c_text(node.name)}]


@register
class GatherElements(OpDef):
    types = ("GatherElements",)

    def infer(self, node):
        return [(node.inputs[0].dtype, node.inputs[1].shape)]

    def emit(self, node, cg):
        x, idx = node.inputs
        return [{"template": "gather_elements", "src": cg.var(x), "dst": cg.var(node.outputs[0]),
                 "ctype": cg.ctype(x.dtype), "indices": cg.var(idx), "itype": cg.ctype(idx.dtype), "rank": x.rank,
                 "data_shape": cg.dims(x.shape), "index_shape": cg.dims(idx.shape),
                 "axis": norm_axis(node.attr("axis", 0), x.rank), "node": c_text(node.name)}]


@register
class GatherND(OpDef):
    """GatherND; with batch_dims b, one gather per index of the b leading (batch) axes of data and indices."""
    types = ("GatherND",)

    def check(self, node):
        x, idx = node.inputs
        b = node.attr("batch_dims", 0)
        if isinstance(idx.shape[-1], D.Sym):
            return "dynamic index depth"
        if not 0 <= b < min(x.rank, idx.rank) or b + int(idx.shape[-1]) > x.rank:
            fail(node, f"batch_dims {b} with index depth {idx.shape[-1]} does not fit data of rank {x.rank} and "
                       f"indices of rank {idx.rank}")
        return super().check(node)

    def infer(self, node):
        x, idx = node.inputs
        k, b = idx.shape[-1], node.attr("batch_dims", 0)
        return [(x.dtype, idx.shape[:-1] + x.shape[b + k:])]

    def emit(self, node, cg):
        x, idx = node.inputs
        out = node.outputs[0]
        b = node.attr("batch_dims", 0)
        return [{"template": "gather_nd", "src": cg.var(x), "dst": cg.var(out), "ctype": cg.ctype(x.dtype),
                 "indices": cg.var(idx), "itype": cg.ctype(idx.dtype), "rank": x.rank - b,
                 "data_shape": cg.dims(x.shape[b:]), "count": cg.dim(D.prod(idx.shape[b:-1])), "k": int(idx.shape[-1]),
                 "node": c_text(node.name), "batch": cg.dim(D.prod(x.shape[:b])) if b else None,
                 "strides": [cg.dim(D.prod(v.shape[b:])) for v in (x, idx, out)]}]


@register
class Tile(OpDef):
    types = ("Tile",)
    shape_inputs = (1,)

    def infer(self, node):
        x = node.inputs[0]
        repeats = require_known(node, 1, "repeats", kind="size")
        if len(repeats) != x.rank:
            fail(node, f"{len(repeats)} repeats for an input of rank {x.rank}")
        return [(x.dtype, [D.mul(d, r) for d, r in zip(x.shape, repeats)])]

    def emit(self, node, cg):
        x = node.inputs[0]
        return [{"template": "tile", "src": cg.var(x), "dst": cg.var(node.outputs[0]), "ctype": cg.ctype(x.dtype),
                 "rank": x.rank, "shape": cg.dims(x.shape), "repeats": cg.dims(require_known(node, 1, "repeats", kind="size"))}]


@register
class Pad(OpDef):
    types = ("Pad",)
    shape_inputs = (1, 3)
    MODES = {"constant": "Constant", "edge": "Edge", "reflect": "Reflect", "wrap": "Wrap"}

    def check(self, node):
        if node.attr("mode", "constant") not in self.MODES:
            return f"mode {node.attr('mode')}"
        return super().check(node)

    def _pads(self, node):
        x = node.inputs[0]
        pads = node.attr("pads") if node.opset < 11 else require_known(node, 1, "pads", kind="pad")
        axes = require_known(node, 3, "axes", kind="axis", rank=x.rank) \
            if node.opset >= 18 and node.input(3) is not None else None
        if len(pads) != 2 * (x.rank if axes is None else len(axes)):
            fail(node, f"{len(pads)} pads for {x.rank if axes is None else len(axes)} axes (two per axis are needed)")
        if axes is None:
            return list(pads)
        if read_at_run_time(node, 3):  # each axis picks its pads, if an axis names it
            n = len(axes)
            return [D.call("axis_pick", [i % x.rank, x.rank, 0, n] + list(axes) + list(pads[n * (i // x.rank):][:n]),
                           D.axis_pick) for i in range(2 * x.rank)]
        full = [0] * (2 * x.rank)
        axes = [norm_axis(int(a), x.rank) for a in axes]
        for i, a in enumerate(axes):
            full[a], full[x.rank + a] = pads[i], pads[len(axes) + i]
        return full

    def infer(self, node):
        x = node.inputs[0]
        pads = self._pads(node)
        if read_at_run_time(node, 3):
            n = node.input(3).numel
            node.checks.append((D.call("axes_valid", [x.rank, n] + require_known(node, 3, "axes", kind="axis",
                                                                                 rank=x.rank), D.axes_valid),
                                1, "its axes are valid and distinct"))
        return [(x.dtype, [D.add(D.add(d, pads[i]), pads[x.rank + i]) for i, d in enumerate(x.shape)])]

    def emit(self, node, cg):
        x = node.inputs[0]
        if node.opset < 11:
            value = literal(node.attr("value", 0.0), x.dtype)
        elif node.input(2) is not None:
            value = cg.scalar(node.inputs[2])
        else:
            value = literal(0, x.dtype)
        return [{"template": "pad", "src": cg.var(x), "dst": cg.var(node.outputs[0]), "ctype": cg.ctype(x.dtype),
                 "rank": x.rank, "shape": cg.dims(x.shape), "pads": cg.dims(self._pads(node)), "value": value,
                 "mode": self.MODES[node.attr("mode", "constant")]}]

