"""The op table: one row per traced function (and dtype), shared by the ONNX Runtime tests and the
native-backend tests, so every op is checked three ways: NumPy eager, ONNX Runtime, native binary.

A row is `Case(name, fn, inputs, dynamic)`: `inputs(rng, scale)` makes fresh example inputs (scale > 1
stretches the dynamic axes so that other run-time sizes get tested too).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from exporter import ops

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
case("relu_int", lambda x: ops.relu(x), rand((3, 4), I64))
