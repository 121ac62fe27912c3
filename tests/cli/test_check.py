"""`exporter check`: the parity report, its exit codes and JSON."""
import json
import os
import re

import numpy as np
import pytest

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
    again = exporter("check", os.path.join(ROOT, "examples", "mlp.py"), "--samples", "0")
    assert again.returncode == 0 and "build" not in again.stdout + again.stderr  # cached: nothing to announce


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


def test_check_states_the_rule_and_the_sizes_tried(tmp_path):
    result = exporter("check", os.path.join(ROOT, "examples", "mlp.py"), "--samples", "2",
                      "--backends", "python,onnxruntime")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verdict ok when |err| <= atol + rtol*|ref|" in result.stdout
    assert "sizes tried: batch = 1, 2, 3" in result.stdout  # not just the example's shape
    assert "output_0: float32[batch, 2]" in result.stdout


def test_mismatch_names_the_tolerance_and_how_to_change_it(tmp_path):
    path = write(tmp_path, """
        import numpy as np
        def model(x):
            return np.exp(x).sum(axis=-1)
        example_inputs = (np.linspace(0, 3, 300, dtype=np.float32).reshape(3, 100),)
    """)
    result = exporter("check", path, "--backends", "python,onnxruntime", "--samples", "0", "--rtol", "0")
    assert result.returncode == 1, result.stdout + result.stderr
    assert re.search(r"onnxruntime, output_0: max abs err \S+ exceeds atol 1e-05 \+ rtol 0e\+00\*\|ref\| "
                     r"\(given with --rtol/--atol\)", result.stdout), result.stdout
    assert "pass --rtol R and/or --atol A" in result.stdout


def test_a_backend_that_cannot_run_is_exit_2_with_its_own_message(tmp_path):
    # x and y share the dim N: ONNX Runtime runs them at different sizes, the native program refuses
    graph = helper.make_graph([helper.make_node("Concat", ["x", "y"], ["z"], axis=0)], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3]),
                               helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
                              [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["M", 3])])
    path = tmp_path / "c.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    np.save(tmp_path / "x.npy", np.ones((2, 3), np.float32))
    np.save(tmp_path / "y.npy", np.ones((3, 3), np.float32))
    result = exporter("check", str(path), "--inputs", str(tmp_path / "x.npy"), str(tmp_path / "y.npy"),
                      "--samples", "0")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "MISMATCH" not in result.stdout and "INCOMPLETE: native could not run" in result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error")]  # besides build progress
    assert "Traceback" not in result.stderr and len(errors) == 1 and errors[0].startswith("error: native could not run the model: "), result.stderr
    assert "'N' = 3, but another input gave it as 2" in errors[0]  # the program's own words
    assert "input set 0 = the example: x: float32[2, 3], y: float32[3, 3]" in errors[0]


def test_samples_are_added_to_given_inputs(tmp_path):
    path = write(tmp_path, """
        import numpy as np
        def model(x):
            return x * 2
        example_inputs = (np.ones((2, 3), np.float32),)
        dynamic_axes = {"x": {0: "n"}}
    """)
    np.save(tmp_path / "x.npy", np.ones((5, 3), np.float32))
    report = tmp_path / "r.json"
    result = exporter("check", path, "--inputs", str(tmp_path / "x.npy"), "--samples", "2",
                      "--backends", "python,onnxruntime", "--json", str(report))
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(report.read_text())
    assert data["samples"] == 3 and data["sizes"] == {"n": [5, 6, 7]}


def test_check_model_returns_a_report_without_printing(capsys):
    from exporter.check import check_model
    report = check_model(os.path.join(ROOT, "examples", "mlp.py"), samples=1, backends="python,onnxruntime")
    assert report.exit_code == 0 and report.reference == "python" and report.backends == ["onnxruntime"]
    assert capsys.readouterr().out == ""
    assert report.outputs["output_0"]["rows"]["onnxruntime"]["ok"]


FLOAT64_TAIL = """
    import numpy as np
    W = np.random.default_rng(0).standard_normal((32, 32)).astype(np.float32)
    def model(x):
        h = np.tanh(x @ W) @ W                                     # a float32 pipeline
        return h.mean(axis=-1) * np.float64(0.5) + np.float64(1.0)  # NEP 50: a float64 scalar promotes the tail
    example_inputs = (np.random.default_rng(1).standard_normal((4, 32)).astype(np.float32),)
"""


def test_float32_pipeline_with_a_float64_tail_uses_float32_tolerances(tmp_path):
    path = write(tmp_path, FLOAT64_TAIL)
    report = tmp_path / "r.json"
    result = exporter("check", path, "--samples", "1", "--json", str(report))
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"output_0: float64\[4\]", result.stdout)
    assert re.search(r"native +ok .* rtol 1e-04 atol 1e-05 \(float32\) +ok", result.stdout), result.stdout
    rows = json.loads(report.read_text())["outputs"]["output_0"]
    assert {r["tolerance_from"] for r in rows.values()} == {"float32"}
    assert all(r["max_ulp"] is not None and r["max_ulp"] >= 0 for r in rows.values())
    strict = exporter("check", path, "--samples", "0", "--rtol", "0", "--atol", "0")
    assert strict.returncode == 1, strict.stdout + strict.stderr
    assert "(given)" in strict.stdout and "given with --rtol/--atol" in strict.stdout


