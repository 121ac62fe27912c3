"""NumPy eager vs ONNX Runtime (1 and 2 threads) vs the native executable on the examples/ models.

    python benchmarks/backends.py [--batch 1 16] [--runs 200]

NumPy and ONNX Runtime are timed in-process; the native binary is timed by its own `--repeat N` loop
(one process, outputs from the last run), which excludes process start-up and .npy I/O.
"""
import argparse
import importlib
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "examples"))
sys.path.insert(0, ROOT)
from exporter.native import build  # noqa: E402
from exporter.tracing import trace  # noqa: E402


def best_us(fn, runs):
    for _ in range(max(3, runs // 10)):
        fn()
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(runs):
            fn()
        best = min(best, (time.perf_counter() - start) / runs * 1e6)
    return best


def native_us(exe, inputs, runs, threads):
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for k, x in enumerate(inputs):
            paths.append(os.path.join(tmp, f"in{k}.npy"))
            np.save(paths[-1], x)
        best = float("inf")
        for _ in range(3):
            proc = subprocess.run([exe, "--repeat", str(runs), "--threads", str(threads), "--out", tmp, *paths],
                                  capture_output=True, text=True, check=True)
            best = min(best, float(re.search(r"mean ([\d.]+) ms", proc.stderr).group(1)) * 1000)
        return best


def with_batch(x, batch, dynamic):
    if 0 not in dynamic:
        return x
    reps = [batch] + [1] * (x.ndim - 1)
    return np.tile(x[:1], reps)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--models", nargs="+", default=["mlp", "cnn", "transformer"])
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; times in microseconds per inference (best of 5 x {args.runs} runs)")
    header = f"{'model':<12} {'batch':>5} {'numpy':>9} {'ort 1T':>9} {'ort 2T':>9} {'native 1T':>10} {'native 2T':>10}"
    print(header)
    for name in args.models:
        module = importlib.import_module(name)
        dynamic = getattr(module, "dynamic_axes", {})
        model = trace(module.model, module.example_inputs, dynamic_axes=dynamic, graph_name=name)
        exe = build(model, name).executable
        names = [i.name for i in model.graph.input]
        sessions = {}
        for threads in (1, 2):
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            sessions[threads] = ort.InferenceSession(model.SerializeToString(), options,
                                                     providers=["CPUExecutionProvider"])
        for batch in args.batch:
            inputs = [with_batch(np.asarray(x), batch, dynamic.get(n, {})) for n, x in zip(names, module.example_inputs)]
            feed = dict(zip(names, inputs))
            row = [best_us(lambda: module.model(*inputs), args.runs)]
            row += [best_us(lambda s=sessions[t]: s.run(None, feed), args.runs) for t in (1, 2)]
            row += [native_us(exe, inputs, args.runs * 10, t) for t in (1, 2)]
            print(f"{name:<12} {batch:>5} {row[0]:>9.1f} {row[1]:>9.1f} {row[2]:>9.1f} {row[3]:>10.1f} {row[4]:>10.1f}")


if __name__ == "__main__":
    main()
