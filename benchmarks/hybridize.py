"""Acceleration by hybridization: the D2L MLP (512 -> 256 -> 128 -> 2, batch 1), N calls each through
NumPy eager, hybridize(backend="onnxruntime") and hybridize(backend="native"). Prints per-call times.

    python benchmarks/hybridize.py [--calls 1000] [--repeats 5]
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
import exporter  # noqa: E402
import mlp  # noqa: E402


def per_call_us(fn, x, calls, repeats):
    for _ in range(min(calls, 200)):
        fn(x)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn(x)
        best = min(best, (time.perf_counter() - start) / calls * 1e6)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    x = mlp.example_inputs[0]
    runs = {"numpy eager": mlp.model,
            "hybridize(onnxruntime)": exporter.hybridize(mlp.model, (x,), backend="onnxruntime"),
            "hybridize(native)": exporter.hybridize(mlp.model, (x,), backend="native")}
    for name, fn in runs.items():
        np.testing.assert_allclose(fn(x), mlp.model(x), rtol=1e-4, atol=1e-5)
    times = {name: per_call_us(fn, x, args.calls, args.repeats) for name, fn in runs.items()}
    print(f"MLP 512-256-128-2, batch 1, {args.calls} calls (best of {args.repeats}), {os.cpu_count()} cores")
    print(f"{'backend':<24} {'us/call':>9} {'vs numpy':>9} {'vs onnxruntime':>15}")
    for name, t in times.items():
        print(f"{name:<24} {t:>9.1f} {times['numpy eager'] / t:>8.2f}x {times['hybridize(onnxruntime)'] / t:>14.2f}x")


if __name__ == "__main__":
    main()
