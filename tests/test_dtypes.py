"""The dtype table agrees with ONNX, ONNX Runtime and NumPy, and the C++ side generated from it is current."""
import os

import numpy as np
import pytest
from onnx import helper

from exporter import dtypes


def test_generated_cpp_is_current():
    with open(dtypes.INC_PATH) as f:
        assert f.read() == dtypes.render_cpp(), "runtime_c/dtypes.inc is stale: run python -m exporter.dtypes"


@pytest.mark.parametrize("row", dtypes.TABLE, ids=lambda d: d.name)
def test_row_agrees_with_onnx_and_numpy(row):
    assert helper.tensor_dtype_to_np_dtype(row.onnx) == row.np
    assert helper.np_dtype_to_tensor_dtype(row.np) == row.onnx
    # ml_dtypes' types (kind 'V') have no .npy descr of their own: NumPy saves them as raw records ('<V2')
    raw = row.descr[1] == "V"
    assert np.dtype(row.descr) == (np.dtype(f"V{row.np.itemsize}") if raw else row.np)
    assert row.np.itemsize == int(row.descr[2:])
    for code in row.codes:  # every code the .npy reader accepts is one NumPy reads as this dtype
        assert (np.dtype(code) == row.np or (code in ("l", "L") and np.dtype(code).itemsize == 8)
                or (raw and np.dtype(code) == np.dtype(row.descr)))
    assert len(row.codes) < 8  # the C++ Kind struct holds 7 codes and a terminator
    assert row.is_float == (row.np.kind == "f" or (raw and row.name in _ML_FLOATS))
    assert raw == (row.np.kind == "V" or row.name == "float8_e5m2") and (row.eps > 0) == row.is_float
    assert not row.compute or (row.is_float and by_name_kernel(row.compute))


_ML_FLOATS = ("bfloat16", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz", "float4_e2m1fn",
              "float8_e8m0fnu")  # ml_dtypes' floats; its int4, uint4, int2 and uint2 are integers


def by_name_kernel(name):
    return dtypes.by_name(name).native_kernels


def test_ort_type_strings_match_onnxruntime():
    """ONNX Runtime names each type as the table does: an Identity model's input type, or, for the types its
    CPU provider has no Identity for, a Cast to float32 (opset 25), or the type its refusal names (float4)."""
    import onnx
    import onnxruntime as ort
    for row in dtypes.TABLE:
        x = helper.make_tensor_value_info("x", row.onnx, [1])
        candidates = []
        for op, opset, ir, to in (("Identity", 21, 9, row.onnx), ("Cast", 25, 12, onnx.TensorProto.FLOAT)):
            y = helper.make_tensor_value_info("y", to, [1])
            node = helper.make_node(op, ["x"], ["y"], **({"to": to} if op == "Cast" else {}))
            model = helper.make_model(helper.make_graph([node], "g", [x], [y]), opset_imports=[helper.make_opsetid("", opset)])
            model.ir_version = ir  # float8 types need IR 9 (and Identity opset 19+); int2/uint2/e8m0 IR 12
            candidates.append(model)
        errors = []
        for model in candidates:
            try:
                session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
            except Exception as exc:  # noqa: BLE001 (no kernel for this type)
                errors.append(str(exc))
                continue
            assert session.get_inputs()[0].type == row.ort
            break
        else:
            assert f"Type '{row.ort}'" in errors[0], errors


def test_sets_and_listing():
    assert dtypes.KERNEL <= dtypes.NATIVE and dtypes.TRACED <= dtypes.NATIVE and dtypes.FLOATS <= dtypes.NATIVE
    assert dtypes.listing(dtypes.TRACED) == "float32, float64, int32, int64 and bool"
    with pytest.raises(KeyError):
        dtypes.by_name("complex64")
    assert np.dtype(np.float16) in dtypes.NATIVE - dtypes.KERNEL  # stored and moved, not computed by kernels
    # generated loops and Cast-wrapped kernels compute float16 and bfloat16 in float32 (bfloat16's sums
    # excepted: ReduceSum adds in bfloat16, as ONNX's reference does; see ops.BF16_WIDENED_KERNELS)
    assert dtypes.WIDENED == {np.dtype(np.float16), np.dtype("bfloat16")}


def _grid_sweep(values):
    """A format's values (float32), the midpoints between neighbours, and the floats either side of those."""
    v = np.sort(values)
    mids = ((v[1:].astype(np.float64) + v[:-1]) / 2).astype(np.float32)
    return [v, mids, np.nextafter(mids, np.float32(np.inf)), np.nextafter(mids, np.float32(-np.inf))]


