#!/usr/bin/env python
"""Conformance of the native backend on ONNX's own node test cases (all of them, for the installed onnx).

    python scripts/conformance.py [-k REGEX] [--by-op] [--json PATH] [--jobs N]

Every case is rendered (refusals are sorted by reason), compiled (in parallel, cached) and run against
ONNX's expected outputs with ONNX's tolerances. A case counts as

  pass      every output matches in shape, dtype and value
  wrong     it ran, and an output differs
  refused   the native backend declined the model (unsupported op, dtype, a shape known only at run time...)
  error     it was accepted but did not build or run (a bug), or it crashed or hung (a bug)

and every case is in the denominator: refusals are failures. Cases run in child processes (in chunks)
so that a crash or a hang is recorded against its case instead of stopping the report.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import warnings
from collections import Counter, defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

CHUNK = 40          # cases per child process
TIMEOUT = 300       # seconds per chunk (per case when a chunk is re-run one by one)


def load_cases():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from onnx.backend.test.loader import load_model_tests
        return load_model_tests(kind="node")


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


ALIASES = {"nllloss": "NegativeLogLikelihoodLoss", "sce": "SoftmaxCrossEntropyLoss",
           "instancenorm": "InstanceNormalization", "batchnorm": "BatchNormalization"}


def op_of(case, names={}) -> str:
    """The op a case is about: the longest ONNX op whose snake_case name starts the test name."""
    if not names:
        import onnx.defs
        names.update({_snake(s.name): s.name for s in onnx.defs.get_all_schemas_with_history()})
    stem = case.name[len("test_"):]
    for short, op in ALIASES.items():  # test names that abbreviate their op
        if stem.startswith(short + "_"):
            return op
    best = ""
    for snake in names:
        if (stem == snake or stem.startswith(snake + "_")) and len(snake) > len(best):
            best = snake
    if best:
        return names[best]
    squashed = stem.replace("_", "")  # names like test_depthtospace_*, test_convtranspose_*
    for snake in sorted(names, key=len, reverse=True):
        if squashed.startswith(snake.replace("_", "")):
            return names[snake]
    nodes = case.model.graph.node
    return nodes[0].op_type if nodes else "?"


def refusal_reason(message: str) -> str:
    """One category per refused case, from the backend's error text (the most basic problem first)."""
    lines = message.splitlines()
    if any(re.match(r"\s+[\w.]+: \d+ node", line) for line in lines):
        return "unsupported op"
    if re.search(r"dtype|cast \w+ -> |Cast|float16|bfloat16|int8|uint", message):
        return "dtype"
    if "at run time" in message or "dynamic" in message:
        return "shape known only at run time"
    if "not a tensor" in message or "sequence" in message.lower() or "optional" in message.lower():
        return "non-tensor value"
    return "other: " + re.sub(r"'[^']*'", "'...'", lines[-1].strip() if len(lines) == 1 else lines[1].strip())[:80]


def classify(cases):
    """{index: ('refused', reason, message)} for refused cases; the rest are accepted."""
    from exporter.errors import ExporterError, InternalError
    from exporter.native import render
    refused = {}
    for k, case in enumerate(cases):
        try:
            render(case.model, "node")
        except ExporterError as exc:
            bug = isinstance(exc, InternalError)  # an op rule or code generation crashed: an error, not a refusal
            lines = str(exc).strip().splitlines()
            detail = " | ".join(line.strip() for line in (lines[1:-1] if len(lines) > 2 else lines))
            refused[k] = (None if bug else refusal_reason(str(exc)), detail[:300])
        except Exception as exc:  # noqa: BLE001 (a crash of the importer is a bug: recorded as an error)
            refused[k] = (None, f"render crashed: {type(exc).__name__}: {exc}"[:200])
    return refused


def _array(x):
    import numpy as np
    from onnx import TensorProto, numpy_helper
    return numpy_helper.to_array(x) if isinstance(x, TensorProto) else np.asarray(x)


def run_one(case, lib, key):
    """('pass' | 'wrong' | 'error', detail) for one compiled case."""
    import numpy as np

    from exporter.native.library import NativeModel
    try:
        native = NativeModel(lib, key)
    except Exception as exc:  # noqa: BLE001
        return "error", f"load: {exc}"[:200]
    for inputs, expected in case.data_sets:
        try:
            got = native(*[_array(x) for x in inputs])
        except Exception as exc:  # noqa: BLE001
            return "error", f"run: {str(exc).strip()}"[:200]
        try:
            assert len(got) == len(expected), f"{len(got)} outputs, expected {len(expected)}"
            for e, a in zip(expected, got):
                e = _array(e)
                assert a.shape == e.shape, f"shape {a.shape} != {e.shape}"
                assert a.dtype == e.dtype, f"dtype {a.dtype} != {e.dtype}"
                if e.dtype.kind == "f":
                    np.testing.assert_allclose(a, e, rtol=case.rtol, atol=case.atol, equal_nan=True)
                else:
                    np.testing.assert_array_equal(a, e)
        except AssertionError as exc:
            return "wrong", str(exc).strip().splitlines()[0][:200] if str(exc).strip() else "mismatch"
    return "pass", ""