def test_precision_dtypes_walk_the_path_back_from_each_output():
    from exporter.check import precision_dtypes
    f, d, i = TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.INT64
    nodes = [helper.make_node("Cast", ["x"], ["x64"], to=d),          # float32 input cast up: float32-accurate
             helper.make_node("Exp", ["x64"], ["a"]),
             helper.make_node("Exp", ["y"], ["b"]),                     # float64 all the way
             helper.make_node("Cast", ["n"], ["n64"], to=d),            # from integers: float64 from here on
             helper.make_node("Add", ["n64", "b"], ["c"]),
             helper.make_node("Add", ["n", "n"], ["m"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", f, [2]),
                                            helper.make_tensor_value_info("y", d, [2]),
                                            helper.make_tensor_value_info("n", i, [2])],
                              [helper.make_tensor_value_info(o, t, [2]) for o, t in
                               (("a", d), ("b", d), ("c", d), ("m", i))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    got = precision_dtypes(model)
    assert {k: v and v.name for k, v in got.items()} == {"a": "float32", "b": "float64", "c": "float64", "m": None}


def test_ulp_distance_and_the_ulp_column():
    from exporter.check import compare, ulp_distance
    one = np.float32(1.0)
    nxt = np.nextafter(one, np.float32(2))
    assert ulp_distance(np.array([one, 0.0, -0.0], np.float32), np.array([nxt, -0.0, 0.0], np.float32)).tolist() == [1, 0, 0]
    tiny = np.array([np.finfo(np.float64).smallest_subnormal])
    assert ulp_distance(-tiny, tiny).tolist() == [2]  # across zero: -min, 0, +min
    row = compare(np.array([1.0, 2.0]), np.array([1.0, np.nextafter(2.0, 3.0)]), tolerance_dtype=np.float32)
    assert row["max_ulp"] == 1 and row["tolerance_from"] == "float32" and row["rtol"] == 1e-4 and row["ok"]
    ints = compare(np.array([1, 5]), np.array([1, 7]))
    assert ints["max_ulp"] is None and ints["max_abs"] == 2 and not ints["ok"]


def test_check_does_not_import_the_cli():
    import subprocess
    import sys
    code = "import sys, exporter.check; assert 'exporter.cli' not in sys.modules, sorted(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)


LOCALIZE_MODEL = """
    import numpy as np
    W = np.random.default_rng(0).standard_normal((5, 5)).astype(np.float32)
    def model(x):
        a = np.exp(x)
        s = a.sum(axis=-1, keepdims=True)
        y = np.sqrt(a / s) @ W
        return y.max(axis=-1)
    example_inputs = (np.random.default_rng(1).standard_normal((3, 5)).astype(np.float32),)
"""


def test_localize_names_the_node_perturbed_in_the_native_code(tmp_path, monkeypatch):
    import importlib
    from exporter.check import check_model
    native_build = importlib.import_module("exporter.native.build")  # (exporter.native.build is also a function)
    path = write(tmp_path, LOCALIZE_MODEL)
    render = native_build.render

    def perturbed(model, name="model", example_dims=None, **options):  # the generated C++ of one step, edited
        files, facts = render(model, name, example_dims, **options)
        source = files[f"{facts.name}.cpp"]
        call = "exporter_rt::vm::exp<float>("  # the model's one Exp (float32: the vectorised exp of vmath.h)
        assert source.count(call) == 1
        files[f"{facts.name}.cpp"] = source.replace(call, "0.5f + " + call)
        return files, facts
    monkeypatch.setattr(native_build, "render", perturbed)
    report = check_model(path, samples=1, localize=True)
    assert report.exit_code == 1 and not report.outputs["output_0"]["rows"]["native"]["ok"]
    assert report.outputs["output_0"]["rows"]["onnxruntime"]["ok"]
    found = report.localization["first_divergence"]
    assert (found["op_type"], found["output"]) == ("Exp", "exp")
    assert found["source"].endswith("model.py:5 (in model): a = np.exp(x)"), found["source"]
    assert found["inputs"] == [{"name": "x", "shape": "float32[3, 5]"}]
    assert found["row"]["max_abs"] == pytest.approx(0.5, rel=1e-3) and found["row"]["max_ulp"] > 1000
    text = report.text()
    assert "first divergence: node 'Exp_node' (Exp), output 'exp'" in text
    assert re.search(r"compared \d+ of \d+ node outputs", text)


def test_localize_from_the_command_line_when_all_agree(tmp_path):
    path = write(tmp_path, LOCALIZE_MODEL)
    report = tmp_path / "r.json"
    result = exporter("check", path, "--samples", "0", "--localize", "--json", str(report))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "localize (input set 0): native against onnxruntime" in result.stdout
    assert "no node output differs" in result.stdout
    data = json.loads(report.read_text())["localization"]
    assert data["first_divergence"] is None and data["compared"] >= 4
    refused = exporter("check", path, "--backends", "python,onnxruntime", "--localize")
    assert refused.returncode == 2 and "include native in --backends" in refused.stderr
