"""`exporter check MODEL`: run the model through every backend and report whether they agree.

The reference is NumPy eager for a model.py (ONNX Runtime for an .onnx file). Inputs: the example inputs
(or `--inputs`), then `--samples` random ones drawn in the examples' value ranges (integer inputs stay
within their example's range, so indices stay valid), with dynamic axes at other sizes. The native backend
is the standalone executable, run on .npy files exactly as a user would.

`check_model` returns a `CheckReport`; the CLI prints it. Exit codes: 0 every backend agrees, 1 numbers
(or shapes, dtypes) differ, 2 the model cannot be exported or a backend could not run it.
"""
from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper

from .errors import ExporterError
from .parity import (RULE, TOLERANCES, CouldNotRun, _input_specs, compare, precision_dtypes,  # noqa: F401
                     tolerances, ulp_distance)
from .progress import Progress

BACKENDS = ("python", "onnxruntime", "native")


# ---- inputs ---------------------------------------------------------------------------------------------
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


def _sizes_tried(model, sets) -> dict:
    """{dynamic dim name: [sizes in the order the input sets used them]}."""
    sizes: dict = {}
    for inputs in sets:
        for (name, dtype, dims), x in zip(_input_specs(model), inputs):
            for axis, d in enumerate(dims):
                if isinstance(d, str) and axis < np.ndim(x):
                    seen = sizes.setdefault(d, [])
                    if np.shape(x)[axis] not in seen:
                        seen.append(int(np.shape(x)[axis]))
    return sizes


# ---- backends -------------------------------------------------------------------------------------------
def _python(spec):
    def run(inputs):
        with np.errstate(all="ignore"):
            result = spec.fn(*inputs)
        return [np.asarray(o) for o in (result if isinstance(result, (tuple, list)) else [result])]
    return run


def _onnxruntime(model):
    from .hybrid import _onnxruntime_runner
    run = _onnxruntime_runner(model, [i.name for i in model.graph.input])
    return lambda inputs: run(*inputs)


def _native(model, stem, progress):
    from .native import build
    result = build(model, stem, progress=progress)  # prints progress only when it really compiles
    n_out = len(model.graph.output)

    def run(inputs):
        with tempfile.TemporaryDirectory() as tmp:
            paths = []
            for k, x in enumerate(inputs):
                paths.append(os.path.join(tmp, f"input_{k}.npy"))
                np.save(paths[-1], np.asarray(x, order="C"))  # (ascontiguousarray makes 0-d arrays 1-d)
            proc = subprocess.run([result.executable, "--out", tmp, *paths], capture_output=True, text=True)
            if proc.returncode != 0:
                raise CouldNotRun(proc.stderr.strip() or f"the executable failed (exit {proc.returncode})")
            return [np.load(os.path.join(tmp, f"output_{k}.npy")) for k in range(n_out)]
    return run


def _ort_kernel_gap(message: str) -> bool:
    """ONNX Runtime lacks a kernel for a valid (op, dtype): not the model's fault, left out of the verdict."""
    return "NOT_IMPLEMENTED" in message


def _merge(old, new):
    if old is None:
        return new
    if old["shape_ok"] and old["dtype_ok"] and not (new["shape_ok"] and new["dtype_ok"]):
        old.update(shape=new["shape"], dtype=new["dtype"], expected=new.get("expected"))  # show the bad one
    for key in ("ok", "shape_ok", "dtype_ok", "special_ok"):
        if key in new:
            old[key] = old.get(key, True) and new[key]
    for key in ("max_abs", "max_rel", "rtol", "atol"):
        old[key] = max(old[key], new[key])
    if new.get("max_ulp") is not None:
        old["max_ulp"] = max(old.get("max_ulp") or 0.0, new["max_ulp"])
    old["tolerance_from"] = old.get("tolerance_from") or new.get("tolerance_from")
    return old


