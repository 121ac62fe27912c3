"""`exporter check MODEL`: run the model through every backend and report whether they agree.

The reference is NumPy eager for a model.py (ONNX Runtime for an .onnx file). Inputs: the example inputs,
then `--samples` random ones drawn in the examples' value ranges (integer inputs stay within their
example's range, so indices stay valid), with dynamic axes at other sizes. The native backend is the
standalone executable, run on .npy files exactly as a user would.
"""
from __future__ import annotations

import json
import os
import subprocess
import tempfile

import numpy as np
import onnx
from onnx import helper

from .progress import Progress
from .errors import ExporterError

TOLERANCES = {"float32": (1e-4, 1e-5), "float64": (1e-9, 1e-12)}
BACKENDS = ("python", "onnxruntime", "native")


# ---- inputs ---------------------------------------------------------------------------------------------
def _input_specs(model: onnx.ModelProto):
    """[(name, dtype, [int | dim name])] of the graph inputs."""
    init = {t.name for t in model.graph.initializer}
    specs = []
    for vi in model.graph.input:
        if vi.name in init:
            continue
        t = vi.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or f"{vi.name}_{i}")
                for i, d in enumerate(t.shape.dim)]
        specs.append((vi.name, np.dtype(helper.tensor_dtype_to_np_dtype(t.elem_type)), dims))
    return specs


def _random_like(rng, example, shape):
    if example.dtype == np.bool_:
        return rng.random(shape) > 0.5
    lo, hi = (float(example.min()), float(example.max())) if example.size else (-1.0, 1.0)
    if example.dtype.kind in "iu":
        return rng.integers(int(lo), int(hi) + 1, shape).astype(example.dtype)
    if hi - lo < 1e-6:
        lo, hi = (lo - 1, hi + 1) if lo < 0 else (lo, lo + 1)
    return rng.uniform(lo, hi, shape).astype(example.dtype)


def make_samples(model, examples, count: int, seed: int):
    """The examples, then `count` random input sets; sample k sets every dynamic dim to example + k."""
    specs = _input_specs(model)
    rng = np.random.default_rng(seed)
    sets = [list(examples)]
    for k in range(1, count + 1):
        sizes, inputs = {}, []
        for (name, dtype, dims), example in zip(specs, examples):
            shape = []
            for axis, d in enumerate(dims):
                if isinstance(d, str):
                    sizes.setdefault(d, max(1, example.shape[axis] + k))
                    shape.append(sizes[d])
                else:
                    shape.append(d)
            inputs.append(_random_like(rng, example, tuple(shape)))
        sets.append(inputs)
    return sets


def _onnx_examples(model, seed):
    """Example inputs for an .onnx file: dynamic dims at 2, floats in [-1, 1], ints in [0, 2]."""
    rng = np.random.default_rng(seed)
    arrays = []
    for name, dtype, dims in _input_specs(model):
        shape = tuple(2 if isinstance(d, str) or d <= 0 else d for d in dims)
        if dtype == np.bool_:
            arrays.append(rng.random(shape) > 0.5)
        elif dtype.kind in "iu":
            arrays.append(rng.integers(0, 3, shape).astype(dtype))
        else:
            arrays.append(rng.uniform(-1, 1, shape).astype(dtype))
    return arrays


# ---- backends -------------------------------------------------------------------------------------------
def _onnxruntime(model):
    from .hybrid import _onnxruntime_runner
    run = _onnxruntime_runner(model, [i.name for i in model.graph.input])
    return lambda inputs: run(*inputs)


def _native(model, stem):
    from .native import build
    result = build(model, stem)
    n_out = len(model.graph.output)

    def run(inputs):
        with tempfile.TemporaryDirectory() as tmp:
            paths = []
            for k, x in enumerate(inputs):
                paths.append(os.path.join(tmp, f"input_{k}.npy"))
                np.save(paths[-1], np.ascontiguousarray(x))
            proc = subprocess.run([result.executable, "--out", tmp, *paths], capture_output=True, text=True)
            if proc.returncode != 0:
                raise ExporterError(proc.stderr.strip() or f"the executable failed (exit {proc.returncode})")
            return [np.load(os.path.join(tmp, f"output_{k}.npy")) for k in range(n_out)]
    return run


# ---- comparison -----------------------------------------------------------------------------------------
def compare(expected, actual, rtol=None, atol=None) -> dict:
    e, a = np.asarray(expected), np.asarray(actual)
    row = {"shape": list(a.shape), "dtype": a.dtype.name, "shape_ok": a.shape == e.shape, "dtype_ok": a.dtype == e.dtype,
           "max_abs": 0.0, "max_rel": 0.0, "rtol": 0.0, "atol": 0.0, "ok": False}
    if not (row["shape_ok"] and row["dtype_ok"]):
        return row
    if e.dtype.kind != "f":
        diff = int(np.count_nonzero(a != e))
        row.update(max_abs=float(np.max(np.abs(a.astype(np.float64) - e), initial=0)), mismatched=diff, ok=diff == 0)
        return row
    r, t = TOLERANCES.get(e.dtype.name, (1e-4, 1e-5))
    r, t = (rtol if rtol is not None else r), (atol if atol is not None else t)
    special_ok = bool(np.array_equal(np.isnan(a), np.isnan(e)) and np.array_equal(np.isposinf(a), np.isposinf(e))
                      and np.array_equal(np.isneginf(a), np.isneginf(e)))
    finite = np.isfinite(e) & np.isfinite(a)
    err = np.abs(a[finite].astype(np.float64) - e[finite])
    rel = err / np.maximum(np.abs(e[finite].astype(np.float64)), np.finfo(e.dtype).tiny)
    ok = special_ok and bool(np.all(err <= t + r * np.abs(e[finite])))
    row.update(max_abs=float(err.max(initial=0)), max_rel=float(rel.max(initial=0)), rtol=r, atol=t, ok=ok,
               special_ok=special_ok)
    return row


