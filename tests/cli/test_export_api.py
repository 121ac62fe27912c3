"""exporter.export() for every target, and the CLI's --name / --to lib / created-directory summary."""
import ctypes
import os
import subprocess

import numpy as np
import onnx
import pytest

import exporter
from tests.cli.test_export_onnx import ROOT, exporter as run_cli

W = np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3)


def head(x):
    return np.maximum(x @ W, 0)[:, 1:]


X = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
DYN = {"x": {0: "batch"}}


def test_onnx_target_returns_paths_and_signature(tmp_path):
    out = exporter.export(head, (X,), path=tmp_path / "new" / "h.onnx", dynamic_axes=DYN)
    assert out.to == "onnx" and out.paths == [str(tmp_path / "new" / "h.onnx")]
    assert out.created == [str(tmp_path / "new")] and "created missing directory" in out.message()
    assert out.signature == {"inputs": [{"name": "x", "dtype": "float32", "shape": ("batch", 4)}],
                             "outputs": [{"name": "output_0", "dtype": "float32", "shape": ("batch", 2)}]}
    onnx.checker.check_model(onnx.load(out.paths[0]), full_check=True)
    with pytest.raises(exporter.ExporterError, match="already ONNX"):
        exporter.export(out.paths[0], to="onnx", path=tmp_path / "again.onnx")
    with pytest.raises(exporter.ExporterError, match="unknown target"):
        exporter.export(head, (X,), to="dll")


def test_cpp_target_uses_the_name_and_shows_simplified_dims(tmp_path):
    out = exporter.export(head, (X,), to="cpp", path=tmp_path / "proj", name="head", dynamic_axes=DYN)
    d = tmp_path / "proj"
    assert out.paths == [str(d)] and (d / "head.h").exists() and (d / "head.cpp").exists()
    assert "head_create" in (d / "head.h").read_text() and "head_static" in (d / "CMakeLists.txt").read_text()
    # the [:, 1:] slice over a static axis and the batch axis through matmul: no slice_len left to read
    assert out.signature["outputs"][0]["shape"] == ("batch", 2)
    main = (d / "main.cpp").read_text()
    assert "slice_len" not in main and "batch, 2" in main


def test_exe_and_lib_targets_from_a_function_an_onnx_file_and_a_hybridized_function(tmp_path):
    onnx_path = exporter.export(head, (X,), path=tmp_path / "h.onnx", dynamic_axes=DYN).paths[0]
    exe = exporter.export(onnx_path, to="exe", path=tmp_path / "bin" / "head", name="head")
    assert exe.paths == [str(tmp_path / "bin" / "head")] and os.access(exe.paths[0], os.X_OK)
    sig = subprocess.run([exe.paths[0], "--help"], capture_output=True, text=True).stdout
    assert "batch" in sig and "slice_len" not in sig
    np.save(tmp_path / "x.npy", np.ones((5, 4), np.float32))
    subprocess.run([exe.paths[0], "--out", str(tmp_path), str(tmp_path / "x.npy")], check=True)
    np.testing.assert_allclose(np.load(tmp_path / "output_0.npy"), head(np.ones((5, 4), np.float32)), rtol=1e-6)

    fast = exporter.hybridize(head, dynamic_axes=DYN)
    fast(X)
    lib = exporter.export(fast, to="lib", path=tmp_path / "lib", name="headlib")
    files = sorted(os.listdir(lib.paths[0]))
    assert [f for f in files if not f.startswith(".")] == ["headlib.h", "libheadlib.a", "libheadlib.so"]
    so = ctypes.CDLL(os.path.join(lib.paths[0], "libheadlib.so"))
    so.headlib_num_inputs.restype = ctypes.c_int
    so.headlib_dim_name.restype = ctypes.c_char_p
    assert so.headlib_num_inputs() == 1 and so.headlib_dim_name(0) == b"batch"
    loaded = lib.load()  # the exported library in this process, and its profile
    np.testing.assert_allclose(loaded(X)[0], head(X), rtol=1e-6)
    prof = loaded.profile(X, repeat=2)
    assert prof.runs == 2 and any(r.nodes[0][0] == "MatMul" and r.flops == 2 * 2 * 4 * 3 for r in prof.rows)
    with pytest.raises(exporter.ExporterError, match="to='lib'"):
        exe.load()
    with pytest.raises(exporter.ExporterError, match="example_inputs"):
        exporter.export(exporter.hybridize(head), to="lib", path=tmp_path / "none")


def test_cli_name_lib_target_and_errors(tmp_path):
    mlp = os.path.join(ROOT, "examples", "mlp.py")
    result = run_cli("export", mlp, "--to", "cpp", "--name", "classifier", "-o", str(tmp_path / "a" / "c"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "a" / "c" / "classifier.h").exists()
    assert f"(created missing directory {tmp_path / 'a'})" in result.stdout
    bad = run_cli("export", mlp, "--to", "cpp", "--name", "2fast", "-o", str(tmp_path / "b"))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and bad.stderr.startswith("error: --name '2fast'")
    assert not (tmp_path / "b").exists()