def worker(spec_path: str) -> None:
    """Child process: run the cases listed in spec_path, one JSON line per finished case."""
    with open(spec_path) as f:
        spec = json.load(f)
    cases = load_cases()
    for item in spec:
        status, detail = run_one(cases[item["index"]], item["lib"], item["key"])
        print(json.dumps({"index": item["index"], "status": status, "detail": detail}), flush=True)


def run_in_children(items, tmp):
    """Run [{'index', 'lib', 'key'}] in child processes; crashes and hangs become errors of their case."""
    results = {}

    def launch(batch, timeout):
        spec = os.path.join(tmp, "spec.json")
        with open(spec, "w") as f:
            json.dump(batch, f)
        try:
            proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", spec], capture_output=True,
                                  text=True, timeout=timeout, cwd=ROOT)
            out, code = proc.stdout, proc.returncode
        except subprocess.TimeoutExpired as exc:
            out, code = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or ""), "timeout"
        for line in out.splitlines():
            if line.startswith("{"):
                r = json.loads(line)
                results[r["index"]] = (r["status"], r["detail"])
        return code

    for start in range(0, len(items), CHUNK):
        batch = items[start:start + CHUNK]
        code = launch(batch, TIMEOUT)
        missing = [item for item in batch if item["index"] not in results]
        if code != 0 or missing:
            for item in missing:  # one by one, to pin the crash or hang on its case
                code = launch([item], TIMEOUT)
                if item["index"] not in results:
                    why = "hang (timeout)" if code == "timeout" else f"crash (exit code {code})"
                    results[item["index"]] = ("error", why)
        print(f"  ran {min(start + CHUNK, len(items))}/{len(items)} accepted cases", file=sys.stderr, flush=True)
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", dest="pattern", help="only cases whose name matches this regular expression")
    parser.add_argument("--by-op", action="store_true", help="print the table of every op (default: ops with failures)")
    parser.add_argument("--json", help="write every case's result to this file")
    parser.add_argument("--jobs", type=int, default=None, help="parallel compiler jobs (default: all cores)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker)
        return 0

    import tempfile

    import onnx

    from exporter.native.library import compile_models
    cases = load_cases()
    selected = [k for k, c in enumerate(cases) if not args.pattern or re.search(args.pattern, c.name)]
    print(f"onnx {onnx.__version__}: {len(cases)} node test cases; checking {len(selected)}", file=sys.stderr)
    refused = classify([cases[k] for k in selected])
    refused = {selected[i]: v for i, v in refused.items()}
    accepted = [k for k in selected if k not in refused]
    print(f"  {len(accepted)} accepted; compiling", file=sys.stderr, flush=True)
    built = compile_models({f"node{k}": cases[k].model for k in accepted}, jobs=args.jobs)
    results = {}
    items = []
    for k in accepted:
        lib = built[f"node{k}"]
        if isinstance(lib, Exception):
            results[k] = ("error", f"build: {str(lib).strip().splitlines()[0]}"[:200])
        else:
            items.append({"index": k, "lib": lib, "key": f"node{k}"})
    with tempfile.TemporaryDirectory() as tmp:
        results.update(run_in_children(items, tmp))
    for k, (reason, message) in refused.items():
        results[k] = ("refused", reason, message) if reason else ("error", message)

    total = len(selected)
    counts = Counter(r[0] for r in results.values())
    reasons = Counter(r[1] for r in results.values() if r[0] == "refused")
    by_op = defaultdict(Counter)
    for k, r in results.items():
        by_op[op_of(cases[k])][r[0]] += 1

    def pct(n):
        return f"{n:5d}  ({100.0 * n / total:5.1f}%)" if total else f"{n:5d}"

    print(f"\nONNX node test cases (onnx {onnx.__version__}): {total}")
    for status in ("pass", "wrong", "refused", "error"):
        print(f"  {status:8s}{pct(counts[status])}")
    print("\nrefused, by reason:")
    for reason, n in reasons.most_common():
        print(f"  {n:5d}  {reason}")
    print(f"\n{'op':28s} {'cases':>5s} {'pass':>5s} {'wrong':>5s} {'refused':>7s} {'error':>5s}")
    for op in sorted(by_op, key=lambda o: (-sum(by_op[o].values()) + by_op[o]["pass"], o)):
        c = by_op[op]
        if args.by_op or c["pass"] != sum(c.values()):
            print(f"{op:28s} {sum(c.values()):5d} {c['pass']:5d} {c['wrong']:5d} {c['refused']:7d} {c['error']:5d}")
    problems = [(cases[k].name, r) for k, r in sorted(results.items()) if r[0] in ("wrong", "error")]
    if problems:
        print("\nwrong or error:")
        for name, r in problems:
            print(f"  {name}: {r[0]}: {r[1]}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({cases[k].name: {"op": op_of(cases[k]), "status": r[0], "detail": list(r[1:])}
                       for k, r in sorted(results.items())}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
