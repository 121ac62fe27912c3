"""The dtype table agrees with ONNX, ONNX Runtime and NumPy, and the C++ side generated from it is current."""
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
    raw = row.np.kind == "V"
    assert np.dtype(row.descr) == (np.dtype(f"V{row.np.itemsize}") if raw else row.np)
    assert row.np.itemsize == int(row.descr[2:])
    for code in row.codes:  # every code the .npy reader accepts is one NumPy reads as this dtype
        assert (np.dtype(code) == row.np or (code in ("l", "L") and np.dtype(code).itemsize == 8)
                or (raw and np.dtype(code) == np.dtype(row.descr)))
    assert len(row.codes) < 8  # the C++ Kind struct holds 7 codes and a terminator
    assert row.is_float == (row.np.kind == "f" or raw) and (row.eps > 0) == row.is_float
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
                                  opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        onnx.checker.check_model(model)
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        assert session.get_inputs()[0].type == row.ort


def test_sets_and_listing():
    assert dtypes.KERNEL <= dtypes.NATIVE and dtypes.TRACED <= dtypes.NATIVE and dtypes.FLOATS <= dtypes.NATIVE
    assert dtypes.listing(dtypes.TRACED) == "float32, float64, int32, int64 and bool"
    with pytest.raises(KeyError):
        dtypes.by_name("complex64")
    assert np.dtype(np.float16) in dtypes.NATIVE - dtypes.KERNEL  # stored and moved, not computed by kernels
    # generated loops and Cast-wrapped kernels compute them in float32
    assert dtypes.WIDENED == {np.dtype(np.float16), np.dtype("bfloat16")}
