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
    assert row.is_float == (row.np.kind == "f" or raw)
    assert raw == (row.np.kind == "V" or row.name == "float8_e5m2") and (row.eps > 0) == row.is_float
    assert not row.compute or (row.is_float and by_name_kernel(row.compute))


def by_name_kernel(name):
    return dtypes.by_name(name).native_kernels


def test_ort_type_strings_match_onnxruntime():
    import onnx
    import onnxruntime as ort
    for row in dtypes.TABLE:
        x = helper.make_tensor_value_info("x", row.onnx, [1])
        y = helper.make_tensor_value_info("y", row.onnx, [1])
        model = helper.make_model(helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y]),
                                  opset_imports=[helper.make_opsetid("", 21)])
        model.ir_version = 9  # float8 types need IR 9 (and Identity opset 19+)
        onnx.checker.check_model(model)
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        assert session.get_inputs()[0].type == row.ort


def test_sets_and_listing():
    assert dtypes.KERNEL <= dtypes.NATIVE and dtypes.TRACED <= dtypes.NATIVE and dtypes.FLOATS <= dtypes.NATIVE
    assert dtypes.listing(dtypes.TRACED) == "float32, float64, int32, int64 and bool"
    with pytest.raises(KeyError):
        dtypes.by_name("complex64")
    assert np.dtype(np.float16) in dtypes.NATIVE - dtypes.KERNEL  # stored and moved, not computed by kernels
    # generated loops and Cast-wrapped kernels compute float16 in float32; bfloat16 is storage-only (Cast,
    # shape ops), as per-op float32 arithmetic rounded once per op missed ONNX's reference by 1 ulp
    assert dtypes.WIDENED == {np.dtype(np.float16)}
    assert np.dtype("bfloat16") in dtypes.NATIVE - dtypes.WIDENED


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
    import subprocess
    from onnx import numpy_helper
    if shutil.which("g++") is None:
        pytest.skip("no g++")
    rng = np.random.default_rng(0)
    xs = [np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-9, -1e-9, 1e30], np.float32),
          (rng.standard_normal(4000) * 2.0 ** rng.integers(-20, 20, 4000)).astype(np.float32)]
    for name in FLOAT8:
        v = np.arange(256, dtype=np.uint8).view(dtypes.by_name(name).np).astype(np.float32)
        v = np.sort(v[np.isfinite(v)])
        mids = ((v[1:].astype(np.float64) + v[:-1]) / 2).astype(np.float32)
        xs += [v, mids, np.nextafter(mids, np.float32(np.inf)), np.nextafter(mids, np.float32(-np.inf))]
    xs = np.concatenate(xs)
    source = tmp_path / "float8.cpp"
    source.write_text(_FLOAT8_PROGRAM)
    runtime = os.path.dirname(dtypes.INC_PATH)
    subprocess.run(["g++", "-std=c++17", "-O1", f"-I{runtime}", str(source), "-o", str(tmp_path / "float8")], check=True)
    text = "\n".join(float(x).hex() if np.isfinite(x) else str(x) for x in xs)
    lines = iter(subprocess.run([str(tmp_path / "float8")], input=text, capture_output=True, text=True,
                                check=True).stdout.splitlines())
    for name in FLOAT8:
        dt = dtypes.by_name(name).np
        decoded = np.array([float.fromhex(next(lines)) for _ in range(256)], np.float32)
        np.testing.assert_array_equal(decoded, np.arange(256, dtype=np.uint8).view(dt).astype(np.float32))
        got = np.array([next(lines).split() for _ in xs], np.uint8)
        for column, want in ((0, numpy_helper.saturate_cast(xs, dt)), (1, xs.astype(dt))):
            got_f, want_f = got[:, column].view(dt).astype(np.float32), want.astype(np.float32)
            same = (got[:, column] == want.view(np.uint8)) | (np.isnan(got_f) & np.isnan(want_f))
            assert same.all(), (name, "saturate" if column == 0 else "no saturate", xs[~same][:5])
