"""Per-inference time of NumPy eager, ONNX Runtime (CPU provider) and the native executable, per model and
thread count, with the native/ORT ratio.

    python benchmarks/backends.py [--batch 1 16 64] [--threads 1 2] [--models mlp cnn transformer resnet18 zoo]

Models: the repo's examples (at each --batch), a ResNet-18-shaped model at 224x224 batch 1
(benchmarks/resnet.py; BatchNormalization as separate nodes, as PyTorch exports it), and the model-zoo CNNs
shipped inside the onnx wheel (onnx/backend/test/data/light/*.onnx, their own batch size). A model the
native backend cannot import is listed with the reason instead of numbers.

Timing: best single inference (ms) after warm-up; ONNX Runtime in-process (intra_op_num_threads = T), the
native binary through its own `--repeat N --threads T` loop (no process start-up or .npy I/O). NumPy is
the examples' own function (single-threaded except inside BLAS). Every native output is compared with
ONNX Runtime's; a mismatch is printed in the row. Per row and thread count the native program and ONNX Runtime
alternate ROUNDS times, each keeping its best (a shared VM's speed drifts by tens of percent over seconds, and a
single native-then-ORT pair measured the drift), NumPy last (in-process thread pools spin after a call). Run
twice, trust the ratios.
"""
import argparse
import glob
import importlib
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "examples"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from exporter.native import build  # noqa: E402
from exporter.tracing import trace  # noqa: E402


ROUNDS = 3  # native and ORT timings alternate this many times per row; each keeps its best


def best_ms(fn, runs):
    for _ in range(max(2, runs // 10)):
        fn()
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def native_ms(exe, inputs, runs, threads):
    """Best per-inference time the binary reports over one `--repeat runs` loop, and its outputs."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for k, x in enumerate(inputs):
            paths.append(os.path.join(tmp, f"in{k}.npy"))
            np.save(paths[-1], x)
        proc = subprocess.run([exe, "--repeat", str(runs), "--threads", str(threads), "--out", tmp, *paths],
                              capture_output=True, text=True, check=True)
        best = float(re.search(r"best ([\d.]+) ms", proc.stderr).group(1))
        outputs = [np.load(p) for p in sorted(glob.glob(os.path.join(tmp, "output_*.npy")),
                                             key=lambda p: int(re.search(r"output_(\d+)", p).group(1)))]
        return best, outputs


def with_batch(x, batch, dynamic):
    if 0 not in dynamic:
        return x
    return np.tile(x[:1], [batch] + [1] * (x.ndim - 1))


def runs_for(ms_estimate):
    return int(min(2000, max(10, 300 / max(ms_estimate, 1e-3))))


def bench(name, model, batches, threads, numpy_fn=None, make_inputs=None, exe=None):
    try:
        exe = exe or build(model, re.sub(r"\W", "_", name)).executable
    except Exception as exc:  # noqa: BLE001 (reported in the table)
        reason = str(exc).strip().splitlines()[0][:110]
        print(f"{name:<22} {'':>5} {'':>3}   not importable yet: {reason}", flush=True)
        return
    sessions = {}
    for t in threads:
        options = ort.SessionOptions()
        options.intra_op_num_threads = t
        sessions[t] = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in sessions[threads[0]].get_inputs()]
    for batch in batches:
        inputs = make_inputs(batch)
        feed = dict(zip(names, inputs))
        expected = sessions[threads[0]].run(None, feed)
        probe = best_ms(lambda: sessions[threads[0]].run(None, feed), 3)
        runs = runs_for(probe)
        # each native run starts after a pause and NumPy runs last: in-process thread pools (OpenBLAS's, ORT's)
        # keep spinning for a while after a call and would take cores from the next timing
        results = []
        for t in threads:
            nat_ms = ort_ms = float("inf")
            for _ in range(ROUNDS):  # alternated: the machine's speed drifts by tens of percent over seconds
                time.sleep(0.2)
                try:
                    ms, outputs = native_ms(exe, inputs, runs, t)
                except subprocess.CalledProcessError as exc:
                    first = exc.stderr.strip().splitlines()[0][:90] if exc.stderr.strip() else f"exit {exc.returncode}"
                    hint = " (the program wants more inputs: initializers listed in graph.input)" if "usage:" in first else ""
                    print(f"{name:<22} {batch:>5} {t:>2}T   not importable yet: native run failed: {first}{hint}", flush=True)
                    return
                nat_ms = min(nat_ms, ms)
                ort_ms = min(ort_ms, best_ms(lambda s=sessions[t]: s.run(None, feed), runs))
            results.append((t, ort_ms, nat_ms, outputs))
        np_ms = best_ms(lambda: numpy_fn(*inputs), max(3, runs // 4)) if numpy_fn else None
        for t, ort_ms, nat_ms, outputs in results:
            ok = len(outputs) == len(expected) and all(
                np.allclose(o, e, rtol=1e-3, atol=1e-3 * max(1.0, float(np.abs(e).max(initial=0))))
                for o, e in zip(outputs, expected))
            np_text = f"{np_ms:>10.3f}" if np_ms is not None else f"{'-':>10}"
            print(f"{name:<22} {batch:>5} {t:>2}T {np_text} {ort_ms:>10.3f} {nat_ms:>10.3f} {nat_ms / ort_ms:>8.2f}x"
                  f"{'' if ok else '  OUTPUT MISMATCH vs ORT'}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--models", nargs="+", default=["mlp", "cnn", "transformer", "resnet18", "zoo"])
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; best single inference in ms; ratio = native / ONNX Runtime (< 1: native faster)")
    print(f"{'model':<22} {'batch':>5} {'thr':>3} {'numpy':>10} {'ort':>10} {'native':>10} {'nat/ort':>9}")
    for name in args.models:
        if name == "resnet18":
            from resnet import resnet18
            model = resnet18(1)
            rng = np.random.default_rng(0)
            bench("resnet18 (224, bn)", model, [1], args.threads,
                  make_inputs=lambda b: [rng.standard_normal((1, 3, 224, 224)).astype(np.float32)])
        elif name == "zoo":
            light = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")
            for path in sorted(glob.glob(os.path.join(light, "*.onnx"))):
                model = onnx.load(path)
                inits = {t.name for t in model.graph.initializer}
                shapes = [(i.name, [d.dim_value for d in i.type.tensor_type.shape.dim]) for i in model.graph.input
                          if i.name not in inits]
                rng = np.random.default_rng(0)
                label = os.path.basename(path)[len("light_"):-len(".onnx")]
                bench(f"zoo {label}", model, [shapes[0][1][0] if shapes and shapes[0][1] else 1], args.threads,
                      make_inputs=lambda b, s=shapes: [rng.standard_normal(shape).astype(np.float32) for _, shape in s])
        else:
            module = importlib.import_module(name)
            dynamic = getattr(module, "dynamic_axes", {})
            model = trace(module.model, module.example_inputs, dynamic_axes=dynamic, graph_name=name)
            names = [i.name for i in model.graph.input]
            bench(name, model, args.batch, args.threads, numpy_fn=module.model,
                  make_inputs=lambda b: [with_batch(np.asarray(x), b, dynamic.get(n, {}))
                                         for n, x in zip(names, module.example_inputs)])


if __name__ == "__main__":
    main()
