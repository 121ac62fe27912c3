"""`exporter check --localize`: the first ONNX node whose output differs between ONNX Runtime and the
native program.

The reference is ONNX Runtime with every intermediate value exposed as an output. The native side is a
debug build of the same model (`-DEXPORTER_DUMP=ON`; release builds contain none of it) whose program,
run with `EXPORTER_DUMP_DIR=DIR`, writes each generated step's values to DIR as .npy files. Values are
compared by name in the graph's topological order with the same tolerance policy as the outputs (the
least precise float dtype on the value's path). Only values the native program writes can be compared:
a fused elementwise group writes just the values read after it (often only its last one), views
(Reshape, Squeeze, ...) share their input's memory, and values computed at export time have no step.
"""
from __future__ import annotations

import linecache
import os
import re
import subprocess
import tempfile

import numpy as np
import onnx
from onnx import helper, numpy_helper


def reference_values(model: onnx.ModelProto, inputs) -> dict:
    """{value name: array} for the graph inputs, initializers and every node output ONNX Runtime computes."""
    import onnxruntime as ort
    from .parity import _input_specs, _value_dtypes
    types = _value_dtypes(model)
    exposed = onnx.ModelProto.FromString(model.SerializeToString())
    have = {o.name for o in exposed.graph.output}
    for node in exposed.graph.node:
        for name in node.output:
            if name and name not in have and name in types:
                exposed.graph.output.append(helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(
                    types[name]), None))
                have.add(name)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(exposed.SerializeToString(), options, providers=["CPUExecutionProvider"])
    names = [spec[0] for spec in _input_specs(model)]
    feeds = dict(zip(names, (np.asarray(x) for x in inputs)))
    outputs = [o.name for o in session.get_outputs()]
    values = dict(zip(outputs, session.run(outputs, feeds)))
    values.update(feeds)
    for t in model.graph.initializer:
        values.setdefault(t.name, numpy_helper.to_array(t))
    return values


def native_values(model: onnx.ModelProto, name: str, inputs, progress: bool = False) -> dict:
    """{value name: array} the native program's debug build writes for `inputs` (one file per step output)."""
    from .parity import CouldNotRun
    from .native import build
    result = build(model, name, progress=progress, dump=True)
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for k, x in enumerate(inputs):
            paths.append(os.path.join(tmp, f"input_{k}.npy"))
            np.save(paths[-1], np.ascontiguousarray(x))
        dump = os.path.join(tmp, "dump")
        os.mkdir(dump)
        proc = subprocess.run([result.executable, "--out", tmp, *paths], capture_output=True, text=True,
                              env=dict(os.environ, EXPORTER_DUMP_DIR=dump))
        if proc.returncode != 0:
            raise CouldNotRun(proc.stderr.strip() or f"the debug build failed (exit {proc.returncode})")
        values = {}
        for stem, value in result.project.dumps.items():
            path = os.path.join(dump, f"{stem}.npy")
            if os.path.exists(path):
                values[value] = np.load(path)
        return values


def source_line(doc_string: str) -> str | None:
    """`file:line (in fn): code` from a traced node's doc_string (`file:line (in fn)`), else None."""
    match = re.fullmatch(r"(.+):(\d+) \(in (.+)\)", doc_string or "")
    if not match:
        return None
    code = linecache.getline(match.group(1), int(match.group(2))).strip()
    return doc_string + (f": {code}" if code else "")


def localize(model: onnx.ModelProto, name: str, inputs, rtol=None, atol=None, progress: bool = False) -> dict:
    """Compare every value the native program writes with ONNX Runtime's, in topological order; the
    result names the first node whose output differs (None when all agree) with its error figures."""
    from .parity import compare, precision_dtypes
    reference = reference_values(model, inputs)
    native = native_values(model, name, inputs, progress)
    produced = [(node, out) for node in model.graph.node for out in node.output if out]
    precision = precision_dtypes(model, [out for _, out in produced])
    compared, first = 0, None
    for node, out in produced:
        if out not in reference or out not in native:
            continue
        row = compare(reference[out], native[out], rtol, atol, precision.get(out))
        compared += 1
        if not row["ok"] and first is None:
            first = _describe(node, out, row, reference, model)
    return {"backend": "native", "reference": "onnxruntime (every value exposed)", "compared": compared,
            "values": len(produced), "first_divergence": first}


def _describe(node, out, row, values, model) -> dict:
    init = {t.name: t for t in model.graph.initializer}

    def shape(name):
        if not name:
            return "(none)"
        if name in values:
            a = np.asarray(values[name])
            return f"{a.dtype.name}{list(a.shape)}"
        if name in init:
            return f"{helper.tensor_dtype_to_np_dtype(init[name].data_type).name}{list(init[name].dims)}"
        return "?"
    return {"node": node.name, "op_type": node.op_type, "output": out,
            "inputs": [{"name": i, "shape": shape(i)} for i in node.input],
            "source": source_line(node.doc_string) or node.doc_string or None, "row": row}


def text(result: dict, input_set: int) -> str:
    """The --localize section of the check report."""
    lines = [f"localize (input set {input_set}): {result['backend']} against {result['reference']}, "
             f"node outputs in topological order"]
    first = result["first_divergence"]
    skipped = result["values"] - result["compared"]
    coverage = (f"compared {result['compared']} of {result['values']} node outputs; {skipped} are not written by "
                "the native program (inside fused elementwise groups, views, or computed at export time)")
    if first is None:
        lines.append(f"  no node output differs ({coverage})")
        return "\n".join(lines)
    row = first["row"]
    lines.append(f"  first divergence: node '{first['node']}' ({first['op_type']}), output '{first['output']}'")
    lines.append("    inputs: " + ", ".join(f"{i['name']}: {i['shape']}" for i in first["inputs"]))
    if first["source"]:
        lines.append(f"    at {first['source']}")
    if not (row["shape_ok"] and row["dtype_ok"]):
        lines.append(f"    native wrote {row['dtype']}{row['shape']}, ONNX Runtime {row.get('expected')}")
    elif row["dtype"].startswith("float"):
        lines.append(f"    max abs err {row['max_abs']:.3g}, max rel err {row['max_rel']:.3g}, max ulp "
                     f"{row['max_ulp']:.0f}; tolerance rtol {row['rtol']:.0e} atol {row['atol']:.0e} "
                     f"({row['tolerance_from']})")
    else:
        lines.append(f"    {row.get('mismatched', '?')} element(s) differ, max abs difference {row['max_abs']:.3g}")
    lines.append(f"  ({coverage}; the node reported is the first compared one that differs: an earlier node "
                 "inside a fused group may be the cause)")
    return "\n".join(lines)
