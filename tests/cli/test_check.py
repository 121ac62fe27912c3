"""`exporter check`: the parity report, its exit codes and JSON."""
import json
import os

from onnx import TensorProto, helper
import onnx

from tests.cli.test_export_onnx import ROOT, exporter, write


def test_check_mlp_all_backends_agree(tmp_path):
    report = tmp_path / "r.json"
    result = exporter("check", os.path.join(ROOT, "examples", "mlp.py"), "--samples", "2", "--json", str(report))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all backends agree (python, onnxruntime, native)" in result.stdout
    data = json.loads(report.read_text())
    assert data["ok"] and data["samples"] == 3
    assert set(data["outputs"]["output_0"]) == {"onnxruntime", "native"}


def test_check_reports_a_mismatch_with_exit_1(tmp_path):
    # NumPy's float32 sum and a float64 reference cannot agree to a tolerance of zero
    path = write(tmp_path, """
        import numpy as np
        def model(x):
            return np.exp(x).sum(axis=-1)
        example_inputs = (np.linspace(0, 3, 300, dtype=np.float32).reshape(3, 100),)
    """)
    result = exporter("check", path, "--backends", "python,onnxruntime", "--rtol", "0", "--atol", "0")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "MISMATCH" in result.stdout


def test_check_unexportable_model_exits_2(tmp_path):
    path = write(tmp_path, """
        import numpy as np
        def model(x):
            if x.sum() > 0:
                return x
            return -x
        example_inputs = (np.ones(3, np.float32),)
    """)
    result = exporter("check", path)
    assert result.returncode == 2 and "np.where" in result.stderr and "Traceback" not in result.stderr


def test_check_onnx_file_uses_onnxruntime_as_reference(tmp_path):
    graph = helper.make_graph([helper.make_node("Sigmoid", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])])
    path = tmp_path / "s.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    result = exporter("check", str(path), "--samples", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "reference: onnxruntime" in result.stdout and "native" in result.stdout
