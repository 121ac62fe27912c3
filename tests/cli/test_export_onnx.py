"""`exporter export model.py --to onnx` end to end, and the model.py contract errors."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import onnx
import pytest

from tests.helpers import run_onnxruntime

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def exporter(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "exporter", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": ROOT, **(env or {})})


def write(tmp_path, source, name="model.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return str(path)


def test_export_mlp_to_onnx(tmp_path):
    out = tmp_path / "mlp.onnx"
    result = exporter("export", os.path.join(ROOT, "examples", "mlp.py"), "--to", "onnx", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "inputs (x: float32[batch, 512]) -> outputs (output_0: float32[batch, 2])" in result.stdout
    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    assert model.producer_name == "exporter" and model.opset_import[0].version == 21
    x = np.random.default_rng(0).standard_normal((7, 512)).astype(np.float32)
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    try:
        import mlp
    finally:
        sys.path.pop(0)
    np.testing.assert_allclose(run_onnxruntime(model, [x])[0], mlp.model(x), rtol=1e-5, atol=1e-5)
    names = [t.name for t in model.graph.initializer]
    assert len(names) == len(set(names))


def test_default_output_name_and_summary(tmp_path):
    path = write(tmp_path, """
        import numpy as np
        def model(a, b):
            return a * b, a + 1
        example_inputs = (np.ones(3, np.float32), np.ones(3, np.float32))
    """, "two.py")
    result = exporter("export", path, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "two.onnx").exists()
    model = onnx.load(str(tmp_path / "two.onnx"))
    assert [i.name for i in model.graph.input] == ["a", "b"]


def test_entry_and_dynamic_flag(tmp_path):
    path = write(tmp_path, """
        import numpy as np
        def model(x):
            return x
        def scale(x):
            return x * 3
        scale_example_inputs = (np.ones((2, 4), np.float32),)
        example_inputs = ()
    """)
    out = tmp_path / "scale.onnx"
    result = exporter("export", path, "--entry", "scale", "--dynamic", "x:0=n", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "float32[n, 4]" in result.stdout


def test_inputs_from_npy(tmp_path):
    path = write(tmp_path, "def model(x):\n    return x * 2\n")
    np.save(tmp_path / "x.npy", np.ones((3,), np.int32))
    result = exporter("export", path, "--inputs", str(tmp_path / "x.npy"), "-o", str(tmp_path / "o.onnx"))
    assert result.returncode == 0, result.stderr
    assert "int32[3]" in result.stdout


@pytest.mark.parametrize("source, pattern", [
    ("import numpy as np\nraise RuntimeError('boom')\n", r"model\.py:2: importing the model failed: RuntimeError: boom"),
    ("def model(x:\n", r"model\.py:1: syntax error"),
    ("import numpy as np\nexample_inputs = (np.ones(2),)\n", r"defines no `model`"),
    ("def model(x):\n    return x\n", r"defines no `example_inputs`"),
    ("import numpy as np\ndef model(x, y):\n    return x\nexample_inputs = (np.ones(2),)\n",
     r"`model\(x, y\)` takes 2 inputs, but 1 example inputs"),
    ("import numpy as np\ndef model(x):\n    return x\nexample_inputs = ([1, 2],)\n", r"is a list, not a NumPy array"),
    ("import numpy as np\ndef model(x):\n    if x.sum() > 0:\n        return x\n    return x\n"
     "example_inputs = (np.ones(2),)\n", r"model\.py:3: in model: if x\.sum\(\) > 0:.*np\.where"),
    ("import numpy as np\ndef model(x):\n    return np.linalg.svd(x)\nexample_inputs = (np.ones((2, 2)),)\n",
     r"numpy\.linalg\.svd is not supported"),
])
def test_user_errors_exit_2_without_traceback(tmp_path, source, pattern):
    import re
    path = write(tmp_path, source)
    out = tmp_path / "out.onnx"
    result = exporter("export", path, "-o", str(out))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert re.search(pattern, result.stderr, re.S), result.stderr
    assert not out.exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".exporter-")]


def test_missing_file():
    result = exporter("export", "does_not_exist.py")
    assert result.returncode == 2 and "no such file" in result.stderr


def test_help_explains_commands():
    result = exporter("--help")
    assert result.returncode == 0 and "export" in result.stdout and "check" in result.stdout
    result = exporter("export", "--help")
    assert "--to" in result.stdout and "--dynamic" in result.stdout and "--entry" in result.stdout