# ---- the report ---------------------------------------------------------------------------------------
@dataclass
class CheckReport:
    model: str
    reference: str
    backends: list                    # compared with the reference (the reference not included)
    input_sets: int
    sizes: dict                       # dynamic dim -> sizes tried
    outputs: dict                     # output name -> {"signature": str, "rows": {backend: row}}
    failed: dict = field(default_factory=dict)   # backend -> "its own message" (could not run)
    skipped: dict = field(default_factory=dict)  # backend -> message (ONNX Runtime kernel gaps)
    tolerance_given: bool = False
    localization: dict | None = None  # --localize: see exporter.localize (with "input_set", or "error")

    @property
    def mismatches(self) -> list:
        return [(name, b, row) for name, out in self.outputs.items() for b, row in out["rows"].items()
                if not row["ok"]]

    @property
    def exit_code(self) -> int:
        if self.failed:
            return 2
        return 1 if self.mismatches else 0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def text(self) -> str:
        """The parity table (stdout); could-not-run messages are `errors()`."""
        tried = "; ".join(f"{d} = {', '.join(map(str, s))}" for d, s in self.sizes.items())
        extra = self.input_sets - 1
        lines = [f"exporter check {self.model}: {self.input_sets} input set(s)"
                 + (f" (example + {extra} random)" if extra else " (the example)")
                 + (f", sizes tried: {tried}" if tried else "") + f"; reference: {self.reference}",
                 f"verdict ok when {RULE}"]
        for name, out in self.outputs.items():
            lines.append(f"\n{out['signature']}")
            lines.append(f"  {'backend':<12} {'shape/dtype':<12} {'max abs err':>12} {'max rel err':>12} "
                         f"{'max ulp':>9}  {'tolerance (set by)':<34} verdict")
            for b, row in out["rows"].items():
                same = row["shape_ok"] and row["dtype_ok"]
                agree = "ok" if same else "MISMATCH"
                is_float = row["dtype"].startswith("float")
                tol = (f"rtol {row['rtol']:.0e} atol {row['atol']:.0e} ({row.get('tolerance_from')})" if is_float
                       else "exact")
                ulp = _ulp_text(row.get("max_ulp")) if is_float else "-"
                lines.append(f"  {b:<12} {agree:<12} {row['max_abs']:>12.3g} {row['max_rel']:>12.3g} {ulp:>9}  "
                             f"{tol:<34} {'ok' if row['ok'] else 'MISMATCH'}")
                if not same:
                    lines.append(f"    {b} returned {row['dtype']}{row['shape']}, the reference {row['expected']}")
        for b, why in self.skipped.items():
            lines.append(f"\n{b}: lacks a kernel this model needs; left out of the verdict ({why})")
        compared = [b for b in self.backends if b not in self.failed and b not in self.skipped]
        if self.localization is not None:
            from .localize import text as localize_text
            lines.append("")
            lines.append(f"localize: could not run: {self.localization['error']}" if "error" in self.localization
                         else localize_text(self.localization, self.localization["input_set"]))
        if self.failed:
            lines.append(f"\nINCOMPLETE: {', '.join(self.failed)} could not run (see the error below)")
        elif self.mismatches:
            lines.append("\n" + self._mismatch_summary())
        else:
            lines.append(f"\nall backends agree ({', '.join([self.reference] + compared)})")
        return "\n".join(lines)

    def _mismatch_summary(self) -> str:
        lines = ["MISMATCH:"]
        for name, b, row in self.mismatches:
            if not (row["shape_ok"] and row["dtype_ok"]):
                lines.append(f"  {b}, {name}: shape/dtype differ")
            elif row["dtype"].startswith("float"):
                since = row.get("tolerance_from") or row["dtype"]
                source = ("given with --rtol/--atol" if self.tolerance_given else
                          f"the {since} default: {since} is the least precise float dtype on the output's path")
                lines.append(f"  {b}, {name}: max abs err {row['max_abs']:.3g} exceeds atol {row['atol']:.0e} + rtol "
                             f"{row['rtol']:.0e}*|ref| ({source})"
                             + ("" if row.get("special_ok", True) else "; NaN/Inf in different places"))
            else:
                lines.append(f"  {b}, {name}: {row.get('mismatched', '?')} element(s) differ (integers compare exactly)")
        if any(r["dtype"].startswith("float") and r["shape_ok"] and r["dtype_ok"] for _, _, r in self.mismatches):
            lines.append("  to accept larger differences, pass --rtol R and/or --atol A")
        return "\n".join(lines)

    def errors(self) -> list[str]:
        return [f"{b} could not run the model: {why}" for b, why in self.failed.items()]

    def to_json(self) -> dict:
        return {"model": self.model, "reference": self.reference, "samples": self.input_sets, "sizes": self.sizes,
                "rule": RULE, "outputs": {n: o["rows"] for n, o in self.outputs.items()},
                "signatures": {n: o["signature"] for n, o in self.outputs.items()},
                "failed_backends": self.failed, "skipped_backends": self.skipped, "ok": self.ok,
                "exit_code": self.exit_code, "localization": self.localization}


