"""Neural-network operations NumPy lacks. Each works eagerly on NumPy arrays and is traced to a single
ONNX operator when given traced arrays: the eager definition and its lowering sit side by side.

>>> import numpy as np, exporter.ops as ops
>>> ops.softmax(np.array([0.0, 1.0])).round(3)
array([0.269, 0.731])
"""
from __future__ import annotations

import functools
import math

import numpy as np

from .errors import UnsupportedError, tracing_error
from .tracing.tracer import FUNCTIONS, Tracer, find_graph, lowers, name_of, norm_axis, trace_function

__all__ = ["softmax", "log_softmax", "relu", "sigmoid", "gelu", "erf", "conv2d", "max_pool2d", "avg_pool2d",
           "layer_norm", "batch_norm", "gather"]


def _op(eager):
    """Make `eager` trace itself (through the lowering registered for it) when given traced arrays."""
    @functools.wraps(eager)
    def op(*args, **kwargs):
        if find_graph(args, kwargs) is None:
            return eager(*args, **kwargs)
        return trace_function(eager, FUNCTIONS[op], args, kwargs, label=f"exporter.ops.{eager.__name__}")
    return op


def _float(x):
    x = np.asarray(x)
    return x if x.dtype.kind == "f" else x.astype(np.float64)


def _pair(v):
    return (int(v), int(v)) if np.ndim(v) == 0 else tuple(int(i) for i in v)


# --- activations -------------------------------------------------------------------------------------

