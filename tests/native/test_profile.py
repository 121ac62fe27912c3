"""EXPORTER_PROFILE=1: the generated program prints per-step time, share and GFLOP/s, sorted, with the ONNX
node names of each step; without it, nothing."""
import subprocess

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from exporter.native import build


def test_profile_lists_steps_with_node_names(tmp_path):
    rng = np.random.default_rng(3)
    w = numpy_helper.from_array(rng.standard_normal((64, 48)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"], name="dense"), helper.make_node("Relu", ["h"], ["r"], name="act"),
         helper.make_node("Softmax", ["r"], ["y"], name="probs")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [8, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [8, 48])], [w])
    exe = build(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), "prof").executable
    x = tmp_path / "x.npy"
    np.save(x, rng.standard_normal((8, 64)).astype(np.float32))
    args = [exe, "--repeat", "3", "--out", str(tmp_path), str(x)]
    quiet = subprocess.run(args, capture_output=True, text=True, check=True)
    assert "profile of" not in quiet.stderr
    loud = subprocess.run(args, capture_output=True, text=True, check=True,
                          env={"EXPORTER_PROFILE": "1", "PATH": "/usr/bin:/bin"})
    lines = loud.stderr[loud.stderr.index("profile of prof"):].splitlines()
    assert "3 run(s)" in lines[0]
    rows = lines[2:4]
    assert any("MatMul 'dense'; Relu 'act'" in r for r in rows) and any("Softmax 'probs'" in r for r in rows)
    dense = next(r for r in rows if "dense" in r).split()
    assert float(dense[2]) > 0  # GFLOP/s of the GEMM step
    shares = [float(r.split()[1].rstrip("%")) for r in rows]
    assert shares == sorted(shares, reverse=True) and abs(sum(shares) - 100) < 0.5
