"""Narrow and unsigned integer tensors through an imported .onnx end to end: the program reads and writes
them as .npy files (int8 ... uint64), and the arithmetic wraps like NumPy's."""
import subprocess

import numpy as np
import onnx
from onnx import TensorProto, helper


def test_integer_dtypes_through_the_program(tmp_path):
    from tests.cli.test_export_onnx import exporter
    nodes = [helper.make_node("Add", ["a", "b"], ["sum"]),                      # uint8, wraps at 256
             helper.make_node("Cast", ["sum"], ["wide"], to=TensorProto.INT16),
             helper.make_node("Neg", ["wide"], ["neg"]),
             helper.make_node("Cast", ["neg"], ["out64"], to=TensorProto.UINT64),
             helper.make_node("BitShift", ["a", "c"], ["shifted"], direction="LEFT")]
    graph = helper.make_graph(nodes, "ints", [
        helper.make_tensor_value_info("a", TensorProto.UINT8, [2, 3]),
        helper.make_tensor_value_info("b", TensorProto.UINT8, [2, 3]),
        helper.make_tensor_value_info("c", TensorProto.UINT8, [3])],
        [helper.make_tensor_value_info("neg", TensorProto.INT16, [2, 3]),
         helper.make_tensor_value_info("out64", TensorProto.UINT64, [2, 3]),
         helper.make_tensor_value_info("shifted", TensorProto.UINT8, [2, 3])])
    path = tmp_path / "ints.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)]), path)
    exe = tmp_path / "ints"
    result = exporter("export", str(path), "--to", "exe", "-o", str(exe))
    assert result.returncode == 0, result.stderr
    a = np.array([[250, 1, 2], [3, 128, 255]], np.uint8)
    b = np.array([[10, 2, 3], [4, 128, 1]], np.uint8)
    c = np.array([1, 7, 9], np.uint8)
    for name, value in (("a", a), ("b", b), ("c", c)):
        np.save(tmp_path / f"{name}.npy", value)
    run = subprocess.run([str(exe), "--out", str(tmp_path), *(str(tmp_path / f"{n}.npy") for n in "abc")],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    wide = (a + b).astype(np.int16)
    expected = [-wide, (-wide).astype(np.uint64), np.where(c < 8, a << np.minimum(c, 7), 0).astype(np.uint8)]
    for k, e in enumerate(expected):
        got = np.load(tmp_path / f"output_{k}.npy")
        assert got.dtype == e.dtype
        np.testing.assert_array_equal(got, e)
    wrong = subprocess.run([str(exe), "--out", str(tmp_path), str(tmp_path / "a.npy"), str(tmp_path / "b.npy"),
                            str(tmp_path / "a.npy")], capture_output=True, text=True)
    assert wrong.returncode == 2 and "c" in wrong.stderr  # a 2x3 uint8 where c (3,) is expected
