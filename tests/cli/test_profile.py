"""The generated program's --profile and --profile-json: one warm-up run, then per-step time over the --repeat
runs, sorted, with kinds, fused ONNX node names, shares and GFLOP/s; the outputs are those of a plain run."""
import json
import subprocess

import numpy as np
import pytest

from exporter.native import build
from tests.native.test_profile import FLOPS_PER_ITEM, profiled_model


@pytest.fixture(scope="module")
def program():
    return build(profiled_model(), "prof").executable


def _run(exe, tmp_path, batch, *flags):
    x = tmp_path / f"x{batch}.npy"
    np.save(x, np.random.default_rng(batch).standard_normal((batch, 2, 8, 8)).astype(np.float32))
    out = tmp_path / ("out" + "".join(f.strip("-") for f in flags) + str(batch))
    proc = subprocess.run([exe, *flags, "--out", str(out), str(x)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc, np.load(out / "output_0.npy")


def _table(stderr):
    lines = stderr[stderr.index("profile of prof"):].splitlines()
    return lines[0], lines[2:-1], lines[-1]


def test_profile_prints_every_step_sorted_with_nodes_shares_and_gflops(program, tmp_path):
    quiet, plain = _run(program, tmp_path, 3)
    assert "profile of" not in quiet.stderr
    loud, profiled = _run(program, tmp_path, 3, "--profile", "--repeat", "4", "--threads", "1")
    assert np.array_equal(profiled, plain)  # bit for bit: profiling only reads the clock
    head, rows, total = _table(loud.stderr)
    assert head.startswith("profile of prof: 4 run(s)") and head.endswith("in 4 steps")
    assert sorted(int(r.split()[0]) for r in rows) == [0, 1, 2, 3]
    times = [float(r.split()[2]) for r in rows]
    shares = [float(r.split()[3].rstrip("%")) for r in rows]
    assert times == sorted(times, reverse=True) and abs(sum(shares) - 100) < 0.05
    assert total.split()[:3] == ["total", total.split()[1], "100.00%"]
    assert abs(float(total.split()[1]) - sum(times)) < 0.05
    by_kind = {r.split()[1]: r for r in rows}
    assert by_kind["conv"].endswith("Conv 'conv'; Relu 'act'")
    assert by_kind["matmul"].endswith("MatMul 'dense'; Add 'bias'")
    for kind in ("conv", "conv_transpose", "matmul"):
        assert float(by_kind[kind].split()[4]) > 0  # GFLOP/s
    assert by_kind["softmax"].split()[4] == "Softmax"  # no GFLOP/s column value


def test_profile_json_counts_flops_per_run_from_the_batch(program, tmp_path):
    for batch in (2, 6):
        path = tmp_path / f"p{batch}.json"
        _run(program, tmp_path, batch, "--profile-json", str(path), "--repeat", "2")
        report = json.loads(path.read_text())
        assert report["model"] == "prof" and report["runs"] == 2 and report["threads"] is None
        steps = report["steps"]
        assert [s["step"] for s in steps] == list(range(len(steps)))
        assert abs(sum(s["share"] for s in steps) - 1) < 1e-4
        by_node = {s["nodes"][0]["name"]: s for s in steps}
        for first, per_item in FLOPS_PER_ITEM.items():
            assert by_node[first]["flops_per_run"] == batch * per_item and by_node[first]["gflops"] > 0
        assert by_node["probs"]["flops_per_run"] is None
        assert by_node["conv"]["nodes"] == [{"op": "Conv", "name": "conv"}, {"op": "Relu", "name": "act"}]


def test_profile_flags_are_checked(program, tmp_path):
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 2, 8, 8), np.float32))
    out = ["--out", str(tmp_path / "o"), str(x)]
    for args, message in (([program, "--profile-json"], "--profile-json needs a value"),
                          ([program, "--profile-json", "", *out], "--profile-json needs a file name"),
                          ([program, "--profile-json", str(tmp_path / "no" / "dir" / "p.json"), *out],
                           "cannot write --profile-json")):
        proc = subprocess.run(args, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert not (tmp_path / "o").exists()  # a failed profile writes no outputs either
    usage = subprocess.run([program, "--help"], capture_output=True, text=True).stdout
    assert "--profile " in usage and "--profile-json FILE" in usage