def _merge(old, new):
    if old is None:
        return new
    old["ok"] = old["ok"] and new["ok"]
    old["shape_ok"] = old["shape_ok"] and new["shape_ok"]
    old["dtype_ok"] = old["dtype_ok"] and new["dtype_ok"]
    old["max_abs"] = max(old["max_abs"], new["max_abs"])
    old["max_rel"] = max(old["max_rel"], new["max_rel"])
    return old


def run_check(args) -> int:
    from .cli import load_onnx_or_trace
    model, spec = load_onnx_or_trace(args)
    stem = os.path.splitext(os.path.basename(args.model))[0]
    wanted = [b.strip() for b in args.backends.split(",")] if args.backends else list(BACKENDS)
    unknown = set(wanted) - set(BACKENDS)
    if unknown:
        raise ExporterError(f"unknown backend(s) {', '.join(sorted(unknown))}; choose from {', '.join(BACKENDS)}")
    if spec is None:  # an .onnx file: ONNX Runtime is the reference
        wanted = [b for b in wanted if b != "python"]
        reference = "onnxruntime"
        if args.inputs:
            from .loader import load_inputs
            examples = load_inputs(args.inputs)
        else:
            examples = _onnx_examples(model, args.seed)
    else:
        reference = "python" if "python" in wanted else wanted[0]
        examples = [np.asarray(x) for x in spec.example_inputs]
    if len(wanted) < 2:
        raise ExporterError("check needs at least two backends to compare")

    runners = {}
    for b in wanted:
        if b == "python":
            runners[b] = lambda inputs: [np.asarray(o) for o in _as_list(spec.fn(*inputs))]
        elif b == "onnxruntime":
            runners[b] = _onnxruntime(model)
        else:
            print(f"building the native executable for {stem}...", flush=True)
            runners[b] = _native(model, stem)  # unsupported ops raise here: exit 2

    samples = make_samples(model, examples, 0 if args.inputs else args.samples, args.seed)
    dims = sorted({d for _, _, ds in _input_specs(model) for d in ds if isinstance(d, str)})
    out_names = [o.name for o in model.graph.output]
    table: dict = {name: {} for name in out_names}
    failed_backends = {}
    bar = Progress("checking", total=len(samples) * len(wanted))
    for k, inputs in enumerate(samples):
        bar.advance(f"input set {k + 1}/{len(samples)}: {reference}")
        with np.errstate(all="ignore"):
            ref = runners[reference](inputs)
        for b in wanted:
            if b == reference or b in failed_backends:
                continue
            bar.advance(f"input set {k + 1}/{len(samples)}: {b}")
            try:
                outs = runners[b](inputs)
            except Exception as exc:  # noqa: BLE001 (reported in the table, e.g. an ORT kernel gap)
                failed_backends[b] = str(exc).strip().splitlines()[0][:200]
                continue
            for name, e, a in zip(out_names, ref, outs):
                table[name][b] = _merge(table[name].get(b), compare(e, a, args.rtol, args.atol))

    bar.close()
    ok = not failed_backends or all("NOT_IMPLEMENTED" in why for why in failed_backends.values())
    lines = [f"exporter check {args.model}: {len(samples)} input set(s)"
             + (f" (example + {len(samples) - 1} random; dynamic {', '.join(dims)} varied)" if len(samples) > 1 else "")
             + f"; reference: {reference}"]
    for name in out_names:
        first = next(iter(table[name].values()), None)
        sig = f"{first['dtype']}{first['shape']}" if first else ""
        lines.append(f"\n{name} {sig}")
        lines.append(f"  {'backend':<12} {'shape/dtype':<12} {'max abs err':>12} {'max rel err':>12}  {'tolerance':<22} verdict")
        for b, row in table[name].items():
            agree = "ok" if row["shape_ok"] and row["dtype_ok"] else "MISMATCH"
            tol = f"rtol {row['rtol']:.0e} atol {row['atol']:.0e}" if row["dtype"].startswith("float") else "exact"
            verdict = "ok" if row["ok"] else "MISMATCH"
            ok = ok and row["ok"]
            lines.append(f"  {b:<12} {agree:<12} {row['max_abs']:>12.3g} {row['max_rel']:>12.3g}  {tol:<22} {verdict}")
    for b, why in failed_backends.items():
        lines.append(f"\n{b}: could not run: {why}")
        if "NOT_IMPLEMENTED" in why:
            lines.append(f"  ({b} lacks a kernel this model needs; it is left out of the verdict)")
    compared = [b for b in wanted if b not in failed_backends]
    lines.append(f"\n{'all backends agree' if ok else 'MISMATCH'} ({', '.join(compared)})")
    print("\n".join(lines))
    if args.json:
        from .onnx_io import atomic_write_text
        atomic_write_text(args.json, json.dumps({"model": args.model, "reference": reference, "samples": len(samples),
                                                 "outputs": table, "failed_backends": failed_backends, "ok": ok},
                                                indent=2))
    return 0 if ok else 1


def _as_list(result):
    return list(result) if isinstance(result, (tuple, list)) else [result]