def _run_program(tmp_path, name, source, xs):
    """Compile a C++ program against the runtime headers and feed it `xs` (hex floats, signed NaNs); its
    output lines."""
    import subprocess
    path = tmp_path / f"{name}.cpp"
    path.write_text(source)
    runtime = os.path.dirname(dtypes.INC_PATH)
    subprocess.run(["g++", "-std=c++17", "-O1", f"-I{runtime}", str(path), "-o", str(tmp_path / name)], check=True)
    text = "\n".join(float(x).hex() if np.isfinite(x) else ("-" if np.signbit(x) else "") + str(abs(x)) for x in xs)
    return iter(subprocess.run([str(tmp_path / name)], input=text, capture_output=True, text=True,
                               check=True).stdout.splitlines())


_FLOAT8_PROGRAM = r"""
#include <cstdio>
#include <vector>

#include "exporter_runtime.h"
template <typename T> void run(const std::vector<float>& xs) {
    for (int c = 0; c < 256; ++c) { T t; t.bits = uint8_t(c); std::printf("%a\n", double(float(t))); }
    for (float x : xs) std::printf("%d %d\n", int(T(x).bits), int(exporter_rt::cast_unsaturated<T>(x).bits));
}
int main() {
    std::vector<float> xs;
    float x;
    while (std::scanf("%a", &x) == 1) xs.push_back(x);
    run<exporter_rt::float8e4m3fn>(xs); run<exporter_rt::float8e4m3fnuz>(xs);
    run<exporter_rt::float8e5m2>(xs); run<exporter_rt::float8e5m2fnuz>(xs);
}
"""
FLOAT8 = ("float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz")


def test_float8_conversions_match_onnx_reference(tmp_path):
    """Every code decoded, and a sweep of floats (each type's values, the midpoints between them and their
    neighbours, infinities, NaN, random magnitudes) encoded with and without saturate, as ONNX's reference
    Cast computes them (numpy_helper.saturate_cast, else ml_dtypes' astype)."""
    import shutil
    from onnx import numpy_helper
    if shutil.which("g++") is None:
        pytest.skip("no g++")
    rng = np.random.default_rng(0)
    xs = [np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-9, -1e-9, 1e30], np.float32),
          (rng.standard_normal(4000) * 2.0 ** rng.integers(-20, 20, 4000)).astype(np.float32)]
    for name in FLOAT8:
        v = np.arange(256, dtype=np.uint8).view(dtypes.by_name(name).np).astype(np.float32)
        xs += _grid_sweep(v[np.isfinite(v)])
    xs = np.concatenate(xs)
    lines = _run_program(tmp_path, "float8", _FLOAT8_PROGRAM, xs)
    for name in FLOAT8:
        dt = dtypes.by_name(name).np
        decoded = np.array([float.fromhex(next(lines)) for _ in range(256)], np.float32)
        np.testing.assert_array_equal(decoded, np.arange(256, dtype=np.uint8).view(dt).astype(np.float32))
        got = np.array([next(lines).split() for _ in xs], np.uint8)
        for column, want in ((0, numpy_helper.saturate_cast(xs, dt)), (1, xs.astype(dt))):
            got_f, want_f = got[:, column].view(dt).astype(np.float32), want.astype(np.float32)
            same = (got[:, column] == want.view(np.uint8)) | (np.isnan(got_f) & np.isnan(want_f))
            assert same.all(), (name, "saturate" if column == 0 else "no saturate", xs[~same][:5])


