"""Signal processing: DFT, STFT, MelWeightMatrix (kernels in runtime_c/signal.cpp) and the window
functions HannWindow, HammingWindow, BlackmanWindow (a generated loop). Sizes given as graph inputs are
read at run time (runtime_values); the DFT axis too."""
from __future__ import annotations

import numpy as np
from onnx import helper

from .. import dims as D
from ..cpp import c_text
from . import NUMERIC, OpDef, fail, read_at_run_time, register, require_known

REAL = {np.dtype(np.float32), np.dtype(np.float64)}   # types of the signal kernels


def _one(node, index, what, kind, rank=None):
    """The single element of a scalar input (a number, or a variable read at run time)."""
    value = require_known(node, index, what, kind=kind, rank=rank)
    if value is None:
        return None
    if len(value) != 1:
        fail(node, f"its {what} input has {len(value)} elements (one is needed)")
    return value[0]


def _scratch(length, dtype):
    """Elements of `dtype` holding exporter_rt::dft_scratch_doubles(length) doubles."""
    return D.mul(length, 6 * 8 // dtype.itemsize)


def _complex_axis(node, x):
    if x.rank < 2 or isinstance(x.shape[-1], D.Sym) or x.shape[-1] not in (1, 2):
        fail(node, f"its input's last axis must hold 1 (real) or 2 (complex) components; its shape is {x.shape}")


@register
class DFT(OpDef):
    """DFT along one axis (attribute before opset 20, input from 20, possibly read at run time)."""
    types = ("DFT",)
    dtypes = REAL
    shape_inputs = (1, 2)

    def _params(self, node):
        x = node.inputs[0]
        _complex_axis(node, x)
        if node.opset >= 20:
            axis = _one(node, 2, "axis", "axis", x.rank) if node.input(2) is not None else -2
        else:
            axis = node.attr("axis", 1)
        if not isinstance(axis, D.Sym):
            axis = int(axis)
            if not (-x.rank <= axis <= -2 or 0 <= axis <= x.rank - 2):
                fail(node, f"axis {axis} is not a signal axis of its rank-{x.rank} input")
            axis %= x.rank
        length = _one(node, 1, "dft_length", "count") if node.input(1) is not None else None
        return axis, length, bool(node.attr("inverse", 0)), bool(node.attr("onesided", 0))

    def _length(self, node, n):
        _, length, inverse, onesided = self._params(node)
        if length is not None:
            return length
        return D.mul(2, D.sub(n, 1)) if inverse and onesided else n

    def _out_dim(self, node, n):
        _, _, inverse, onesided = self._params(node)
        length = self._length(node, n)
        return D.add(D.floordiv(length, 2), 1) if onesided and not inverse else length

    def infer(self, node):
        x = node.inputs[0]
        axis, _, inverse, onesided = self._params(node)
        shape = list(x.shape[:-1])
        if isinstance(axis, D.Sym):  # every signal axis may be the one: its size where it is
            shape = [D.call("axis_pick", [k, x.rank, n, 1, axis, self._out_dim(node, n)], D.axis_pick)
                     for k, n in enumerate(shape)]
            node.checks.append((D.call("axis_pick", [x.rank - 1, x.rank, 0, 1, axis, 1], D.axis_pick), 0,
                                "its axis is a signal axis (not the last, complex one)"))
        else:
            shape[axis] = self._out_dim(node, shape[axis])
        return [(x.dtype, shape + [1 if inverse and onesided else 2])]

    def scratch(self, node):
        # in sizes the plan knows (the output's: dft_length may be a run-time value): the transform length is
        # the output's axis size, or at most twice it for a one-sided forward transform
        x, y = node.inputs[0], node.outputs[0]
        axis, _, inverse, onesided = self._params(node)
        length = 0
        for k in range(x.rank - 1) if isinstance(axis, D.Sym) else [axis]:
            length = D.maximum(length, D.mul(2, y.shape[k]) if onesided and not inverse else y.shape[k])
        return _scratch(length, x.dtype)

    def emit(self, node, cg):
        x = node.inputs[0]
        axis, length, inverse, onesided = self._params(node)
        step = {"template": "dft", "stft": False, "x": cg.var(x), "y": cg.var(node.outputs[0]),
                "ctype": cg.ctype(x.dtype),
                "c_in": cg.dim(x.shape[-1]), "inverse": inverse, "onesided": onesided,
                "scratch": cg.scratch_var(node)}
        if isinstance(axis, D.Sym):  # [outer, n, inner] found when it runs
            return [dict(step, axis=cg.dim(axis), rank=x.rank, shape=cg.dims(x.shape[:-1]),
                         length=None if length is None else cg.dim(length))]
        n = x.shape[axis]
        return [dict(step, outer=cg.dim(D.prod(x.shape[:axis])), n=cg.dim(n),
                     inner=cg.dim(D.prod(x.shape[axis + 1:-1])), length=cg.dim(self._length(node, n)),
                     n_out=cg.dim(self._out_dim(node, n)))]


@register
class STFT(OpDef):
    """STFT of [batch, signal_length, 1 or 2] signals; frame_step and frame_length may be read at run time."""
    types = ("STFT",)
    dtypes = REAL
    shape_inputs = (1, 3)

    def _params(self, node):
        x = node.inputs[0]
        _complex_axis(node, x)
        if x.rank != 3:
            fail(node, f"its signal must be [batch, signal_length, 1 or 2]; its shape is {x.shape}")
        step = _one(node, 1, "frame_step", "count")
        window = node.input(2)
        if window is not None and window.rank != 1:
            fail(node, f"its window must be 1-D; its shape is {window.shape}")
        if node.input(3) is not None:
            length = _one(node, 3, "frame_length", "count")
        else:
            length = window.shape[0] if window is not None else x.shape[1]
        return step, length, bool(node.attr("onesided", 1))

    def infer(self, node):
        x, window = node.inputs[0], node.input(2)
        step, length, onesided = self._params(node)
        if window is not None and node.input(3) is not None:
            node.checks.append((window.shape[0], length, "its window's size is its frame_length"))
        if window is not None and window.dtype != x.dtype:
            fail(node, f"its window has dtype {window.dtype}, its signal {x.dtype}")
        frames = D.add(D.floordiv(D.sub(x.shape[1], length), step), 1)
        bins = D.add(D.floordiv(length, 2), 1) if onesided else length
        return [(x.dtype, [x.shape[0], frames, bins, 2])]

    def scratch(self, node):
        # in sizes the plan knows: the frame length is the bins (at most twice them, one-sided)
        bins = node.outputs[0].shape[2]
        return _scratch(D.mul(2, bins) if self._params(node)[2] else bins, node.inputs[0].dtype)

    def emit(self, node, cg):
        x, window, y = node.inputs[0], node.input(2), node.outputs[0]
        step, length, onesided = self._params(node)
        return [{"template": "dft", "stft": True, "x": cg.var(x), "y": cg.var(y), "ctype": cg.ctype(x.dtype),
                 "window": cg.var(window) if window is not None else "nullptr", "batch": cg.dim(x.shape[0]),
                 "signal_length": cg.dim(x.shape[1]), "c_in": cg.dim(x.shape[2]), "step": cg.dim(step),
                 "length": cg.dim(length), "frames": cg.dim(y.shape[1]), "onesided": onesided,
                 "scratch": cg.scratch_var(node)}]


def _output_dtype(node, allowed, default=1):
    dtype = np.dtype(helper.tensor_dtype_to_np_dtype(node.attr("output_datatype", default)))
    return dtype if dtype in allowed else None


@register
class MelWeightMatrix(OpDef):
    types = ("MelWeightMatrix",)
    dtypes = NUMERIC
    shape_inputs = (0, 1)

    def check(self, node):
        if _output_dtype(node, REAL) is None:
            return f"output_datatype {node.attr('output_datatype')} (float and double are supported)"
        edges = [node.input(3), node.input(4)]
        if any(v is None or v.dtype not in REAL or v.numel != 1 for v in edges):
            return "lower/upper edge hertz other than float or double scalars"
        return super().check(node)

    def infer(self, node):
        bins = _one(node, 0, "num_mel_bins", "size")
        length = _one(node, 1, "dft_length", "size")
        return [(_output_dtype(node, REAL), [D.add(D.floordiv(length, 2), 1), bins])]

    def emit(self, node, cg):
        y = node.outputs[0]
        lower, upper = node.inputs[3:5]
        return [{"template": "mel_weight_matrix", "node": c_text(node.name), "y": cg.var(y), "ctype": cg.ctype(y.dtype),
                 "etype": cg.ctype(lower.dtype), "bins": cg.dim(y.shape[1]),
                 "length": cg.dim(_one(node, 1, "dft_length", "size")),
                 "rate": f"int64_t({cg.scalar(node.inputs[2])})", "lower": cg.scalar(lower),
                 "upper": cg.scalar(upper)}]


# window: coefficients (a0, a1, a2) of a0 - a1 cos(2 pi n / N) + a2 cos(4 pi n / N)
WINDOWS = {"HannWindow": (0.5, 0.5, 0.0), "HammingWindow": (25 / 46, 21 / 46, 0.0),
           "BlackmanWindow": (0.42, 0.5, 0.08)}


@register
class Window(OpDef):
    """HannWindow, HammingWindow, BlackmanWindow: N = size (periodic) or size - 1 (symmetric)."""
    types = tuple(WINDOWS)
    dtypes = NUMERIC
    shape_inputs = (0,)

    def check(self, node):
        if _output_dtype(node, NUMERIC) is None:
            return f"output_datatype {node.attr('output_datatype')}"
        return super().check(node)

    def infer(self, node):
        return [(_output_dtype(node, NUMERIC), [_one(node, 0, "size", "size")])]

    def emit(self, node, cg):
        y = node.outputs[0]
        a0, a1, a2 = WINDOWS[node.op]
        size = cg.dim(y.shape[0])
        return [{"template": "window", "y": cg.var(y), "ctype": cg.ctype(y.dtype), "size": size,
                 "period": size if node.attr("periodic", 1) else f"({size} - 1)",
                 "a0": repr(a0), "a1": repr(a1), "a2": repr(a2)}]