@_op
def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along `axis`, computed stably."""
    x = _float(x)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


@lowers(softmax)
def _softmax(g, res, x, axis=-1):
    return g.op("Softmax", name_of(g, x, res.dtype), axis=norm_axis(axis, res.ndim))


@_op
def log_softmax(x, axis=-1):
    """log(softmax(x)) along `axis`, computed stably."""
    x = _float(x)
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


@lowers(log_softmax)
def _log_softmax(g, res, x, axis=-1):
    return g.op("LogSoftmax", name_of(g, x, res.dtype), axis=norm_axis(axis, res.ndim))


@_op
def relu(x):
    """max(x, 0)."""
    x = np.asarray(x)
    return np.maximum(x, np.zeros((), x.dtype))


@lowers(relu)
def _relu(g, res, x):
    if res.dtype.kind != "f":  # ONNX Runtime has Relu kernels for floats only
        return g.op("Max", name_of(g, x), g.const(np.zeros((), res.dtype)))
    return g.op("Relu", name_of(g, x))


@_op
def sigmoid(x):
    """1 / (1 + exp(-x))."""
    x = _float(x)
    return np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x)))).astype(x.dtype)


@lowers(sigmoid)
def _sigmoid(g, res, x):
    return g.op("Sigmoid", name_of(g, x, res.dtype))


_erf_scalar = np.frompyfunc(math.erf, 1, 1)


@_op
def erf(x):
    """The Gauss error function, elementwise."""
    x = _float(x)
    return _erf_scalar(x.astype(np.float64)).astype(x.dtype) if x.ndim else np.asarray(math.erf(x), x.dtype)


@lowers(erf)
def _erf(g, res, x):
    return g.op("Erf", name_of(g, x, res.dtype))


@_op
def gelu(x, approximate="none"):
    """Gaussian error linear unit: x * Phi(x); approximate='tanh' uses the tanh formula."""
    x = _float(x)
    if approximate == "tanh":
        inner = np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)
        return (0.5 * x * (1 + np.tanh(inner))).astype(x.dtype)
    if approximate != "none":
        raise ValueError("approximate must be 'none' or 'tanh'")
    return (0.5 * x * (1 + erf(x / np.sqrt(2)))).astype(x.dtype)


@lowers(gelu)
def _gelu(g, res, x, approximate="none"):
    return g.op("Gelu", name_of(g, x, res.dtype), approximate=approximate)


# --- convolution and pooling (NCHW) -----------------------------------------------------------------

def _windows(x, kernel, stride, dilation):
    """(N, C, OH, OW, KH, KW) view of sliding windows over a padded NCHW array."""
    kh, kw = kernel
    span = ((kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1)
    view = np.lib.stride_tricks.sliding_window_view(x, span, axis=(2, 3))
    return view[:, :, ::stride[0], ::stride[1], ::dilation[0], ::dilation[1]]


def _pad_hw(x, padding, value=0.0):
    ph, pw = _pair(padding)
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


@_op
def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation) of NCHW `x` with OIHW `weight`, as in PyTorch."""
    x, weight = _float(x), np.asarray(weight)
    dtype = np.result_type(x, weight)
    n, c = x.shape[:2]
    o, cg, kh, kw = weight.shape
    if c != cg * groups or o % groups:
        raise ValueError(f"conv2d: input has {c} channels but weight {weight.shape} with groups={groups}")
    win = _windows(_pad_hw(x, padding), (kh, kw), _pair(stride), _pair(dilation))
    oh, ow = win.shape[2:4]
    win = win.reshape(n, groups, cg, oh, ow, kh, kw)
    w = weight.reshape(groups, o // groups, cg, kh, kw)
    out = np.einsum("ngchwij,gocij->ngohw", win, w, optimize=True).reshape(n, o, oh, ow)
    if bias is not None:
        out = out + np.asarray(bias).reshape(1, -1, 1, 1)
    return out.astype(dtype)


@lowers(conv2d)
def _conv2d(g, res, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    ph, pw = _pair(padding)
    inputs = [name_of(g, x, res.dtype), name_of(g, weight, res.dtype)]
    if bias is not None:
        inputs.append(name_of(g, bias, res.dtype))
    w = weight.value if isinstance(weight, Tracer) else np.asarray(weight)
    return g.op("Conv", *inputs, kernel_shape=list(w.shape[2:]), strides=list(_pair(stride)),
                pads=[ph, pw, ph, pw], dilations=list(_pair(dilation)), group=int(groups))


@_op
def max_pool2d(x, kernel_size, stride=None, padding=0):
    """Max pooling over NCHW `x` (stride defaults to kernel_size; padding counts as -inf)."""
    x = np.asarray(x)
    kernel = _pair(kernel_size)
    low = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    win = _windows(_pad_hw(x, padding, low), kernel, _pair(stride or kernel_size), (1, 1))
    return win.max(axis=(4, 5))


@lowers(max_pool2d)
def _max_pool2d(g, res, x, kernel_size, stride=None, padding=0):
    ph, pw = _pair(padding)
    return g.op("MaxPool", name_of(g, x), kernel_shape=list(_pair(kernel_size)),
                strides=list(_pair(stride or kernel_size)), pads=[ph, pw, ph, pw])


@_op
def avg_pool2d(x, kernel_size, stride=None, padding=0, count_include_pad=True):
    """Average pooling over NCHW `x`; like PyTorch, padded zeros count unless count_include_pad=False."""
    x = _float(x)
    kernel = _pair(kernel_size)
    strides = _pair(stride or kernel_size)
    total = _windows(_pad_hw(x, padding), kernel, strides, (1, 1)).sum(axis=(4, 5))
    if count_include_pad:
        return (total / (kernel[0] * kernel[1])).astype(x.dtype)
    ones = _pad_hw(np.ones((1, 1) + x.shape[2:], x.dtype), padding)
    count = _windows(ones, kernel, strides, (1, 1)).sum(axis=(4, 5))
    return (total / count).astype(x.dtype)


@lowers(avg_pool2d)
def _avg_pool2d(g, res, x, kernel_size, stride=None, padding=0, count_include_pad=True):
    ph, pw = _pair(padding)
    return g.op("AveragePool", name_of(g, x, res.dtype), kernel_shape=list(_pair(kernel_size)),
                strides=list(_pair(stride or kernel_size)), pads=[ph, pw, ph, pw],
                count_include_pad=int(bool(count_include_pad)))


# --- normalization ----------------------------------------------------------------------------------

@_op
def layer_norm(x, weight=None, bias=None, eps=1e-5, axis=-1):
    """Normalize over the axes from `axis` to the last, then scale and shift."""
    x = _float(x)
    axes = tuple(range(norm_axis(axis, x.ndim), x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + np.asarray(eps, x.dtype))
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y.astype(x.dtype)


@lowers(layer_norm)
def _layer_norm(g, res, x, weight=None, bias=None, eps=1e-5, axis=-1):
    axis = norm_axis(axis, res.ndim)
    norm_shape = res.shape[axis:]
    if weight is None:
        weight = np.ones(norm_shape, res.dtype)
    inputs = [name_of(g, x, res.dtype), name_of(g, np.broadcast_to(weight, norm_shape) if not isinstance(
        weight, Tracer) else weight, res.dtype)]
    if bias is not None:
        inputs.append(name_of(g, bias, res.dtype))
    return g.op("LayerNormalization", *inputs, axis=axis, epsilon=float(eps))


@_op
def batch_norm(x, mean, var, weight=None, bias=None, eps=1e-5):
    """Inference-mode batch normalization over channel axis 1 with running statistics."""
    x = _float(x)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    y = (x - np.reshape(mean, shape)) / np.sqrt(np.reshape(var, shape) + np.asarray(eps, x.dtype))
    if weight is not None:
        y = y * np.reshape(weight, shape)
    if bias is not None:
        y = y + np.reshape(bias, shape)
    return y.astype(x.dtype)


@lowers(batch_norm)
def _batch_norm(g, res, x, mean, var, weight=None, bias=None, eps=1e-5):
    channels = res.shape[1]
    weight = np.ones(channels, res.dtype) if weight is None else weight
    bias = np.zeros(channels, res.dtype) if bias is None else bias
    names = [name_of(g, v, res.dtype) for v in (x, weight, bias, mean, var)]
    return g.op("BatchNormalization", *names, epsilon=float(eps))


# --- indexing -----------------------------------------------------------------------------------------

@_op
def gather(table, indices, axis=0):
    """table[indices] along `axis` (e.g. an embedding lookup); works with traced indices into a
    constant table, which plain NumPy indexing cannot express."""
    return np.take(np.asarray(table), np.asarray(indices), axis=axis)


@lowers(gather)
def _gather(g, res, table, indices, axis=0):
    t = table.value if isinstance(table, Tracer) else np.asarray(table)
    if np.asarray(indices if not isinstance(indices, Tracer) else indices.value).dtype.kind not in "iu":
        raise tracing_error("exporter.ops.gather needs integer indices", cls=UnsupportedError)
    return g.op("Gather", name_of(g, table), name_of(g, indices, np.int64), axis=norm_axis(axis, t.ndim))
