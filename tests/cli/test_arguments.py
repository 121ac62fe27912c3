"""Command-line arguments a new user gets wrong: --dynamic naming an axis or input that does not exist, and
-o pointing at something that cannot be written. Each is one `error:` line, exit 2, nothing written."""
import os
import re

import numpy as np
import pytest

from exporter import trace
from exporter.errors import ExporterError
from tests.cli.test_export_onnx import exporter, write

MODEL = """
    import numpy as np
    def model(x, y):
        return x * 2, y + 1
    example_inputs = (np.ones((2, 3), np.float32), np.ones(4, np.int64))
"""


def one_error_line(result, pattern):
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert re.search(pattern, lines[0]), lines[0]


@pytest.mark.parametrize("spec, pattern", [
    # axis 5 of a 2-D input used to wrap around silently to axis 1
    ("x:5=foo", r"dynamic axis 5 of input 'x' is out of range: 'x' has rank 2 \(shape \(2, 3\)\); valid axes are 0\.\.1"),
    ("x:-3=foo", r"dynamic axis -3 of input 'x' is out of range: 'x' has rank 2"),
    ("z:0=foo", r"names input 'z', but the inputs are 'x' \(rank 2\), 'y' \(rank 1\)"),
    ("x:one=foo", r"--dynamic 'x:one=foo': expected INPUT:AXIS=NAME"),
    ("x:0=", r"dynamic axis 0 of input 'x' needs a name"),
])
def test_bad_dynamic_flag(tmp_path, spec, pattern):
    path = write(tmp_path, MODEL)
    out = tmp_path / "m.onnx"
    one_error_line(exporter("export", path, "--dynamic", spec, "-o", str(out)), pattern)
    assert not out.exists()


def test_negative_dynamic_axis_counts_from_the_end(tmp_path):
    path = write(tmp_path, MODEL)
    result = exporter("export", path, "--dynamic", "x:-1=cols", "-o", str(tmp_path / "m.onnx"))
    assert result.returncode == 0, result.stderr
    assert "x: float32[2, cols]" in result.stdout


def test_trace_checks_dynamic_axes_too():
    with pytest.raises(ExporterError, match=r"'x' has rank 1"):
        trace(lambda x: x, (np.ones(3, np.float32),), dynamic_axes={"x": {1: "n"}})


@pytest.mark.parametrize("to, make, pattern", [
    ("onnx", "dir", r"is a directory; give a file path, e.g. .*/target/model\.onnx"),
    ("exe", "dir", r"is a directory; give a file path, e.g. .*/target/model$"),
    ("cpp", "file", r"exists and is not a directory"),
    ("onnx", "file-parent", r"cannot write .*/target/sub/out: .*/target is a file, not a directory"),
    ("cpp", "file-parent", r"/target is a file, not a directory"),
    ("exe", "file-parent", r"/target is a file, not a directory"),
])
def test_unwritable_output_fails_before_any_work(tmp_path, to, make, pattern):
    path = write(tmp_path, MODEL)
    target = tmp_path / "target"
    if make == "dir":
        target.mkdir()
        (target / "keep.txt").write_text("mine")
    else:
        target.write_text("mine")
    out = target / "sub" / "out" if make == "file-parent" else target
    before = sorted(os.listdir(tmp_path))
    one_error_line(exporter("export", path, "--to", to, "-o", str(out)), pattern)
    assert sorted(os.listdir(tmp_path)) == before  # no temporary files left behind
    if make == "dir":
        assert os.listdir(target) == ["keep.txt"]
    else:
        assert target.read_text() == "mine"


def test_default_output_that_is_a_directory(tmp_path):
    path = write(tmp_path, MODEL, "net.py")
    (tmp_path / "net.onnx").mkdir()
    one_error_line(exporter("export", path, cwd=tmp_path), r"net\.onnx is a directory; give a file path")
