"""Cold start: wall time and peak memory from process start to the first output written, for the native
program vs `python -c` + ONNX Runtime, on a ResNet-18-sized model (the ResNet-18 architecture, 11.7 M
float32 parameters = 44.7 MiB of weights, random weights, batch 1).

    python benchmarks/cold_start.py [--size 224] [--runs 5]

Both sides read the same input .npy and write the output .npy; peak memory is the child's max RSS
(os.wait4). The program's weights are linked into the binary and used in place (read-only pages of the
executable, no copy at start-up), so its RSS is about the weights it touches plus the arena.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)
import exporter  # noqa: E402
from exporter import ops  # noqa: E402

rng = np.random.default_rng(0)


def conv_bn(cin, cout, k):
    w = (rng.standard_normal((cout, cin, k, k)) * np.sqrt(2 / (cin * k * k))).astype(np.float32)
    stats = [np.zeros(cout, np.float32), np.ones(cout, np.float32), np.ones(cout, np.float32),
             np.zeros(cout, np.float32)]
    return w, stats


def resnet18(num_classes=1000):
    stem = conv_bn(3, 64, 7)
    blocks, cin = [], 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        for b in range(2):
            s = stride if b == 0 else 1
            down = conv_bn(cin, cout, 1) if (s != 1 or cin != cout) else None
            blocks.append((conv_bn(cin, cout, 3), conv_bn(cout, cout, 3), down, s))
            cin = cout
    fc_w = (rng.standard_normal((512, num_classes)) * 0.02).astype(np.float32)
    fc_b = np.zeros(num_classes, np.float32)

    def bn(h, stats):
        return ops.batch_norm(h, *stats)

    def model(x):
        h = ops.relu(bn(ops.conv2d(x, stem[0], stride=2, padding=3), stem[1]))
        h = ops.max_pool2d(h, 3, stride=2, padding=1)
        for (w1, s1), (w2, s2), down, s in blocks:
            y = ops.relu(bn(ops.conv2d(h, w1, stride=s, padding=1), s1))
            y = bn(ops.conv2d(y, w2, padding=1), s2)
            if down is not None:
                h = bn(ops.conv2d(h, down[0], stride=s), down[1])
            h = ops.relu(y + h)
        return h.mean(axis=(2, 3)) @ fc_w + fc_b
    params = stem[0].size + fc_w.size + fc_b.size + sum(
        c1[0].size + c2[0].size + (d[0].size if d else 0) for c1, c2, d, _ in blocks)
    return model, params


def measure(cmd, cwd):
    """(wall seconds, peak RSS MiB) of one run of `cmd` from start to exit. The RSS comes from
    /usr/bin/time: a child forked from this (large) Python process would report the parent's pages too."""
    timer = shutil.which("time") or "/usr/bin/time"
    start = time.perf_counter()
    proc = subprocess.run([timer, "-f", "%M", "-o", "rss.txt", *cmd], cwd=cwd, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed: {proc.stderr}")
    with open(os.path.join(cwd, "rss.txt")) as f:
        return wall, int(f.read().split()[-1]) / 1024


def startup_seconds(exe, cwd, runs):
    """The program's cost besides inference: 2 * wall(--repeat 1) - wall(--repeat 2), medians of `runs`
    (a second inference in the same process costs what the first one computes, minus start-up)."""
    def wall(repeat):
        times = sorted(measure([exe, "--threads", "2", "--repeat", str(repeat), "x.npy"], cwd)[0] for _ in range(runs))
        return times[len(times) // 2]
    one, two = wall(1), wall(2)
    return max(0.0, 2 * one - two), two - one


ORT = """
import numpy as np, onnxruntime as ort
s = ort.InferenceSession({model!r}, providers=["CPUExecutionProvider"])
np.save("output_0.npy", s.run(None, {{"x": np.load("x.npy")}})[0])
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=224, help="input height and width (default 224)")
    ap.add_argument("--runs", type=int, default=5, help="runs per side; the median is reported")
    args = ap.parse_args()
    model, params = resnet18()
    x = rng.standard_normal((1, 3, args.size, args.size)).astype(np.float32)
    with tempfile.TemporaryDirectory() as d:
        np.save(os.path.join(d, "x.npy"), x)
        onnx_path = exporter.export(model, (x,), path=os.path.join(d, "resnet18.onnx")).paths[0]
        exe = exporter.export(onnx_path, to="exe", path=os.path.join(d, "resnet18"), name="resnet18",
                              progress=True).paths[0]
        sides = {"native program": [exe, "--threads", "2", "x.npy"],
                 "python -c + ONNX Runtime": [sys.executable, "-c", ORT.format(model=onnx_path)]}
        results, outputs = {}, {}
        for name, cmd in sides.items():
            measure(cmd, d)  # warm the page cache: both sides then read their files from memory
            runs = sorted(measure(cmd, d) for _ in range(args.runs))
            results[name] = (runs[len(runs) // 2][0], max(r[1] for r in runs))
            outputs[name] = np.load(os.path.join(d, "output_0.npy"))
        startup, compute = startup_seconds(exe, d, args.runs)
        ref = model(x)
        for name, out in outputs.items():
            np.testing.assert_allclose(out, ref, rtol=1e-3, atol=1e-3, err_msg=name)
    print(f"ResNet-18 ({params / 1e6:.1f} M parameters, {params * 4 / 2**20:.1f} MiB), input 1x3x{args.size}x"
          f"{args.size}, median of {args.runs} cold starts (process start to output written):")
    print(f"  {'':<26} {'wall time':>10} {'peak RSS':>10}")
    for name, (wall, rss) in results.items():
        print(f"  {name:<26} {wall:>8.3f} s {rss:>6.0f} MiB")
    print(f"  the program's one inference takes {compute:.3f} s; start-up, reading the input and writing the "
          f"output {startup:.3f} s (2 x wall(--repeat 1) - wall(--repeat 2))")
    print(f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

if __name__ == "__main__":
    main()