def check_model(path: str, *, entry=None, inputs=None, dynamic=None, samples: int = 3, backends=None,
                rtol=None, atol=None, seed: int = 0, progress: bool = False, localize: bool = False) -> CheckReport:
    """Run MODEL (a model.py or an .onnx file) through the backends and compare them with the reference.
    `inputs` (.npy paths) replace the example; `samples` random sets around them are added either way.
    `localize`: also find the first ONNX node whose output differs between ONNX Runtime and the native
    program (on the first input set where native mismatched, else the example), see exporter.localize."""
    from .loader import load_inputs, load_or_trace
    from .onnx_io import describe_value
    if samples < 0:
        raise ExporterError(f"--samples must be 0 or more, not {samples}")
    wanted = [b.strip() for b in backends.split(",")] if isinstance(backends, str) else list(backends or BACKENDS)
    unknown = set(wanted) - set(BACKENDS)
    if unknown:
        raise ExporterError(f"unknown backend(s) {', '.join(sorted(unknown))}; choose from {', '.join(BACKENDS)}")
    model, spec = load_or_trace(path, entry, inputs, dynamic)
    stem = os.path.splitext(os.path.basename(path))[0]
    if spec is None:  # an .onnx file: no Python function; ONNX Runtime is the reference
        if wanted == ["python"] or (backends and "python" in wanted):
            raise ExporterError("the python backend needs a model.py; for an .onnx file compare onnxruntime,native")
        wanted = [b for b in wanted if b != "python"]
        examples = load_inputs(inputs) if inputs else _onnx_examples(model, seed)
        specs = _input_specs(model)
        if len(examples) != len(specs):
            raise ExporterError(f"{path} has {len(specs)} input(s) ({', '.join(s[0] for s in specs)}), "
                                f"but {len(examples)} --inputs were given")
    else:
        examples = [np.asarray(x) for x in spec.example_inputs]
    if len(wanted) < 2:
        raise ExporterError("check needs at least two backends to compare")
    if localize and "native" not in wanted:
        raise ExporterError("--localize compares the native program with ONNX Runtime node by node; "
                            "include native in --backends")
    reference = wanted[0] if "python" not in wanted else "python"

    runners = {}
    for b in wanted:
        if b == "python":
            runners[b] = _python(spec)
        elif b == "onnxruntime":
            runners[b] = _onnxruntime(model)
        else:
            runners[b] = _native(model, stem, progress)  # unsupported ops raise here: exit 2

    sets = make_samples(model, examples, samples, seed)
    report = CheckReport(path, reference, [b for b in wanted if b != reference], len(sets), _sizes_tried(model, sets),
                         {o.name: {"signature": describe_value(o), "rows": {}} for o in model.graph.output},
                         tolerance_given=rtol is not None or atol is not None)
    precision = precision_dtypes(model)
    bar = Progress("checking", total=len(sets) * len(wanted), enabled=progress)
    native_mismatch = None  # the first input set where native differs (--localize looks there)
    for k, inputs_k in enumerate(sets):
        bar.advance(f"input set {k + 1}/{len(sets)}: {reference}")
        try:
            ref = runners[reference](inputs_k)
        except Exception as exc:  # noqa: BLE001 (the reference's own message, e.g. ORT rejecting an input)
            report.failed[reference] = _first_line(exc) + _which(k, model, inputs_k)
            break
        for b in report.backends:
            if b in report.failed or b in report.skipped:
                continue
            bar.advance(f"input set {k + 1}/{len(sets)}: {b}")
            try:
                outs = runners[b](inputs_k)
            except Exception as exc:  # noqa: BLE001
                why = _first_line(exc)
                target = report.skipped if b == "onnxruntime" and _ort_kernel_gap(why) else report.failed
                target[b] = why + ("" if target is report.skipped else _which(k, model, inputs_k))
                continue
            for name, e, a in zip(report.outputs, ref, outs):
                rows = report.outputs[name]["rows"]
                row = compare(e, a, rtol, atol, precision.get(name))
                rows[b] = _merge(rows.get(b), row)
                if b == "native" and not row["ok"] and native_mismatch is None:
                    native_mismatch = k
    bar.close()
    if localize and "native" not in report.failed and reference not in report.failed:
        from .localize import localize as localize_model
        k = native_mismatch or 0
        try:
            report.localization = dict(localize_model(model, stem, sets[k], rtol, atol, progress), input_set=k)
        except Exception as exc:  # noqa: BLE001 (e.g. ONNX Runtime lacks a kernel: the check itself stands)
            report.localization = {"error": _first_line(exc), "input_set": k}
    return report


def _ulp_text(ulp) -> str:
    if ulp is None:
        return "-"
    return f"{ulp:.0f}" if ulp < 1e6 else f"{ulp:.2g}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def _which(k: int, model, inputs) -> str:
    shapes = ", ".join(f"{name}: {np.asarray(x).dtype.name}{list(np.shape(x))}"
                       for (name, _, _), x in zip(_input_specs(model), inputs))
    return f" (input set {k}{' = the example' if k == 0 else ''}: {shapes})"
