"""The op table: one row per traced function (and dtype), shared by the ONNX Runtime tests and the
native-backend tests, so every op is checked three ways: NumPy eager, ONNX Runtime, native binary.

A row is `Case(name, fn, inputs, dynamic)`: `inputs(rng, scale)` makes fresh example inputs (scale > 1
stretches the dynamic axes so that other run-time sizes get tested too).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from onnx import numpy_helper

import exporter
from exporter import ops
from exporter.tracing.tracer import find_graph, name_of, trace_function

F32, F64, I32, I64, B = np.float32, np.float64, np.int32, np.int64, np.bool_
FLOATS, INTS, NUMERIC = (F32, F64), (I32, I64), (F32, F64, I32, I64)


@dataclass
class Case:
    name: str
    fn: object
    inputs: object  # rng, batch -> tuple of arrays
    dynamic: dict = field(default_factory=dict)
    rtol: float | None = None

    def __repr__(self):
        return self.name


def rand(shape, dtype, low=-3.0, high=3.0):
    """Random array maker of `dtype`; a leading 'B' in shape is the (dynamic) batch size."""
    def make(rng, batch=2):
        s = tuple(batch if d == "B" else d for d in shape)
        if np.dtype(dtype) == np.bool_:
            return rng.random(s) > 0.5
        if np.dtype(dtype).kind in "iu":
            return rng.integers(int(low), int(high) + 1, s).astype(dtype)
        return rng.uniform(low, high, s).astype(dtype)
    return make


def nonzero_ints(shape, dtype):
    def make(rng, batch=2):
        x = rand(shape, dtype, -5, 5)(rng, batch)
        return np.where(x == 0, 3, x).astype(dtype)
    return make


def inputs(*makers):
    return lambda rng, batch=2: tuple(m(rng, batch) for m in makers)


CASES: list[Case] = []


def case(name, fn, *makers, dynamic=None, rtol=None):
    CASES.append(Case(name, fn, inputs(*makers), dynamic or {}, rtol))


BATCH = {"x": {0: "batch"}}

# --- binary ufuncs over dtypes ---------------------------------------------------------------------
for dt in NUMERIC:
    n = np.dtype(dt).name
    case(f"add_{n}", lambda x, y: x + y, rand(("B", 3), dt), rand((3,), dt), dynamic=BATCH)
    case(f"subtract_{n}", np.subtract, rand((2, 3), dt), rand((2, 1), dt))
    case(f"multiply_{n}", lambda x, y: x * y, rand((4, 3), dt), rand((4, 3), dt))
    case(f"true_divide_{n}", lambda x, y: x / y, rand((4, 3), dt), nonzero_ints((4, 3), dt))
    case(f"floor_divide_{n}", lambda x, y: x // y, rand((4, 5), dt, -9, 9), nonzero_ints((4, 5), dt))
    case(f"mod_{n}", lambda x, y: x % y, rand((4, 5), dt, -9, 9), nonzero_ints((4, 5), dt))
    case(f"maximum_{n}", np.maximum, rand((3, 4), dt), rand((4,), dt))
    case(f"minimum_{n}", np.minimum, rand((3, 4), dt), rand((3, 1), dt))
    case(f"compare_{n}", lambda x, y: (x < y, x <= y, x > y, x >= y, x == y, x != y),
         rand((3, 4), dt, -2, 2), rand((3, 4), dt, -2, 2))
    case(f"negative_abs_sign_{n}", lambda x: (-x, np.abs(x), np.sign(x), +x), rand((3, 4), dt))
    case(f"square_{n}", np.square, rand((3, 4), dt))
    case(f"fmod_{n}", np.fmod, rand((4, 5), dt, -9, 9), nonzero_ints((4, 5), dt))
for dt in FLOATS:
    n = np.dtype(dt).name
    case(f"power_{n}", lambda x, y: x ** y, rand((3, 4), dt, 0.1, 3), rand((3, 4), dt, -2, 2))
    case(f"exp_log_{n}", lambda x: (np.exp(x), np.log(np.abs(x) + 0.1), np.log2(x * x + 1), np.log10(x * x + 1),
                                   np.exp2(x)), rand((3, 4), dt))
    case(f"log1p_expm1_{n}", lambda x: (np.log1p(x), np.expm1(x)), rand((3, 4), dt, -0.5, 2))
    case(f"log1p_expm1_tiny_{n}", lambda x: (np.log1p(x), np.expm1(x)), rand((3, 4), dt, -1e-9, 1e-9))
    case(f"sqrt_reciprocal_{n}", lambda x: (np.sqrt(x), np.reciprocal(x)), rand((3, 4), dt, 0.1, 5))
    case(f"trig_{n}", lambda x: (np.sin(x), np.cos(x), np.tan(x), np.tanh(x), np.sinh(x), np.cosh(x)),
         rand((3, 4), dt, -1.2, 1.2))
    case(f"inverse_trig_{n}", lambda x: (np.arcsin(x), np.arccos(x), np.arctan(x), np.arcsinh(x),
                                         np.arctanh(x * 0.9), np.arccosh(np.abs(x) + 1)), rand((3, 4), dt, -1, 1))
    case(f"rounding_{n}", lambda x: (np.floor(x), np.ceil(x), np.rint(x), np.trunc(x), np.round(x),
                                     np.round(x, 2), np.around(x, 1)), rand((3, 4), dt, -5, 5))
    case(f"isnan_isinf_isfinite_{n}", lambda x: (np.isnan(x), np.isinf(x), np.isfinite(x)),
         lambda rng, batch=2, dt=dt: np.array([0.0, np.nan, np.inf, -np.inf, 1.5, -2.0], dt))
    case(f"deg_rad_{n}", lambda x: (np.deg2rad(x), np.rad2deg(x)), rand((3, 4), dt))
    case(f"power_int_exponent_{n}", lambda x: x ** 2 + x ** 3, rand((3, 4), dt))
for dt in INTS:
    n = np.dtype(dt).name
    case(f"power_{n}", lambda x, y: x ** y, rand((3, 4), dt, -3, 3), rand((3, 4), dt, 0, 3))
    case(f"bitwise_{n}", lambda x, y: (x & y, x | y, x ^ y, ~x), rand((3, 4), dt, -50, 50), rand((3, 4), dt, 0, 50))
    case(f"int_unary_floats_{n}", lambda x: (np.sqrt(np.abs(x)), np.exp(x * 0), np.floor(x), np.isnan(x),
                                             np.isinf(x), np.isfinite(x), np.reciprocal(x)),
         nonzero_ints((3, 4), dt))
case("logical_bool", lambda x, y: (x & y, x | y, x ^ y, ~x, np.logical_and(x, y), np.logical_or(x, y),
                                   np.logical_xor(x, y), np.logical_not(x)), rand((3, 4), B), rand((3, 4), B))
case("logical_of_floats", lambda x, y: (np.logical_and(x, y), np.logical_not(x)),
     rand((3, 4), F32, -1, 1), rand((3, 4), F32))
case("bool_arith", lambda x, y: (x + y, x * y, np.maximum(x, y), np.minimum(x, y), np.abs(x)),
     rand((3, 4), B), rand((3, 4), B))

# --- NEP 50 promotion ---------------------------------------------------------------------------------
case("promote_f32_python_float", lambda x: x * 2.5 + 1, rand((3,), F32))
case("promote_f32_np_float64", lambda x: x * np.float64(2.0), rand((3,), F32))
case("promote_f32_i64", lambda x, y: x + y, rand((3,), F32), rand((3,), I64))
case("promote_i32_python_int", lambda x: x * 3 + 1, rand((3,), I32))
case("promote_i32_i64", lambda x, y: x - y, rand((3,), I32), rand((3,), I64))
case("promote_i32_python_float", lambda x: x * 0.5, rand((3,), I32))
case("promote_bool_int", lambda x, y: x + y, rand((3,), B), rand((3,), I32))
case("true_divide_ints_promote", lambda x, y: x / y, rand((3,), I32), nonzero_ints((3,), I64))
case("reverse_operators", lambda x: (2 - x, 3 / (x + 10), 2 ** x, 7 // (x + 10), 5 % (x + 10)), rand((3,), F32, 0, 2))

# --- functions ---------------------------------------------------------------------------------------
for dt in NUMERIC:
    n = np.dtype(dt).name
    case(f"where_{n}", lambda c, x, y: np.where(c > 0, x, y), rand((3, 4), F32), rand((3, 4), dt), rand((4,), dt))
    case(f"clip_{n}", lambda x: (np.clip(x, -1, 2), x.clip(0, None), np.clip(x, None, 1)), rand((3, 4), dt))
    case(f"astype_{n}", lambda x: (x.astype(np.float32), x.astype(np.float64), x.astype(np.int32),
                                   x.astype(np.int64), x.astype(bool)), rand((3, 4), dt, -9, 9))
case("where_scalar_branches", lambda x: np.where(x > 0, x, 0.1 * x), rand((3, 4), F32))
case("clip_arrays", lambda x, lo: np.clip(x, lo, lo + 1), rand((3, 4), F32), rand((4,), F32))
case("astype_bool", lambda x: (x.astype(np.float32), x.astype(np.int64)), rand((3, 4), B))

# --- reductions ---------------------------------------------------------------------------------------
for dt in NUMERIC:
    n = np.dtype(dt).name
    case(f"sum_{n}", lambda x: (x.sum(), x.sum(axis=0), np.sum(x, axis=(0, 2), keepdims=True), x.sum(-1)),
         rand(("B", 3, 4), dt), dynamic=BATCH)
    case(f"mean_{n}", lambda x: (x.mean(), x.mean(axis=1), np.mean(x, axis=-1, keepdims=True)), rand((2, 3, 4), dt))
    case(f"max_min_{n}", lambda x: (x.max(), x.min(axis=0), np.max(x, axis=1, keepdims=True), np.amin(x, 1),
                                    np.amax(x)), rand((3, 4), dt))
    case(f"prod_{n}", lambda x: (x.prod(axis=1), np.prod(x)), rand((3, 4), dt, -2, 2))
    case(f"argmax_argmin_{n}", lambda x: (x.argmax(), x.argmin(axis=0), np.argmax(x, axis=-1, keepdims=True)),
         rand((3, 4), dt, -100, 100))
    case(f"cumsum_{n}", lambda x: (x.cumsum(), np.cumsum(x, axis=1), np.add.accumulate(x, axis=0)), rand((3, 4), dt))
    case(f"var_std_{n}", lambda x: (x.var(), x.std(axis=0), np.var(x, axis=1, ddof=1), np.std(x, keepdims=True)),
         rand((3, 4), dt))
for dt in NUMERIC:
    n = np.dtype(dt).name
    # small integers make ties: argsort orders them by index, NumPy's kind="stable"
    case(f"sort_argsort_{n}", lambda x: (np.sort(x), np.sort(x, axis=0), np.argsort(x, kind="stable"),
                                         x.argsort(axis=0, kind="stable"), np.sort(x, axis=None),
                                         np.argsort(x, axis=None, kind="stable")),
         rand(("B", 5), dt, -3, 3), dynamic=BATCH)
    case(f"cumprod_{n}", lambda x: (np.cumprod(x), np.cumprod(x, axis=1), x.cumprod(0), np.multiply.accumulate(x)),
         rand(("B", 4), dt, -2, 2), dynamic=BATCH)
case("sort_argsort_bool", lambda x: (np.sort(x, axis=1), np.argsort(x, axis=0, kind="stable")), rand((4, 3), B))
case("sort_nan_inf", lambda x: (np.sort(x), np.argsort(x, kind="stable"), np.sort(-x, axis=0)),
     lambda rng, batch=2: np.array([[3, np.nan, 1, -np.inf, np.nan, 2, np.inf], [0, 1, 0, -1, 2, -2, 5]], F32))
case("cumprod_bool_3d", lambda x: (np.cumprod(x, axis=1), np.cumprod(x, axis=-1)), rand((2, 3, 4), B))
case("all_any", lambda x: (x.all(), x.any(axis=0), np.all(x, axis=1, keepdims=True), np.any(x > 0.5)),
     rand((3, 4), B))
case("all_any_floats", lambda x: (np.all(x, axis=0), np.any(x)), rand((3, 4), F32, -1, 1))
case("max_min_bool", lambda x: (x.max(axis=0), x.min()), rand((3, 4), B))
case("ufunc_reduce", lambda x: (np.add.reduce(x), np.multiply.reduce(x, axis=1), np.maximum.reduce(x, axis=None)),
     rand((3, 4), F32))
case("var_dynamic_ddof", lambda x: (np.var(x, axis=0, ddof=1), np.std(x, axis=0)), rand(("B", 4), F32),
     dynamic=BATCH)

# --- linear algebra -----------------------------------------------------------------------------------
for dt in NUMERIC:
    n = np.dtype(dt).name
    case(f"matmul_{n}", lambda x, w: x @ w, rand(("B", 5), dt), rand((5, 3), dt), dynamic=BATCH)
    case(f"dot_{n}", lambda x, y: (np.dot(x, y), x.dot(y[:, 0]), np.dot(x[0], y[:, 0])), rand((3, 4), dt),
         rand((4, 2), dt))
case("matmul_batched_broadcast", lambda x, w: (x @ w, np.matmul(x, w[0])), rand((2, 3, 4, 5), F32),
     rand((3, 5, 6), F32))
case("matmul_vector", lambda x, v: (x @ v, v @ x.T), rand((3, 4), F32), rand((4,), F32))
case("matmul_mixed_dtypes", lambda x, w: x @ w, rand((3, 4), F32), rand((4, 2), I64))
case("dot_nd", lambda x, y: np.dot(x, y), rand((2, 3, 4), F32), rand((5, 4, 2), F32))
case("einsum", lambda x, y: (np.einsum("bij,bjk->bik", x, y), np.einsum("bij->bji", x), np.einsum("bij,bij->b", x, x)),
     rand((2, 3, 4), F32), rand((2, 4, 5), F32))
# an ellipsis: batch axes, a batched diagonal, the implicit output (ellipsis axes first)
case("einsum_ellipsis", lambda x, y: (np.einsum("...ij,...jk->...ik", x, y), np.einsum("...ii->...i", y[..., :3, :]),
                                      np.einsum("b...j,b...j", x, x)),
     rand((2, 3, 3, 4), F32), rand((2, 3, 4, 3), F32))
case("tensordot", lambda x, y: (np.tensordot(x, y, axes=1), np.tensordot(x, y[:, :, 0], axes=([2, 1], [0, 1]))),
     rand((2, 3, 4), F32), rand((4, 3, 3), F32))
case("outer", lambda x, y: np.outer(x, y), rand((3,), F32), rand((4,), F32))
case("linalg_norm", lambda x: (np.linalg.norm(x), np.linalg.norm(x, axis=1), np.linalg.norm(x, ord=1, axis=0),
                               np.linalg.norm(x, ord=np.inf, axis=1, keepdims=True), np.linalg.norm(x[0], 3)),
     rand((3, 4), F32))
case("linalg_norm_int", lambda x: np.linalg.norm(x, axis=-1), rand((3, 4), I32))

# --- shapes and data movement -----------------------------------------------------------------------
for dt in (F32, I64, B):
    n = np.dtype(dt).name
    case(f"reshape_transpose_{n}", lambda x: (x.reshape(4, 6), x.reshape(-1), x.T, x.transpose(1, 0, 2),
                                              np.transpose(x, (2, 0, 1)), x.ravel(), x.flatten()), rand((2, 3, 4), dt))
    case(f"concat_stack_{n}", lambda x, y: (np.concatenate([x, y], axis=1), np.stack([x, x], axis=-1),
                                            np.concatenate([x, y], axis=None), np.hstack([x, y]), np.vstack([x, x])),
         rand((2, 3), dt), rand((2, 2), dt))
    case(f"indexing_{n}", lambda x: (x[0], x[-1, 1:], x[:, ::2], x[::-1], x[..., 1], x[None, 1, :, None],
                                     x[1:-1, ::-2, 2], x[:, :, None]), rand((4, 5, 3), dt))
case("swap_move_expand_squeeze", lambda x: (np.swapaxes(x, 0, 2), np.moveaxis(x, 0, -1), np.expand_dims(x, (0, 2)),
                                             np.squeeze(x[:, :1]), x[:, :1].squeeze(1), x.mT),
     rand((2, 3, 4), F32))
case("broadcast_to", lambda x: np.broadcast_to(x, (3, 2, 4)), rand((2, 1), F32))
case("split", lambda x: (*np.split(x, 2, axis=1), *np.split(x, [1, 3]), *np.array_split(x, 3, axis=1)),
     rand((4, 6), F32))
case("pad", lambda x: (np.pad(x, 1), np.pad(x, ((0, 1), (2, 0)), constant_values=-1.5),
                       np.pad(x, 2, mode="edge"), np.pad(x, 1, mode="reflect"), np.pad(x, 1, mode="wrap")),
     rand((3, 4), F32))
case("flip", lambda x: (np.flip(x), np.flip(x, axis=1), np.fliplr(x), np.flipud(x)), rand((3, 4), F32))
case("tile_repeat", lambda x: (np.tile(x, 2), np.tile(x, (2, 1, 1)), np.repeat(x, 2), np.repeat(x, 3, axis=1),
                               np.repeat(x, [1, 0, 2], axis=0)), rand((3, 2), F32))
case("take", lambda x: (np.take(x, [0, 2, -1]), np.take(x, [[1, 0], [2, 2]], axis=1), x.take([1], axis=0)),
     rand((3, 4), F32))
case("take_traced_indices", lambda x, i: (np.take(x, i, axis=0), x[i], ops.gather(np.arange(12.0).reshape(6, 2), i)),
     rand((6, 4), F32), rand((5,), I64, 0, 5))
case("take_along_axis", lambda x: (np.take_along_axis(x, np.array([[0, 2], [1, 1], [3, 0]]), axis=1),
                                   np.take_along_axis(x, np.array([[0, 2, 1, 1]]), axis=0)), rand((3, 4), F32))
case("take_along_axis_traced", lambda x: np.take_along_axis(x, np.argmax(x, axis=1, keepdims=True), axis=1),
     rand((3, 4), F32))
case("advanced_indexing", lambda x: (x[[0, 2]], x[:, [1, 3, 0]], x[[0, 1], [2, 3]], x[np.array([True, False, True])],
                                     x[x.shape[0] - 1], x[1, [0, 2]], x[[[0], [1]], [1, 2]]),
     rand((3, 4, 2), F32))
case("advanced_indexing_separated", lambda x: x[[0, 1], :, [1, 0]], rand((2, 3, 2), F32))
case("bool_mask_constant", lambda x: x[np.array([[True, False], [False, True], [True, True]])], rand((3, 2), F32))
case("creation_like", lambda x: (np.zeros_like(x), np.ones_like(x, dtype=np.int32), np.full_like(x, 7.0), x + np.ones(4),
                                 x * np.arange(4), x @ np.eye(4), np.full((2, 4), 3) + x[0]),
     rand(("B", 4), F32), dynamic=BATCH)
case("constructors_over_dynamic_sizes",
     lambda x: (np.arange(x.shape[0]), x * np.arange(x.shape[0], dtype=np.float32)[:, None],
                np.arange(1, x.shape[0] + 1, 2), np.arange(start=x.shape[0], stop=0, step=-1),
                np.zeros((x.shape[0], 2)) + 1, np.ones(x.shape, np.int32), np.full((2, x.shape[0]), 2.5),
                np.full(x.shape[0], 7, dtype=np.int64)),
     rand(("B", 3), F32), dynamic=BATCH)
case("zeros_like_static", lambda x: np.zeros_like(x) + x, rand((3, 4), F32))
case("copy_and_iteration", lambda x: tuple(r * 2 for r in x) + (np.copy(x), len(x) * x), rand((2, 3), F32))
case("python_loop_unrolls", lambda x: sum(x[:, i] for i in range(x.shape[1])), rand((3, 4), F32))
case("constant_folding", lambda x: x + np.sin(np.arange(4.0)).astype(np.float32) * np.exp(1.0), rand((3, 4), F32))
case("scalar_output_and_constant_output", lambda x: (x.sum(), np.float32(3.0) * np.ones(2)), rand((3,), F32))
case("input_passthrough", lambda x, y: (x, y, x), rand((2,), F32), rand((2,), I64))
case("atleast", lambda x: (np.atleast_2d(x), np.atleast_3d(x), np.atleast_1d(x[0])), rand((4,), F32))

# --- dynamic axes -------------------------------------------------------------------------------------
case("dynamic_reshape", lambda x: x.reshape(x.shape[0], -1).reshape(x.shape[0] * 3, 4), rand(("B", 3, 4), F32),
     dynamic=BATCH)
case("dynamic_slicing", lambda x: (x[1:], x[:-1] - x[1:], x[::2], x[-1], x[:, 0]), rand(("B", 3), F32), dynamic=BATCH)
case("dynamic_mean_and_broadcast", lambda x: (x - x.mean(axis=0), np.broadcast_to(x[:, :1], (x.shape[0], 5)),
                                              x / x.shape[0]), rand(("B", 3), F32), dynamic=BATCH)
case("dynamic_sizes_returned", lambda x: (x + 1, x.shape[0], x.shape[0] * x.shape[1], x.size), rand(("B", 3), F32),
     dynamic=BATCH)
case("dynamic_concat", lambda x: np.concatenate([x, x * 2], axis=0), rand(("B", 3), F32), dynamic=BATCH)

# --- exporter.ops -------------------------------------------------------------------------------------
for dt in FLOATS:
    n = np.dtype(dt).name
    case(f"activations_{n}", lambda x: (ops.softmax(x), ops.log_softmax(x, axis=0), ops.relu(x), ops.sigmoid(x),
                                        ops.gelu(x), ops.gelu(x, approximate="tanh"), ops.erf(x)), rand((3, 5), dt))
    case(f"conv2d_{n}", lambda x, w, b: (ops.conv2d(x, w, b), ops.conv2d(x, w, stride=2, padding=1),
                                         ops.conv2d(x, w, dilation=2, padding=2)),
         rand(("B", 3, 9, 9), dt), rand((4, 3, 3, 3), dt), rand((4,), dt), dynamic=BATCH)
    case(f"pool_{n}", lambda x: (ops.max_pool2d(x, 2), ops.max_pool2d(x, 3, stride=2, padding=1), ops.avg_pool2d(x, 2),
                                 ops.avg_pool2d(x, 3, 2, 1), ops.avg_pool2d(x, 3, 2, 1, count_include_pad=False)),
         rand(("B", 2, 8, 8), dt), dynamic=BATCH)
    case(f"norms_{n}", lambda x, g, b: (ops.layer_norm(x, g, b), ops.layer_norm(x, axis=1),
                                        ops.batch_norm(x, g, np.abs(b) + 0.5, g, b)),
         rand((2, 4, 4), dt), rand((4,), dt), rand((4,), dt))
case("conv2d_groups", lambda x, w: ops.conv2d(x, w, groups=2), rand((1, 4, 6, 6), F32), rand((6, 2, 3, 3), F32))
# constant 3x3 weights over 64 channels and a 14x15 plane: the native code runs Winograd's F(2x2, 3x3)
# (exporter/native/ops/nn.py winograd_tile), with the residual Add and ReLU fused, partial tiles at the edge
_wino_rng = np.random.default_rng(21)
for dt in FLOATS:
    _w = (_wino_rng.uniform(-1, 1, (64, 64, 3, 3)) / 24).astype(dt)
    _b = _wino_rng.uniform(-1, 1, 64).astype(dt)
    case(f"conv2d_winograd_{np.dtype(dt).name}",
         lambda x, w=_w, b=_b: ops.relu(ops.conv2d(x, w, b, padding=1) + x), rand(("B", 64, 14, 15), dt),
         dynamic=BATCH)
# constant 1x1 weights, 40 -> 48 channels over 7x7 (batch 2): the transposed product (nn.pointwise_transposed, runtime
# conv2d_pointwise_t), bias, residual and ReLU applied while transposing; float64 takes the GEMM
for dt in FLOATS:
    _w = (_wino_rng.uniform(-1, 1, (48, 40, 1, 1)) / 6).astype(dt)
    _b = _wino_rng.uniform(-1, 1, 48).astype(dt)
    case(f"conv2d_pointwise_small_plane_{np.dtype(dt).name}",
         lambda x, r, w=_w, b=_b: ops.relu(ops.conv2d(x, w, b) + r), rand((2, 40, 7, 7), dt), rand((2, 48, 7, 7), dt))
# constant 3x3 weights, 5 -> 14 channels over 13x13: the direct kernel (runtime conv_tiled) with a padded plane whose
# rows wrap into the next row's padding, 14 output channels = two register tiles and a part, residual and ReLU fused
for dt in FLOATS:
    _w = (_wino_rng.uniform(-1, 1, (14, 5, 3, 3)) / 6).astype(dt)
    _b = _wino_rng.uniform(-1, 1, 14).astype(dt)
    case(f"conv2d_direct_{np.dtype(dt).name}",
         lambda x, r, w=_w, b=_b: ops.relu(ops.conv2d(x, w, b, padding=1) + r), rand(("B", 5, 13, 13), dt),
         rand(("B", 14, 13, 13), dt), dynamic={"x": {0: "batch"}, "r": {0: "batch"}})
case("relu_int", lambda x: ops.relu(x), rand((3, 4), I64))

# --- ONNX operators the NumPy front end never emits -----------------------------------------------------
# They reach the native backend only in .onnx files (PyTorch exports, the model zoo). Each row traces a
# function that is one ONNX node, with a NumPy reference written here as its eager meaning, so these ops
# get the same three-way check (NumPy vs ONNX Runtime vs native) as the rest of the table.


def onnx_node(op_type, reference, outputs=1, **attrs):
    """A traceable function that is the single ONNX node `op_type` (inputs in order; a NumPy array
    argument becomes an initializer, None an omitted optional input) and evaluates `reference` eagerly."""
    def lower(g, value, *args):
        return g.op(op_type, *[None if a is None else name_of(g, a) for a in args], outputs=outputs, **attrs)
    return traced(reference, lower, op_type)


def traced(reference, lower, label):
    """`reference(*args)` on NumPy arrays; `lower(g, value, *args)` emits the ONNX nodes when traced."""
    def fn(*args):
        if find_graph(args, {}) is None:
            return reference(*args)
        return trace_function(reference, lower, args, {}, label=f"op_cases.{label}")
    return fn


def _f32(v):
    return np.asarray(v, np.float32)


def onnx_reference(op_type, outputs=1, opset=21, **attrs):
    """ONNX's own reference implementation (NumPy, onnx.reference) of one `op_type` node as the eager
    meaning, for ops whose definition is long (RoiAlign, DeformConv...); None arguments are omitted inputs."""
    def run(*args):
        from onnx import TensorProto, helper
        from onnx.reference import ReferenceEvaluator
        names = ["" if a is None else f"i{k}" for k, a in enumerate(args)]
        graph_inputs = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(np.asarray(a).dtype), None)
                        for n, a in zip(names, args) if n]
        outs = [f"o{k}" for k in range(outputs)]
        graph = helper.make_graph([helper.make_node(op_type, names, outs, **attrs)], "ref", graph_inputs,
                                  [helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None) for o in outs])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        got = ReferenceEvaluator(model).run(None, {n: np.asarray(a) for n, a in zip(names, args) if n})
        return got[0] if outputs == 1 else tuple(got)
    return run


# elementwise activations with attributes, and Clip with its bounds as inputs
celu = onnx_node("Celu", lambda x: _f32(np.maximum(x, 0) + np.minimum(0, 1.5 * (np.exp(x / 1.5) - 1))), alpha=1.5)
elu = onnx_node("Elu", lambda x: _f32(np.where(x < 0, 0.7 * (np.exp(x) - 1), x)), alpha=0.7)
hard_sigmoid = onnx_node("HardSigmoid", lambda x: _f32(np.clip(0.3 * x + 0.4, 0, 1)), alpha=0.3, beta=0.4)
hard_swish = onnx_node("HardSwish", lambda x: _f32(x * np.clip(x / 6 + 0.5, 0, 1)))
leaky_relu = onnx_node("LeakyRelu", lambda x: _f32(np.where(x < 0, 0.05 * x, x)), alpha=0.05)
mish = onnx_node("Mish", lambda x: _f32(x * np.tanh(np.log1p(np.exp(x)))))
prelu = onnx_node("PRelu", lambda x, slope: _f32(np.where(x < 0, slope * x, x)))
selu = onnx_node("Selu", lambda x: _f32(1.05 * np.where(x > 0, x, 1.67 * (np.exp(x) - 1))), alpha=1.67, gamma=1.05)
softplus = onnx_node("Softplus", lambda x: _f32(np.log(np.exp(x) + 1)))
softsign = onnx_node("Softsign", lambda x: _f32(x / (1 + np.abs(x))))
shrink = onnx_node("Shrink", lambda x: _f32(np.where(x < -0.6, x + 0.2, np.where(x > 0.6, x - 0.2, 0))),
                  lambd=0.6, bias=0.2)
clip = onnx_node("Clip", lambda x, lo, hi: np.clip(x, lo, hi))
case("onnx_activations", lambda x, s: (celu(x), elu(x), hard_sigmoid(x), hard_swish(x), leaky_relu(x), mish(x),
                                       prelu(x, s), selu(x), softplus(x), softsign(x), shrink(x),
                                       clip(x, np.float32(-1), np.float32(2)), clip(x, None, np.float32(0.5))),
     rand(("B", 4), F32), rand((4,), F32, 0, 1), dynamic=BATCH)

onnx_sum = onnx_node("Sum", lambda *xs: sum(xs[1:], xs[0]))
onnx_mean = onnx_node("Mean", lambda *xs: (sum(xs[1:], xs[0]) / np.asarray(len(xs), xs[0].dtype)).astype(xs[0].dtype))
for dt in FLOATS:  # ONNX defines Sum and Mean for floating types only
    case(f"onnx_variadic_{np.dtype(dt).name}", lambda a, b, c: (onnx_sum(a, b, c), onnx_mean(a, b, c), onnx_sum(a)),
         rand((3, 4), dt), rand((4,), dt), rand((3, 1), dt))
_shl = onnx_node("BitShift", np.left_shift, direction="LEFT")
_shr = onnx_node("BitShift", np.right_shift, direction="RIGHT")
_cast_like = onnx_node("CastLike", lambda a, like: a.astype(like.dtype))
# model inputs are never unsigned: the shifted operands are cast to uint32 / uint8 inside
case("onnx_bitshift_castlike",
     lambda x, y, f: (_shl(x.astype(np.uint32), y.astype(np.uint32)), _shr(x.astype(np.uint32), y.astype(np.uint32)),
                      _shl(x.astype(np.uint8), (y % 4).astype(np.uint8)), _cast_like(f, y), _cast_like(y, f)),
     rand((3, 4), I64, 0, 1000), rand((3, 4), I64, 0, 8), rand((3, 4), F32, -9, 9))


def _reduce(op_type, reference):
    fn = onnx_node(op_type, lambda x, axes: np.asarray(reference(x, axis=tuple(int(a) for a in axes)), x.dtype),
                   keepdims=0)
    return lambda x, axes: fn(x, np.asarray(axes, np.int64))


reduce_l1 = _reduce("ReduceL1", lambda x, axis: np.abs(x).sum(axis=axis))
reduce_l2 = _reduce("ReduceL2", lambda x, axis: np.sqrt((x * x).sum(axis=axis)))
reduce_sum_square = _reduce("ReduceSumSquare", lambda x, axis: (x * x).sum(axis=axis))
reduce_log_sum_exp = _reduce("ReduceLogSumExp", lambda x, axis: np.log(np.exp(x).sum(axis=axis)))
for dt in FLOATS:
    case(f"onnx_reductions_{np.dtype(dt).name}",
         lambda x: (reduce_l1(x, [1]), reduce_l2(x, [0, 2]), reduce_sum_square(x, [-1]), reduce_log_sum_exp(x, [1])),
         rand(("B", 3, 4), dt), dynamic=BATCH)
case("onnx_reductions_int32", lambda x: (reduce_l1(x, [1]), reduce_sum_square(x, [0])), rand((3, 4), I32))

# shapes: Flatten, Split, Size and ConstantOfShape of a dynamic input, Dropout at inference
flatten = onnx_node("Flatten", lambda x: x.reshape(int(np.prod(x.shape[:2])), -1), axis=2)
split = onnx_node("Split", lambda x, sizes: np.split(x, np.cumsum(sizes)[:-1], axis=1), outputs=2, axis=1)
size = onnx_node("Size", lambda x: np.asarray(x.size, np.int64))
dropout = onnx_node("Dropout", lambda x: (x.copy(), np.ones(x.shape, bool)), outputs=2)  # with its mask output
constant_of_shape = traced(
    lambda x: np.full(x.shape, 2.5, np.float32),
    lambda g, value, x: g.op("ConstantOfShape", g.op("Shape", name_of(g, x)),
                             value=numpy_helper.from_array(np.array([2.5], np.float32))),
    "ConstantOfShape")
case("onnx_shape_ops", lambda x: (flatten(x), *split(x, np.array([1, 2], np.int64)), size(x), *dropout(x),
                                  constant_of_shape(x)),
     rand(("B", 3, 2, 2), F32), dynamic=BATCH)
# Dropout in training mode with ratio 0 (no random mask: the identity, its mask all true), and with
# training_mode false
_dropout_deterministic = onnx_node("Dropout", lambda x, r, t: (x.copy(), np.ones(x.shape, bool)), outputs=2)
case("onnx_dropout_training_ratio_0",
     lambda x: (*_dropout_deterministic(x, np.array(0.0, np.float32), np.array(True)),
                *_dropout_deterministic(x, np.array(0.3, np.float32), np.array(False))),
     rand(("B", 3, 4), F32), dynamic=BATCH)


# image: DepthToSpace / SpaceToDepth, global pooling, Resize
def _depth_to_space(x, bs, mode):
    b, c, h, w = x.shape
    if mode == "DCR":
        t = x.reshape(b, bs, bs, c // bs ** 2, h, w).transpose(0, 3, 4, 1, 5, 2)
    else:
        t = x.reshape(b, c // bs ** 2, bs, bs, h, w).transpose(0, 1, 4, 2, 5, 3)
    return t.reshape(b, c // bs ** 2, h * bs, w * bs)


def _space_to_depth(x, bs):
    b, c, h, w = x.shape
    return x.reshape(b, c, h // bs, bs, w // bs, bs).transpose(0, 3, 5, 1, 2, 4).reshape(b, c * bs * bs, h // bs, w // bs)


def _align_corners(x, axis, out_len):
    """Linear interpolation along `axis` with align_corners coordinates (np.interp per line)."""
    n = x.shape[axis]
    coords = np.arange(out_len) * ((n - 1) / (out_len - 1) if out_len > 1 else 0.0)
    return np.apply_along_axis(lambda line: np.interp(coords, np.arange(n), line), axis, x).astype(x.dtype)


def _avg_pool_uneven(x, kernel, pads, include_pad):
    """AveragePool, stride 1, pads (top, left, bottom, right): window sums over the zero-padded input, divided
    by the kernel size (count_include_pad) or by the number of real pixels in the window."""
    (t, l, b, r), (kh, kw) = pads, kernel
    padded = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (t, b), (l, r)))
    real = np.pad(np.ones(x.shape), ((0, 0), (0, 0), (t, b), (l, r)))
    windows = np.lib.stride_tricks.sliding_window_view
    sums = windows(padded, kernel, axis=(2, 3)).sum(axis=(-2, -1))
    count = kh * kw if include_pad else windows(real, kernel, axis=(2, 3)).sum(axis=(-2, -1))
    return (sums / count).astype(x.dtype)


# uneven padding (what auto_pad SAME_UPPER gives even kernels): count_include_pad counts up to the end pads
case("onnx_avg_pool_uneven_pads",
     lambda x: tuple(onnx_node("AveragePool", lambda a, inc=inc: _avg_pool_uneven(a, (3, 3), (0, 1, 2, 1), inc),
                               kernel_shape=[3, 3], pads=[0, 1, 2, 1], count_include_pad=inc)(x) for inc in (0, 1)),
     rand(("B", 2, 5, 6), F32), dynamic=BATCH)

case("onnx_image_ops",
     lambda x: (onnx_node("DepthToSpace", lambda a: _depth_to_space(a, 2, "DCR"), blocksize=2)(x),
                onnx_node("DepthToSpace", lambda a: _depth_to_space(a, 2, "CRD"), blocksize=2, mode="CRD")(x),
                onnx_node("SpaceToDepth", lambda a: _space_to_depth(a, 2), blocksize=2)(x),
                onnx_node("GlobalAveragePool", lambda a: a.mean(axis=(2, 3), keepdims=True))(x),
                onnx_node("GlobalMaxPool", lambda a: a.max(axis=(2, 3), keepdims=True))(x),
                onnx_node("Resize", lambda a, roi, scales: a.repeat(2, axis=2).repeat(3, axis=3), mode="nearest",
                          coordinate_transformation_mode="asymmetric", nearest_mode="floor")(
                    x, None, np.array([1, 1, 2, 3], np.float32)),
                onnx_node("Resize", lambda a, roi, scales, sizes: _align_corners(_align_corners(a, 2, 7), 3, 3),
                          mode="linear", coordinate_transformation_mode="align_corners")(
                    x, None, None, np.array([2, 8, 7, 3], np.int64))),
     rand((2, 8, 4, 6), F32))


def _grid_sample_bilinear_zeros(x, grid):
    """GridSample, linear mode, zeros padding, align_corners=0: each point mixes its 4 neighbouring pixels."""
    n, c, h, w = x.shape
    out = np.zeros((n, c) + grid.shape[1:3])
    sx = ((grid[..., 0].astype(np.float64) + 1) * w - 1) / 2
    sy = ((grid[..., 1].astype(np.float64) + 1) * h - 1) / 2
    x0, y0 = np.floor(sx).astype(int), np.floor(sy).astype(int)
    for dy in (0, 1):
        for dx in (0, 1):
            xi, yi = x0 + dx, y0 + dy
            weight = (1 - np.abs(sx - xi)) * (1 - np.abs(sy - yi))
            inside = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
            for b in range(n):
                vals = x[b][:, np.clip(yi[b], 0, h - 1), np.clip(xi[b], 0, w - 1)]
                out[b] += np.where(inside[b], weight[b], 0) * vals
    return out.astype(x.dtype)


case("onnx_grid_sample", lambda x, g: onnx_node("GridSample", _grid_sample_bilinear_zeros)(x, g),
     rand(("B", 2, 4, 5), F32), rand(("B", 3, 6, 2), F32, -1.2, 1.2), dynamic={"x": {0: "batch"}, "g": {0: "batch"}})
# 3-D images (N x C x D x H x W, grid points (x, y, z)): nearest and linear, border and reflection padding
case("onnx_grid_sample_3d",
     lambda x, g: tuple(onnx_node("GridSample", onnx_reference("GridSample", mode=m, padding_mode=p, align_corners=a),
                                  mode=m, padding_mode=p, align_corners=a)(x, g)
                        for m, p, a in (("linear", "zeros", 0), ("nearest", "border", 1), ("linear", "reflection", 0))),
     rand((2, 2, 3, 4, 5), F32), rand((2, 2, 3, 4, 3), F32, -1.2, 1.2))

# RoiAlign: avg and max bins, half_pixel and output_half_pixel coordinates, fixed and adaptive sampling grids
_rois = np.array([[0.5, 1.0, 6.2, 4.8], [2.0, 0.0, 3.0, 7.5], [1.3, 2.2, 1.3, 2.9]], np.float32)
case("onnx_roi_align",
     lambda x: tuple(onnx_node("RoiAlign", onnx_reference("RoiAlign", **attrs), **attrs)(
                         x, _rois, np.array([1, 0, 1], np.int64))
                     for attrs in ({"output_height": 3, "output_width": 2, "sampling_ratio": 2, "spatial_scale": 0.9},
                                   {"output_height": 2, "output_width": 4, "mode": "max",
                                    "coordinate_transformation_mode": "output_half_pixel"})),
     rand((2, 3, 8, 7), F32))

def _batchnorm_training(x, scale, bias, mean, var, momentum=0.8, eps=1e-3):
    axes = (0,) + tuple(range(2, x.ndim))
    m, v = x.mean(axis=axes, dtype=np.float64), x.var(axis=axes, dtype=np.float64)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    y = (x - m.reshape(shape)) / np.sqrt(v.reshape(shape) + eps) * scale.reshape(shape) + bias.reshape(shape)
    return y.astype(x.dtype), _f32(mean * momentum + m * (1 - momentum)), _f32(var * momentum + v * (1 - momentum))


# BatchNormalization in training mode: normalised by the batch's statistics, running statistics updated
case("onnx_batchnorm_training",
     lambda x, s, b, m, v: onnx_node("BatchNormalization", _batchnorm_training, outputs=3, training_mode=1,
                                     momentum=0.8, epsilon=1e-3)(x, s, b, m, v),
     rand(("B", 3, 4, 5), F32), rand((3,), F32), rand((3,), F32), rand((3,), F32), rand((3,), F32, 0.5, 2),
     dynamic=BATCH)

def _pool_unpool(x):
    pooled, where = onnx_node("MaxPool", onnx_reference("MaxPool", outputs=2, kernel_shape=[3, 2], strides=[2, 2],
                                                        pads=[1, 0, 1, 0]), outputs=2, kernel_shape=[3, 2],
                              strides=[2, 2], pads=[1, 0, 1, 0])(x)
    restored = onnx_node("MaxUnpool", onnx_reference("MaxUnpool", kernel_shape=[3, 2], strides=[2, 2], pads=[1, 0, 1, 0]),
                         kernel_shape=[3, 2], strides=[2, 2], pads=[1, 0, 1, 0])(pooled, where)
    return pooled, where, restored


# MaxPool's Indices output and MaxUnpool putting the maxima back (storage_order=1, column-major indices: ONNX
# Runtime 1.32 disagrees with ONNX's reference and node test; test_maxpool_with_argmax_2d_precomputed_strides)
case("onnx_max_pool_indices_unpool", _pool_unpool, rand((2, 3, 7, 6), F32))

def _gather_nd_batched(data, indices, batch_dims=1):
    lead = data.shape[:batch_dims]
    flat_d = data.reshape((-1,) + data.shape[batch_dims:])
    flat_i = indices.reshape((-1,) + indices.shape[batch_dims:])
    out = [d[tuple(np.moveaxis(i, -1, 0))] for d, i in zip(flat_d, flat_i)]
    return np.stack(out).reshape(lead + out[0].shape)


# GatherND with batch_dims: one gather per batch index
case("onnx_gather_nd_batch_dims",
     lambda x: onnx_node("GatherND", _gather_nd_batched, batch_dims=1)(
         x, np.array([[[0, 1], [2, 0]], [[1, 1], [0, 2]]], np.int64)),
     rand((2, 3, 3, 4), F32))

# Resize with antialias: linear and cubic downsampling (the filter widened by 1 / scale), by scales and sizes
case("onnx_resize_antialias",
     lambda x: (onnx_node("Resize", onnx_reference("Resize", mode="linear", antialias=1), mode="linear", antialias=1)(
                    x, None, np.array([1, 1, 0.5, 0.3], np.float32)),
                onnx_node("Resize", onnx_reference("Resize", mode="cubic", antialias=1), mode="cubic", antialias=1)(
                    x, None, None, np.array([2, 3, 5, 4], np.int64))),
     rand((2, 3, 8, 13), F32))


# normalisation: InstanceNormalization, GroupNormalization (opset 21: scale/bias per channel), LRN
def _group_norm(x, scale, bias, groups, eps=1e-5):
    n, c = x.shape[:2]
    g = x.reshape(n, groups, -1).astype(np.float64)
    normed = ((g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + eps)).reshape(x.shape)
    shape = (1, c) + (1,) * (x.ndim - 2)
    return (normed * scale.reshape(shape) + bias.reshape(shape)).astype(x.dtype)


def _lrn(x, size, alpha, beta, bias):
    c = x.shape[1]
    squares = x.astype(np.float64) ** 2
    out = np.empty(x.shape, np.float64)
    for ch in range(c):
        lo, hi = max(0, ch - (size - 1) // 2), min(c - 1, ch + size // 2)
        out[:, ch] = x[:, ch] / (bias + alpha / size * squares[:, lo:hi + 1].sum(axis=1)) ** beta
    return out.astype(x.dtype)


for dt in FLOATS:
    case(f"onnx_norms_{np.dtype(dt).name}",
         lambda x, s, b: (onnx_node("InstanceNormalization", lambda a, sc, bi: _group_norm(a, sc, bi, a.shape[1]))(x, s, b),
                          onnx_node("GroupNormalization", lambda a, sc, bi: _group_norm(a, sc, bi, 2), num_groups=2)(x, s, b),
                          # float attributes are float32 in ONNX: values exact in float32 keep float64 exact
                          onnx_node("LRN", lambda a: _lrn(a, 3, 2.0 ** -6, 0.75, 1.5), size=3, alpha=2.0 ** -6,
                                    beta=0.75, bias=1.5)(x)),
         rand(("B", 4, 3, 5), dt), rand((4,), dt), rand((4,), dt), dynamic=BATCH)



def _layer_norm_stats(x, scale, bias, axis, eps=1e-5):
    """LayerNormalization with its optional Mean and InvStdDev outputs (stash_type float32)."""
    axes = tuple(range(axis, x.ndim))
    v = x.astype(np.float64)
    mean = v.mean(axis=axes, keepdims=True)
    inv = 1 / np.sqrt(v.var(axis=axes, keepdims=True) + eps)
    return ((v - mean) * inv * scale + bias).astype(x.dtype), mean.astype(np.float32), inv.astype(np.float32)


case("onnx_layer_norm_stats", lambda x, s, b: onnx_node(
        "LayerNormalization", lambda a, sc, bi: _layer_norm_stats(a, sc, bi, 1), outputs=3, axis=1)(x, s, b),
     rand(("B", 3, 5), F32), rand((3, 5), F32), rand((3, 5), F32), dynamic=BATCH)

def _lp_pool(x, p, k, stride, pad):
    """LpPool over 2-D windows (k x k, stride, symmetric zero padding that adds nothing to the sums)."""
    v = np.pad(np.abs(x.astype(np.float64)) ** p, [(0, 0), (0, 0), (pad, pad), (pad, pad)])
    oh, ow = (v.shape[2] - k) // stride + 1, (v.shape[3] - k) // stride + 1
    out = np.zeros(x.shape[:2] + (oh, ow))
    for i in range(k):
        for j in range(k):
            out += v[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride]
    return (out ** (1 / p)).astype(x.dtype)


case("onnx_lp", lambda x: (
        onnx_node("LpNormalization", lambda a: (a / np.abs(a).sum(axis=1, keepdims=True)).astype(a.dtype), p=1,
                  axis=1)(x),
        onnx_node("LpNormalization", lambda a: (a / np.sqrt((a.astype(np.float64) ** 2).sum(-1, keepdims=True)))
                  .astype(a.dtype))(x),
        onnx_node("LpPool", lambda a: _lp_pool(a, 3, 3, 2, 1), p=3, kernel_shape=[3, 3], strides=[2, 2],
                  pads=[1, 1, 1, 1])(x)),
     rand(("B", 3, 5, 6), F32), dynamic=BATCH)

# Gemm: transposed operands, alpha/beta, a broadcast C
_gemm_w = np.random.default_rng(7).uniform(-1, 1, (4, 5)).astype(np.float32)
case("onnx_gemm", lambda x, c: (
        onnx_node("Gemm", lambda a, w, cc: (0.5 * a @ w.T + 2.0 * cc).astype(np.float32), alpha=0.5, beta=2.0,
                  transB=1)(x, _gemm_w, c),
        onnx_node("Gemm", lambda a, w: (a.T @ w).astype(np.float32), transA=1)(x[:, :4].T, _gemm_w)),
     rand(("B", 5), F32), rand((4,), F32), dynamic=BATCH)


def _conv_transpose(x, w, b, stride, pads, output_padding):
    n, c, h, wd = x.shape
    m, kh, kw = w.shape[1:]
    oh = (h - 1) * stride - pads[0] - pads[2] + kh + output_padding
    ow = (wd - 1) * stride - pads[1] - pads[3] + kw + output_padding
    full = np.zeros((n, m, (h - 1) * stride + kh + output_padding, (wd - 1) * stride + kw + output_padding))
    for i in range(h):
        for j in range(wd):
            full[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw] += np.einsum(
                "nc,cmij->nmij", x[:, :, i, j].astype(np.float64), w)
    y = full[:, :, pads[0]:pads[0] + oh, pads[1]:pads[1] + ow] + b.reshape(1, -1, 1, 1)
    return y.astype(x.dtype)


_deconv_w = np.random.default_rng(8).uniform(-1, 1, (3, 2, 3, 3)).astype(np.float32)
case("onnx_conv_transpose", lambda x, b: onnx_node(
        "ConvTranspose", lambda a, w, bb: _conv_transpose(a, w, bb, 2, (1, 0, 1, 1), 1), strides=[2, 2],
        pads=[1, 0, 1, 1], output_padding=[1, 1])(x, _deconv_w, b),
     rand(("B", 3, 4, 5), F32), rand((2,), F32), dynamic=BATCH)

_deconv3d_w = np.random.default_rng(9).uniform(-1, 1, (4, 3, 2, 3, 2)).astype(np.float32)
# 3-D (NCDHW): strides, pads, dilations (groups: the 2-D row; onnx.reference has no grouped 3-D)
case("onnx_conv_transpose_3d", lambda x: onnx_node(
        "ConvTranspose", onnx_reference("ConvTranspose", strides=[2, 1, 2], pads=[1, 0, 0, 0, 1, 1], dilations=[1, 2, 1]),
        strides=[2, 1, 2], pads=[1, 0, 0, 0, 1, 1], dilations=[1, 2, 1])(x, _deconv3d_w),
     rand(("B", 4, 3, 4, 3), F32), dynamic=BATCH)



def _col2im(cols, image, block, stride):
    """Col2Im in 2-D with equal strides and no padding or dilation."""
    n, cb, _ = cols.shape
    c = cb // (block[0] * block[1])
    wins = [(image[d] - block[d]) // stride + 1 for d in range(2)]
    out = np.zeros((n, c) + tuple(image))
    v = cols.reshape(n, c, block[0], block[1], wins[0], wins[1])
    for i in range(block[0]):
        for j in range(block[1]):
            out[:, :, i:i + stride * wins[0]:stride, j:j + stride * wins[1]:stride] += v[:, :, i, j]
    return out.astype(cols.dtype)


_deform_weights = np.random.default_rng(5).uniform(-1, 1, (4, 2, 3, 3)).astype(np.float32)
# DeformConv: offsets moving every tap, a mask, bias, groups and offset groups, stride and padding
case("onnx_deform_conv",
     lambda x, off, mask: (
         onnx_node("DeformConv", onnx_reference("DeformConv", opset=22, kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                                                strides=[2, 2], group=2, offset_group=2),
                   kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2], group=2, offset_group=2)(
             x, _deform_weights, off, _deform_weights[:4, 0, 0, 0], mask)),
     rand((2, 4, 5, 6), F32), rand((2, 36, 3, 3), F32, -1.5, 1.5), rand((2, 18, 3, 3), F32, 0, 1))

case("onnx_col2im", lambda x: onnx_node("Col2Im", lambda a, im, bl: _col2im(a, im, bl, 2), strides=[2, 2])(
        x, np.array([5, 7], np.int64), np.array([3, 2], np.int64)),
     rand(("B", 12, 6), F32), dynamic=BATCH)

# recurrent cells against the ONNX equations (default activations, layout 0)
def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


def _rnn(kind, x, W, R, B, h0, c0=None, direction="forward", linear_before_reset=0):
    seq, batch, _ = x.shape
    dirs, gh = W.shape[:2]
    hidden = R.shape[2]
    y = np.zeros((seq, dirs, batch, hidden))
    yh, yc = np.zeros((dirs, batch, hidden)), np.zeros((dirs, batch, hidden))
    for d in range(dirs):
        w, r = W[d].astype(np.float64), R[d].astype(np.float64)
        wb, rb = (B[d, :gh], B[d, gh:]) if B is not None else (np.zeros(gh), np.zeros(gh))
        h = h0[d].astype(np.float64) if h0 is not None else np.zeros((batch, hidden))
        c = c0[d].astype(np.float64) if c0 is not None else np.zeros((batch, hidden))
        steps = range(seq - 1, -1, -1) if d == 1 or direction == "reverse" else range(seq)
        for t in steps:
            xw, hr = x[t] @ w.T + wb, h @ r.T + rb
            if kind == "RNN":
                h = np.tanh(xw + hr)
            elif kind == "LSTM":
                i, o, f, g = np.split(xw + hr, 4, axis=1)
                c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
                h = _sigmoid(o) * np.tanh(c)
            else:
                z = _sigmoid(xw[:, :hidden] + hr[:, :hidden])
                rr = _sigmoid(xw[:, hidden:2 * hidden] + hr[:, hidden:2 * hidden])
                if linear_before_reset:
                    cand = np.tanh(xw[:, 2 * hidden:] + rr * hr[:, 2 * hidden:])
                else:
                    cand = np.tanh(xw[:, 2 * hidden:] + (rr * h) @ r[2 * hidden:].T + rb[2 * hidden:])
                h = (1 - z) * cand + z * h
            y[t, d] = h
        yh[d], yc[d] = h, c
    dt = x.dtype
    return (y.astype(dt), yh.astype(dt), yc.astype(dt)) if kind == "LSTM" else (y.astype(dt), yh.astype(dt))


_rnn_rng = np.random.default_rng(9)
_lstm_weights = [_rnn_rng.uniform(-0.6, 0.6, s).astype(np.float32) for s in ((2, 20, 3), (2, 20, 5), (2, 40))]
_gru_weights = [_rnn_rng.uniform(-0.6, 0.6, s).astype(np.float32) for s in ((1, 15, 3), (1, 15, 5), (1, 30))]
_simple_rnn_weights = [_rnn_rng.uniform(-0.6, 0.6, s).astype(np.float32) for s in ((2, 5, 3), (2, 5, 5), (2, 10))]
case("onnx_lstm", lambda x, h0, c0: (
        *onnx_node("LSTM", lambda *a: _rnn("LSTM", a[0], a[1], a[2], a[3], a[5], a[6], "bidirectional"), outputs=3,
                  hidden_size=5, direction="bidirectional")(x, *_lstm_weights, None, h0, c0),
        onnx_node("LSTM", lambda a, w, r: _rnn("LSTM", a, w, r, None, None, None, "reverse")[0], hidden_size=5,
                  direction="reverse")(x, _lstm_weights[0][:1], _lstm_weights[1][:1])),
     rand((4, "B", 3), F32, -1, 1), rand((2, "B", 5), F32, -1, 1), rand((2, "B", 5), F32, -1, 1),
     dynamic={"x": {1: "batch"}, "h0": {1: "batch"}, "c0": {1: "batch"}})
_peepholes = _rnn_rng.uniform(-0.6, 0.6, (2, 15)).astype(np.float32)


def _lstm_peepholes(x, W, R, B, lens, h0, c0, P):
    """Bidirectional LSTM with peepholes; steps past a sequence's length keep its state and write zeros
    (onnx.reference ignores sequence_lens)."""
    seq, batch, _ = x.shape
    hidden = R.shape[2]
    y = np.zeros((seq, 2, batch, hidden))
    yh, yc = np.zeros((2, batch, hidden)), np.zeros((2, batch, hidden))
    for d in range(2):
        h, c = h0[d].astype(np.float64), c0[d].astype(np.float64)
        pi, po, pf = np.split(P[d].astype(np.float64), 3)
        for t in (range(seq) if d == 0 else range(seq - 1, -1, -1)):
            live = (t < lens)[:, None]
            g = x[t] @ W[d].T.astype(np.float64) + h @ R[d].T + B[d, :4 * hidden] + B[d, 4 * hidden:]
            i, o, f, cand = np.split(g, 4, axis=1)
            c_new = _sigmoid(f + pf * c) * c + _sigmoid(i + pi * c) * np.tanh(cand)
            h_new = _sigmoid(o + po * c_new) * np.tanh(c_new)
            h, c = np.where(live, h_new, h), np.where(live, c_new, c)
            y[t, d] = np.where(live, h, 0)
        yh[d], yc[d] = h, c
    return y.astype(x.dtype), yh.astype(x.dtype), yc.astype(x.dtype)


# LSTM with peepholes and per-sequence lengths (steps past a length keep the state and write zeros)
case("onnx_lstm_peepholes_seq_lens", lambda x, h0, c0: onnx_node(
        "LSTM", _lstm_peepholes, outputs=3, hidden_size=5, direction="bidirectional")(
            x, *_lstm_weights, np.array([4, 2, 1], np.int32), h0, c0, _peepholes),
     rand((4, 3, 3), F32, -1, 1), rand((2, 3, 5), F32, -1, 1), rand((2, 3, 5), F32, -1, 1))
case("onnx_gru", lambda x, h0: (
        *onnx_node("GRU", lambda *a: _rnn("GRU", a[0], a[1], a[2], a[3], a[5], linear_before_reset=1), outputs=2,
                  hidden_size=5, linear_before_reset=1)(x, *_gru_weights, None, h0),
        onnx_node("GRU", lambda a, w, r, b: _rnn("GRU", a, w, r, b, None)[0], hidden_size=5)(x, *_gru_weights)),
     rand((4, "B", 3), F32, -1, 1), rand((1, "B", 5), F32, -1, 1), dynamic={"x": {1: "batch"}, "h0": {1: "batch"}})
case("onnx_simple_rnn", lambda x, h0: (
        *onnx_node("RNN", lambda *a: _rnn("RNN", a[0], a[1], a[2], a[3], a[5], direction="bidirectional"), outputs=2,
                   hidden_size=5, direction="bidirectional")(x, *_simple_rnn_weights, None, h0),
        onnx_node("RNN", lambda a, w, r: _rnn("RNN", a, w, r, None, None, direction="reverse")[0], hidden_size=5,
                  direction="reverse", activations=["Tanh"])(x, _simple_rnn_weights[0][:1], _simple_rnn_weights[1][:1])),
     rand((4, "B", 3), F32, -1, 1), rand((2, "B", 5), F32, -1, 1), dynamic={"x": {1: "batch"}, "h0": {1: "batch"}})


# losses
def _log_softmax(x, axis=1):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _nll(logp, target, reduction):
    picked = -np.take_along_axis(logp, target[:, None], axis=1)[:, 0]
    return (picked.mean() if reduction == "mean" else picked.sum() if reduction == "sum" else picked).astype(logp.dtype)


case("onnx_losses", lambda x, t: (
        onnx_node("NegativeLogLikelihoodLoss", lambda a, b: _nll(a, b, "mean"))(x, t),
        onnx_node("NegativeLogLikelihoodLoss", lambda a, b: _nll(a, b, "none"), reduction="none")(x, t),
        *onnx_node("SoftmaxCrossEntropyLoss", lambda a, b: (_nll(_log_softmax(a), b, "sum"), _log_softmax(a)),
                   outputs=2, reduction="sum")(x, t)),
     rand(("B", 5), F32), rand(("B",), I64, 0, 4), dynamic={"x": {0: "batch"}, "t": {0: "batch"}})


# indexing: Trilu, Hardmax, OneHot, ScatterElements (with a reduction), ScatterND
def _scatter_elements(data, indices, updates, reduction="none"):
    out = data.copy()
    for i in range(indices.shape[0]):
        for j in range(indices.shape[1]):
            k = indices[i, j] + (data.shape[1] if indices[i, j] < 0 else 0)
            out[i, k] = out[i, k] + updates[i, j] if reduction == "add" else updates[i, j]
    return out


def _one_hot(indices, depth, values):
    k = np.where(indices < 0, indices + depth, indices)
    return np.where(k[..., None] == np.arange(depth), values[1], values[0]).astype(values.dtype)


_scatter_idx = np.array([[1, -1, 0], [3, 2, -4], [0, 0, 2]], np.int64)  # distinct targets per row (none)
case("onnx_indexing", lambda x, i, u: (
        onnx_node("Trilu", lambda a, k: np.triu(a, 1))(x, np.array(1, np.int64)),
        onnx_node("Trilu", lambda a: np.tril(a), upper=0)(x),
        onnx_node("Hardmax", lambda a: (a == a.max(axis=-1, keepdims=True)).astype(a.dtype))(x),
        onnx_node("OneHot", lambda a, d, v: _one_hot(a, 5, v))(i, np.array(5, np.int64), np.array([-1, 3], np.float32)),
        onnx_node("ScatterElements", lambda a, b, c: _scatter_elements(a, b, c), axis=1)(x, _scatter_idx[:, :2], u[:, :2]),
        onnx_node("ScatterElements", lambda a, b, c: _scatter_elements(a, b, c, "add"), axis=1, reduction="add")(
            x, np.array([[0, 0, 1], [2, 2, 2], [-1, 3, 0]], np.int64), u),
        onnx_node("ScatterND", lambda a, b, c: np.concatenate([c[1:2], a[1:2], c[0:1]]))(
            x, np.array([[2], [0]], np.int64), x[1:] * 2)),
     rand((3, 4), F32), rand((2, 3), I64, -5, 4), rand((3, 3), F32))

def _reverse_sequence(x, lens, time_axis):
    y = x.copy()
    for b, n in enumerate(lens):
        index = (slice(None), b) if time_axis == 0 else (b,)
        y[index][:n] = x[index][:n][::-1]
    return y


_rs_lens = np.array([5, 1, 2, 3], np.int64)
case("onnx_eye_reverse", lambda x: (
        onnx_node("EyeLike", lambda a: np.eye(*a.shape, k=1, dtype=np.int64), k=1, dtype=7)(x),
        onnx_node("EyeLike", lambda a: np.eye(*a.shape, k=-2, dtype=a.dtype), k=-2)(x),
        onnx_node("ReverseSequence", lambda a, n: _reverse_sequence(a, n, 1), batch_axis=0, time_axis=1)(x, _rs_lens),
        onnx_node("ReverseSequence", lambda a, n: _reverse_sequence(a, n, 0))(x.T, _rs_lens)),
     rand((4, 5), F32))

# control flow (exporter.cond -> If, exporter.fori_loop / while_loop / scan -> Loop), over a dynamic batch
def _clip_rows(x):
    norm = np.sqrt((x * x).sum())
    return exporter.cond(norm > 4, lambda v: v * np.float32(4) / norm, lambda v: v, x)


def _running_max(x):
    def step(carry, row):
        carry = np.maximum(carry, row)
        return carry, carry * np.float32(2)
    last, ys = exporter.scan(step, x[0], x)
    doubled = exporter.fori_loop(0, 3, lambda i, v: v + v, last)
    halved = exporter.while_loop(lambda v: v.max() > 1, lambda v: v * np.float32(0.5), np.abs(last) + np.float32(2))
    return ys, doubled, halved


case("control_flow_cond", _clip_rows, rand(("B", 3), F32), dynamic=BATCH)
case("control_flow_loops", _running_max, rand(("B", 3), F32), dynamic=BATCH)


# quantisation (ONNX Runtime's quantiser: QDQ, dynamic and QOperator models), with ONNX's rounding (half to
# even) and saturation; integer products sum exactly in int32
def _spread(v, shape, axis, block):
    """A scale or zero point broadcast over a tensor of `shape` (per tensor, per axis or blocked)."""
    if v.size == 1:
        return v.reshape(())
    if not block:
        return v.reshape([-1 if d == axis else 1 for d in range(len(shape))])
    return np.take(np.repeat(v, block, axis), range(shape[axis]), axis)


def _quantize(x, scale, zp, axis=1, block=0):
    q = np.rint(x / _spread(scale, x.shape, axis, block)) + _spread(zp, x.shape, axis, block).astype(np.float64)
    info = np.iinfo(zp.dtype)
    return np.clip(q, info.min, info.max).astype(zp.dtype)


def _dequantize(q, scale, zp, axis=1, block=0):
    z = _spread(zp, q.shape, axis, block).astype(np.float32)
    return ((q.astype(np.float32) - z) * _spread(scale, q.shape, axis, block)).astype(np.float32)


def _requantize(acc, multiplier, zp):
    info = np.iinfo(zp.dtype)
    return np.clip(np.rint(acc * multiplier.astype(np.float64)) + zp.astype(np.float64), info.min, info.max).astype(zp.dtype)


_qs = np.array(0.05, np.float32)
_q_axis_scale = np.array([0.02, 0.05, 0.1], np.float32)
_q_axis_zp = np.array([-3, 0, 7], np.int8)
_q_block_scale = np.random.default_rng(9).uniform(0.01, 0.1, (2, 3, 2)).astype(np.float32)  # blocks of 3 along -1
_q_block_zp = np.random.default_rng(10).integers(0, 20, (2, 3, 2)).astype(np.uint8)


def _quant_rows(x):
    per_tensor = onnx_node("QuantizeLinear", lambda a, s, z: _quantize(a, s, z))(x, _qs, np.array(128, np.uint8))
    per_axis = onnx_node("QuantizeLinear", lambda a, s, z: _quantize(a, s, z, 1), axis=1)(x, _q_axis_scale, _q_axis_zp)
    blocked = onnx_node("QuantizeLinear", lambda a, s, z: _quantize(a, s, z, 2, 3), axis=-1, block_size=3)(
        x, _q_block_scale, _q_block_zp)
    wide = onnx_node("QuantizeLinear", lambda a, s, z: _quantize(a, s, z))(x, np.array(1e-3, np.float32), np.array(-5, np.int16))
    return (per_tensor, per_axis, blocked, wide,
            onnx_node("DequantizeLinear", lambda q, s, z: _dequantize(q, s, z))(per_tensor, _qs, np.array(128, np.uint8)),
            onnx_node("DequantizeLinear", lambda q, s, z: _dequantize(q, s, z, 1), axis=1)(per_axis, _q_axis_scale,
                                                                                        _q_axis_zp),
            onnx_node("DequantizeLinear", lambda q, s, z: _dequantize(q, s, z, 2, 3), axis=-1, block_size=3)(
                blocked, _q_block_scale, _q_block_zp),
            onnx_node("DequantizeLinear", lambda q, s, z: _dequantize(q, s, z))(wide, np.array(1e-3, np.float32), np.array(-5, np.int16)))


case("onnx_quantize_dequantize", _quant_rows, rand((2, 3, 6), F32, -8, 8))


def _dynamic_quantize(x):
    lo, hi = np.float32(min(0, x.min())), np.float32(max(0, x.max()))
    scale = np.float32((hi - lo) if hi != lo else 1) / np.float32(255)
    zp = np.rint(np.clip(np.float32(0) - lo / scale, 0, 255))
    return (np.clip(np.rint(x / scale) + zp, 0, 255).astype(np.uint8), np.asarray(scale, np.float32),
            np.asarray(zp, np.uint8))


def _int_matmul(a, b, a_zp, b_zp):
    return ((a.astype(np.int32) - a_zp.astype(np.int32)) @ (b.astype(np.int32) - b_zp.astype(np.int32))).astype(np.int32)


# int8 weights within 7 bits, as ONNX Runtime's quantiser writes them (reduce_range): its uint8 x int8 kernels on
# AVX2 sum pairs of products in saturating int16 (vpmaddubsw), so full-range weights come out wrong there
_qw = np.random.default_rng(11).integers(-64, 64, (6, 5)).astype(np.int8)
_qw_zp = np.array([0, 1, -2, 3, 0], np.int8)
_qw_scale = np.array([0.01, 0.02, 0.03, 0.02, 0.01], np.float32)


def _dynamic_and_qlinear_matmul(x):
    q, scale, zp = onnx_node("DynamicQuantizeLinear", _dynamic_quantize, outputs=3)(x)
    integer = onnx_node("MatMulInteger", _int_matmul)(q, _qw, zp, _qw_zp)
    y_scale, y_zp = np.array(0.07, np.float32), np.array(100, np.uint8)
    qlinear = onnx_node("QLinearMatMul", lambda a, sa, za, b, sb, zb, sy, zy: _requantize(
        _int_matmul(a, b, za, zb), sa * sb / sy, zy))(q, scale, zp, _qw, np.array(0.02, np.float32), np.array(0, np.int8), y_scale, y_zp)
    return q, scale, zp, integer, qlinear


case("onnx_dynamic_quantize_matmul_integer", _dynamic_and_qlinear_matmul, rand(("B", 3, 6), F32), dynamic=BATCH)


def _int_conv(x, w, x_zp, w_zp, pads=(0, 0, 0, 0), stride=1, group=1):
    """int32 convolution of (x - x_zp) by (w - w_zp[m]), NCHW; the padding is zero after the subtraction."""
    x = np.pad(x.astype(np.int32) - np.int32(x_zp), [(0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])])
    w = w.astype(np.int32) - w_zp.astype(np.int32).reshape(-1, 1, 1, 1)
    n, c, h, wd = x.shape
    m, cg, kh, kw = w.shape
    oh, ow = (h - kh) // stride + 1, (wd - kw) // stride + 1
    y = np.zeros((n, m, oh, ow), np.int32)
    mg = m // group
    for i in range(oh):
        for j in range(ow):
            patch = x[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            for g in range(group):
                y[:, g * mg:(g + 1) * mg, i, j] = np.einsum("nchw,mchw->nm", patch[:, g * cg:(g + 1) * cg],
                                                             w[g * mg:(g + 1) * mg])
    return y


_qconv_w = np.random.default_rng(12).integers(0, 256, (4, 4, 3, 3)).astype(np.uint8)
_qconv_w_zp = np.array(128, np.uint8)  # ONNX Runtime's ConvInteger takes one weight zero point (C++ tests: per channel)
_qlconv_w = np.random.default_rng(13).integers(-64, 64, (4, 2, 3, 3)).astype(np.int8)  # 7 bits: see _qw
_qlconv_w_scale = np.array([0.01, 0.02, 0.015, 0.03], np.float32)
_qlconv_bias = np.array([-500, 0, 300, 1000], np.int32)


def _conv_integer_rows(x):
    q = x.astype(np.uint8)
    integer = onnx_node("ConvInteger", lambda a, w, za, zw: _int_conv(a, w, za, zw, (1, 1, 1, 1)), pads=[1, 1, 1, 1])(
        q, _qconv_w, np.array(125, np.uint8), _qconv_w_zp)
    x_scale, y_scale, zero = np.array(0.02, np.float32), np.array(0.5, np.float32), np.zeros(4, np.int8)

    def qlinear(a, sa, za, w, sw, zw, sy, zy, b):
        acc = _int_conv(a, w, za, zw, (0, 1, 0, 1), 2, 2) + b.reshape(1, -1, 1, 1)
        return _requantize(acc, (sa * sw / sy).reshape(1, -1, 1, 1), zy)

    qlinear = onnx_node("QLinearConv", qlinear, pads=[0, 1, 0, 1], strides=[2, 2], group=2)(
        q, x_scale, np.array(125, np.uint8), _qlconv_w, _qlconv_w_scale, zero, y_scale, np.array(3, np.uint8),
        _qlconv_bias)
    return integer, qlinear


case("onnx_conv_integer_qlinear_conv", _conv_integer_rows, rand(("B", 4, 6, 7), I32, 0, 255), dynamic=BATCH)


def _pool3d(x, kernel, stride, pads, reduce, include_pad=False):
    """3-D max or average pooling, pads (front, top, left, back, bottom, right): windows over the padded input
    (NaN padding: outside values count only for an average with include_pad)."""
    padded = np.pad(x.astype(np.float64), [(0, 0), (0, 0)] + [(pads[i], pads[i + 3]) for i in range(3)],
                    constant_values=np.nan)
    out_shape = [(padded.shape[2 + i] - kernel[i]) // stride[i] + 1 for i in range(3)]
    y = np.empty(x.shape[:2] + tuple(out_shape))
    for d, h, w in np.ndindex(*out_shape):
        win = padded[:, :, d * stride[0]:d * stride[0] + kernel[0], h * stride[1]:h * stride[1] + kernel[1],
                     w * stride[2]:w * stride[2] + kernel[2]].reshape(x.shape[0], x.shape[1], -1)
        if reduce == "max":
            y[:, :, d, h, w] = np.nanmax(win, axis=-1)
        elif include_pad:
            y[:, :, d, h, w] = np.nansum(win, axis=-1) / win.shape[-1]
        else:
            y[:, :, d, h, w] = np.nanmean(win, axis=-1)
    return y.astype(x.dtype)


# 3-D (volumetric) pooling: a 2-D pool per depth slice, then one along depth (see Pool in ops/nn.py); and
# MaxPool over uint8 data, as quantised models run it
case("onnx_pool_3d", lambda x: (
        onnx_node("MaxPool", lambda a: _pool3d(a, (2, 3, 2), (2, 1, 2), (1, 1, 0, 0, 1, 1), "max"),
                  kernel_shape=[2, 3, 2], strides=[2, 1, 2], pads=[1, 1, 0, 0, 1, 1])(x),
        onnx_node("AveragePool", lambda a: _pool3d(a, (3, 2, 2), (1, 2, 1), (1, 0, 1, 1, 1, 0), "avg", True),
                  kernel_shape=[3, 2, 2], strides=[1, 2, 1], pads=[1, 0, 1, 1, 1, 0], count_include_pad=1)(x),
        onnx_node("AveragePool", lambda a: _pool3d(a, (3, 2, 2), (1, 2, 1), (1, 0, 1, 1, 1, 0), "avg"),
                  kernel_shape=[3, 2, 2], strides=[1, 2, 1], pads=[1, 0, 1, 1, 1, 0])(x),
        onnx_node("MaxPool", lambda a: _pool3d(a[:, :, None], (1, 3, 3), (1, 2, 2), (0, 1, 1, 0, 1, 1), "max")[:, :, 0],
                  kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])((np.abs(x[:, :, 0]) * 40).astype(np.uint8))),
     rand(("B", 2, 5, 6, 5), F32), dynamic=BATCH)


def _conv3d(x, w, b, stride, pads, group=1):
    """3-D convolution, pads (front, top, left, back, bottom, right), in float64."""
    x = np.pad(x.astype(np.float64), [(0, 0), (0, 0)] + [(pads[i], pads[i + 3]) for i in range(3)])
    m, cg, kd, kh, kw = w.shape
    out = [(x.shape[2 + i] - k) // stride[i] + 1 for i, k in enumerate((kd, kh, kw))]
    y = np.zeros((x.shape[0], m) + tuple(out))
    mg = m // group
    for d, h, ww in np.ndindex(*out):
        patch = x[:, :, d * stride[0]:d * stride[0] + kd, h * stride[1]:h * stride[1] + kh,
                  ww * stride[2]:ww * stride[2] + kw]
        for g in range(group):
            y[:, g * mg:(g + 1) * mg, d, h, ww] = np.einsum("ncdhw,mcdhw->nm", patch[:, g * cg:(g + 1) * cg],
                                                              w[g * mg:(g + 1) * mg])
    return (y + b.reshape(1, -1, 1, 1, 1)).astype(np.float32)


_conv3d_w = np.random.default_rng(14).uniform(-1, 1, (4, 2, 3, 2, 3)).astype(np.float32)
_conv3d_b = np.array([0.5, -1, 0, 2], np.float32)
# 3-D (volumetric) Conv with groups, strides and uneven padding; a ReLU after it stays its own step
case("onnx_conv_3d", lambda x: (ops.relu(onnx_node(
        "Conv", lambda a, w, b: _conv3d(a, w, b, (2, 1, 2), (1, 0, 1, 1, 1, 0), group=2), strides=[2, 1, 2],
        pads=[1, 0, 1, 1, 1, 0], group=2)(x, _conv3d_w, _conv3d_b)),),
     rand(("B", 4, 5, 4, 6), F32), dynamic=BATCH, rtol=1e-5)

# signal processing: DFT (axis as an input, opset 20), STFT, MelWeightMatrix, window functions
def _dft_reference(x, length, axis, inverse=False, onesided=False):
    z = x[..., 0] if x.shape[-1] == 1 else x[..., 0] + 1j * x[..., 1]
    axis = int(axis) % x.ndim
    if inverse and onesided:
        return np.fft.irfft(z, n=length, axis=axis)[..., None].astype(x.dtype)
    y = np.fft.ifft(z, n=length, axis=axis) if inverse else np.fft.fft(z, n=length, axis=axis)
    if onesided:
        y = np.take(y, np.arange(y.shape[axis] // 2 + 1), axis=axis)
    return np.stack([y.real, y.imag], -1).astype(x.dtype)


def _i64(v):
    return np.asarray(v, np.int64)


_dft = onnx_node("DFT", lambda x, n, a: _dft_reference(x, None, a))
_rfft = onnx_node("DFT", lambda x, n, a: _dft_reference(x, int(n), a, onesided=True), onesided=1)
_idft = onnx_node("DFT", lambda x, n, a: _dft_reference(x, None, a, inverse=True), inverse=1)
_irfft = onnx_node("DFT", lambda x, n, a: _dft_reference(x, int(n), a, inverse=True, onesided=True), inverse=1,
                   onesided=1)
for dt in FLOATS:
    # lengths 16 (radix 2), 12 and 9 (direct sums); truncated and zero-padded lines
    case(f"onnx_dft_{np.dtype(dt).name}",
         lambda x, c: (_dft(x, None, _i64(1)), _rfft(x, _i64(12), _i64(-2)), _idft(c, None, _i64(2)),
                       _irfft(c, _i64(16), _i64(1))),
         rand((2, 16, 3, 1), dt), rand((2, 9, 4, 2), dt), rtol=1e-4)


def _stft_reference(x, step, window):
    length, z = window.shape[0], x[..., 0]
    frames = (x.shape[1] - length) // int(step) + 1
    y = np.stack([np.fft.rfft(z[:, f * int(step):f * int(step) + length] * window, axis=1) for f in range(frames)], 1)
    return np.stack([y.real, y.imag], -1).astype(x.dtype)


_stft = onnx_node("STFT", _stft_reference, onesided=1)
case("onnx_stft", lambda x, w: _stft(x, np.asarray(5, np.int64), w), rand((2, 40, 1), F32), rand((12,), F32, 0, 1),
     rtol=1e-4)


_det = onnx_node("Det", lambda x: np.linalg.det(x).astype(x.dtype))
# batched, with a singular matrix (two equal rows) among them; float32 only (ONNX Runtime has no double Det)
case("onnx_det_float32", lambda x: (_det(x), _det(np.concatenate([x[:1, :1], x[:1, :1], x[:1, 2:]], 1))),
     rand((3, 4, 4), F32), rtol=1e-4)


def _mel_reference(bins, length, rate, lower, upper):
    bins, length, rate = int(bins), int(length), int(rate)
    mel = 2595 * np.log1p(np.asarray([lower, upper], np.float32) / np.float32(700)) / np.float32(np.log(10))
    step = (mel[1] - mel[0]) / np.float32(bins + 2)
    hz = 700 * np.expm1((np.arange(bins + 2) * np.float64(step) + np.float64(mel[0])) / 2595 * np.log(10))
    points = np.floor((length + 1) * hz / rate).astype(np.int64)
    out = np.zeros((length // 2 + 1, bins), np.float32)
    for i in range(bins):
        lo, center, hi = points[i:i + 3]
        rows = np.arange(lo, hi + 1)
        rising = (rows - lo) / max(center - lo, 1) if center > lo else (rows == center).astype(float)
        falling = (hi - rows) / max(hi - center, 1)
        out[rows[rows <= center], i] = rising[rows <= center]
        out[rows[(rows >= center) & (rows < hi)], i] = falling[(rows >= center) & (rows < hi)]
    return out


_mel = onnx_node("MelWeightMatrix", _mel_reference)
# num_mel_bins and dft_length are model inputs (read at run time)
case("onnx_mel_weight_matrix", lambda b, n: _mel(b, n, np.asarray(16000, np.int64), np.asarray(20, np.float32),
                                                 np.asarray(7000, np.float32)),
     rand((), I64, 10, 10), rand((), I64, 64, 64))


def _window(op_type, a0, a1, a2, periodic):
    def reference(n):
        k = np.arange(int(n))
        period = int(n) if periodic else int(n) - 1
        return (a0 - a1 * np.cos(2 * np.pi * k / period) + a2 * np.cos(4 * np.pi * k / period)).astype(np.float32)
    return onnx_node(op_type, reference, periodic=int(periodic))


_hann, _hamming = _window("HannWindow", 0.5, 0.5, 0, True), _window("HammingWindow", 25 / 46, 21 / 46, 0, False)
_blackman = _window("BlackmanWindow", 0.42, 0.5, 0.08, True)
# the size is a model input (read at run time); times x keeps a data input
case("onnx_windows", lambda x, n: (_hann(n) * x, _hamming(n), _blackman(n)), rand((10,), F32), rand((), I64, 10, 10))

# Registered native ops that no row above runs, and the tests that exercise them instead
# (tests/native/test_op_registry.py fails for an op with neither, and for an entry here that has a row now).
NATIVE_OPS_WITHOUT_ROWS = {
    # output sizes known only once the node ran: no traced function emits them (NumPy's tracer needs sizes)
    "NonZero": "a data-dependent output size; three-way (NumPy, ONNX Runtime, native) in "
               "tests/native/test_runtime_shapes.py::test_data_dependent_sizes, and every test_nonzero* node test in "
               "tests/backend/test_onnx_node_tests.py::test_data_dependent_size_node_tests_pass",
    "Unique": "data-dependent output sizes; three-way in tests/native/test_runtime_shapes.py::"
              "test_data_dependent_sizes, and every test_unique* node test in "
              "tests/backend/test_onnx_node_tests.py::test_data_dependent_size_node_tests_pass",
    "NonMaxSuppression": "a data-dependent output size; three-way in tests/native/test_runtime_shapes.py::"
                         "test_data_dependent_sizes, and every test_nonmaxsuppression* node test in "
                         "tests/backend/test_onnx_node_tests.py::test_data_dependent_size_node_tests_pass",
    "Compress": "a data-dependent output size; three-way in tests/native/test_runtime_shapes.py::"
                "test_data_dependent_sizes, and every test_compress* node test in "
                "tests/backend/test_onnx_node_tests.py::test_data_dependent_size_node_tests_pass",
    # ops of other domains than ONNX's default (the NumPy front end emits only that one) or newer than opset
    # 21: ONNX's node tests for each run in
    # tests/backend/test_onnx_node_tests.py::test_signal_and_domain_node_tests_pass
    "TensorScatter": "new in opset 24 (traced models use 21); ONNX's test_tensorscatter* node tests run in "
                     "tests/backend/test_onnx_node_tests.py::test_signal_and_domain_node_tests_pass",
    **{f"ai.onnx.preview.training.{op}": "ai.onnx.preview.training domain (the front end emits only ai.onnx); "
       f"ONNX's node tests for {op} run in "
       "tests/backend/test_onnx_node_tests.py::test_signal_and_domain_node_tests_pass"
       for op in ("Adagrad", "Momentum", "Adam")},
    **{f"ai.onnx.ml.{op}": "ai.onnx.ml domain (the front end emits only ai.onnx); ONNX's test_ai_onnx_ml_* node "
       "tests for it run in tests/backend/test_onnx_node_tests.py::test_signal_and_domain_node_tests_pass"
       for op in ("Binarizer", "ArrayFeatureExtractor", "TreeEnsemble")},
    # gone from ONNX before opset 21, the opset traced models use, so no traced function can emit them
    "Scatter": "deprecated in opset 11 for ScatterElements (same rule class, rows above); ONNX's node tests "
               "test_scatter_with_axis / test_scatter_without_axis run in tests/backend/test_onnx_node_tests.py "
               "(its sample, or all under -m slow)",
    "Scan": "the tracer lowers exporter.scan to Loop; Scan from .onnx files is checked three ways in "
            "tests/native/test_control_flow.py (forward, reverse, other axes, state, nesting) and by ONNX's "
            "test_scan9_* node tests in tests/backend",
    "CumProd": "new in opset 26 (traced models use 21); ONNX's test_cumprod_* node tests run in "
               "tests/backend/test_onnx_node_tests.py::test_opset_26_node_tests_pass (same rule and kernel as CumSum)",
    "BitCast": "new in opset 26 (traced models use 21, ONNX Runtime has no kernel for it); ONNX's test_bitcast_* "
               "node tests run in tests/backend/test_onnx_node_tests.py::test_opset_26_node_tests_pass",
    "Swish": "new in opset 24 (traced models use 21); ONNX's test_swiglu* node tests (whose function body has "
             "a Swish) run in tests/backend/test_onnx_node_tests.py::test_opset_26_node_tests_pass",
    "Upsample": "deprecated in opset 10 for Resize (same rule class, rows above); ONNX's test_upsample_nearest "
                "runs in tests/backend/test_node_tests_fixed_inputs.py::test_resize_cases_with_fixed_scales_and_sizes",
}