_SUBBYTE_PROGRAM = r"""
#include <cstdio>
#include <vector>

#include "exporter_runtime.h"
namespace rt = exporter_rt;
template <typename T> void decode() {  // every code of the type's byte
    for (int c = 0; c < 256; ++c) { T t; t.bits = uint8_t(c); std::printf("%a\n", double(float(t))); }
}
template <typename T> void encode(const std::vector<float>& xs) {
    for (float x : xs) std::printf("%d\n", int(rt::cast<T>(x).bits));
    for (float x : xs) std::printf("%d\n", int(rt::cast<T>(_Float16(x)).bits));
}
template <typename T> void from_ints() {  // Cast from int32 and int8: keep the low bits
    for (int v = -300; v <= 300; ++v) std::printf("%d %d\n", int(rt::cast<T>(int32_t(v)).bits), int(rt::cast<T>(int8_t(v)).bits));
}
int main() {
    std::vector<float> xs;
    float x;
    while (std::scanf("%a", &x) == 1) xs.push_back(x);
    decode<rt::float4e2m1fn>(); encode<rt::float4e2m1fn>(xs);
    decode<rt::float8e8m0fnu>();
    for (int saturate = 0; saturate < 2; ++saturate)
        for (auto mode : {rt::float8e8m0fnu::kUp, rt::float8e8m0fnu::kDown, rt::float8e8m0fnu::kNearest})
            for (float v : xs) std::printf("%d\n", int(rt::float8e8m0fnu::from(v, saturate, mode).bits));
    decode<rt::int4>(); encode<rt::int4>(xs); from_ints<rt::int4>();
    decode<rt::uint4>(); encode<rt::uint4>(xs); from_ints<rt::uint4>();
    decode<rt::int2>(); encode<rt::int2>(xs); from_ints<rt::int2>();
    decode<rt::uint2>(); encode<rt::uint2>(xs); from_ints<rt::uint2>();
}
"""
SUBBYTE = ("float4_e2m1fn", "float8_e8m0fnu", "int4", "uint4", "int2", "uint2")


def test_subbyte_and_e8m0_conversions_match_onnx_reference(tmp_path):
    """float4_e2m1fn, float8_e8m0fnu, int4, uint4, int2 and uint2: every code decoded, and a sweep of floats (each type's values, the
    midpoints between them and their neighbours, infinities, NaN of both signs, out-of-range and random
    magnitudes), from float32 and float16, encoded as ONNX's reference Cast computes them: ml_dtypes' astype,
    and onnx.numpy_helper.to_float8e8m0 for e8m0 (each round_mode, with and without saturate). The small
    integers from int32 and int8 keep the low bits."""
    import shutil
    import warnings
    from onnx import numpy_helper
    if shutil.which("g++") is None:
        pytest.skip("no g++")
    rng = np.random.default_rng(0)
    xs = [np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1e-9, -1e-9, 1e30, -1e30, 3e38, 2.0 ** -127,
                    2.0 ** -149, 1.5 * 2.0 ** 127], np.float32),
          np.arange(-20, 20, 0.25, dtype=np.float32),
          (rng.standard_normal(3000) * 2.0 ** rng.integers(-20, 20, 3000)).astype(np.float32),
          rng.uniform(2.0 ** -130, 2.0 ** 127, 500).astype(np.float32)]
    xs += _grid_sweep(np.arange(16, dtype=np.uint8).view(dtypes.by_name("float4_e2m1fn").np).astype(np.float32))
    xs = np.concatenate(xs)
    lines = _run_program(tmp_path, "subbyte", _SUBBYTE_PROGRAM, xs)
    codes = np.arange(256, dtype=np.uint8)

    def take(n, parse=int):
        return np.array([parse(next(lines)) for _ in range(n)])

    def same_codes(got, want, what):
        bad = got != want.view(np.uint8).astype(got.dtype)
        assert not bad.any(), (what, xs[bad[:len(xs)] if len(bad) == len(xs) else slice(0, 0)][:5], got[bad][:5])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ml_dtypes warns on NaN and out-of-range casts
        for name in SUBBYTE:
            dt = dtypes.by_name(name).np
            valid = {"float8_e8m0fnu": 256, "int2": 4, "uint2": 4}.get(name, 16)  # the codes a value can have
            decoded = take(256, float.fromhex).astype(np.float32)[:valid]
            np.testing.assert_array_equal(decoded, codes[:valid].view(dt).astype(np.float32), err_msg=name)
            if name == "float8_e8m0fnu":
                for saturate in (False, True):
                    for mode in ("up", "down", "nearest"):
                        same_codes(take(len(xs)), numpy_helper.to_float8e8m0(xs, saturate, mode), (name, mode, saturate))
                continue
            same_codes(take(len(xs)), xs.astype(dt), (name, "from float32"))
            same_codes(take(len(xs)), xs.astype(np.float16).astype(dt), (name, "from float16"))
            if name.startswith(("int", "uint")):
                got = np.array([next(lines).split() for _ in range(601)], np.uint8)
                ints = np.arange(-300, 301)
                same_codes(got[:, 0], ints.astype(np.int32).astype(dt), (name, "from int32"))
                same_codes(got[:, 1], ints.astype(np.int8).astype(dt), (name, "from int8"))
