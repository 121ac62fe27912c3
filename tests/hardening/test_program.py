"""The generated program's command line and output handling: all outputs or none (a later output that
cannot be written leaves nothing, exit 2), --out created like mkdir -p, strict --threads/--repeat, one
short error line for a wrong input count that names the input once."""
from __future__ import annotations

import os
import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from tests.hardening.conftest import exporter_cli


def _run(exe, *args):
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def two_outputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("two")
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Neg", ["x"], ["b"])], "two",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
                              [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["N", 3]),
                               helper.make_tensor_value_info("b", TensorProto.FLOAT, ["N", 3])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(d / "two.onnx"))
    result = exporter_cli("export", str(d / "two.onnx"), "--to", "exe", "-o", str(d / "two"))
    assert result.returncode == 0, result.stderr
    np.save(d / "x.npy", np.arange(6, dtype=np.float32).reshape(2, 3) - 2)
    return str(d / "two"), str(d / "x.npy")


def test_a_later_output_that_cannot_be_written_leaves_none(two_outputs, tmp_path):
    exe, x = two_outputs
    out = tmp_path / "out"
    (out / "output_1.npy" / "blocker").mkdir(parents=True)  # a non-empty directory where output 1 goes
    proc = _run(exe, "--out", str(out), x)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "output_1.npy" in proc.stderr and proc.stdout == ""
    assert sorted(os.listdir(out)) == ["output_1.npy"]  # no output_0.npy, no temporary files


def test_out_directory_is_created(two_outputs, tmp_path):
    exe, x = two_outputs
    proc = _run(exe, "--out", str(tmp_path / "a" / "b" / "c"), x)
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(tmp_path / "a" / "b" / "c")) == ["output_0.npy", "output_1.npy"]
    np.testing.assert_array_equal(np.load(tmp_path / "a" / "b" / "c" / "output_1.npy"), -np.load(x))
    (tmp_path / "file").write_text("not a directory")
    proc = _run(exe, "--out", str(tmp_path / "file" / "sub"), x)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    # bad input: no directory is created at all (they are made only once there is something to write)
    os.makedirs(tmp_path / "e")
    proc = _run(exe, "--out", str(tmp_path / "e" / "n1" / "n2"), "/nonexistent.npy")
    assert proc.returncode == 2 and not (tmp_path / "e" / "n1").exists()


@pytest.mark.parametrize("args, message", [
    (["--threads", "-3"], "--threads needs a whole number from 1 to 4096"),
    (["--threads", "99999999999999999999999"], "--threads needs a whole number"),
    (["--threads", "0x10"], "--threads needs a whole number"),
    (["--repeat", "0"], "--repeat needs a whole number"),
    (["--repeat", "1e3"], "--repeat needs a whole number"),
    (["--max-input-bytes", "-1"], "--max-input-bytes needs"),
    (["--out"], "--out needs a value"),
])
def test_bad_flags_are_one_line(mlp_program, args, message, tmp_path):
    np.save(tmp_path / "x.npy", np.ones((1, 512), np.float32))
    proc = _run(mlp_program, *args, str(tmp_path / "x.npy")) if args != ["--out"] else _run(mlp_program, *args)
    assert proc.returncode == 2 and message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_wrong_input_count_is_one_line(mlp_program):
    proc = _run(mlp_program, "a.npy", "b.npy")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        "mlp: error: expected 1 input file(s), got 2 (see --help)"]


def test_input_name_said_once_and_input_limit(mlp_program, tmp_path):
    np.save(tmp_path / "x64.npy", np.ones((2, 511), np.float32))
    proc = _run(mlp_program, str(tmp_path / "x64.npy"))
    assert proc.returncode == 2 and proc.stderr.count("input 'x'") == 1, proc.stderr
    assert "axis 1 must be 512, got 511" in proc.stderr
    np.save(tmp_path / "x.npy", np.ones((4, 512), np.float32))
    proc = _run(mlp_program, "--max-input-bytes", "4096", "--out", str(tmp_path / "o"), str(tmp_path / "x.npy"))
    assert proc.returncode == 2 and "over the limit of 4096" in proc.stderr and not (tmp_path / "o").exists()
    proc = _run(mlp_program, "--max-input-bytes", "8192", "--out", str(tmp_path / "o"), str(tmp_path / "x.npy"))
    assert proc.returncode == 0, proc.stderr


def test_directory_as_input_says_so(mlp_program, tmp_path):
    proc = _run(mlp_program, str(tmp_path))
    assert proc.returncode == 2 and "is a directory" in proc.stderr
