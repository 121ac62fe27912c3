"""When two backends agree: the one tolerance policy of exporter (check, localize and the tests use it).

One rule (`compare`) at two levels: TOLERANCES for whole models (what `exporter check` applies: errors
accumulate over many ops), OP_TOLERANCES for one op against NumPy (the op-table tests: a kernel's own error
only, so tighter, with atol scaled by the output's magnitude so that values near zero beside large ones
are judged at the output's scale).

An output's tolerance comes from the least precise float dtype on its path through the graph, not from its
own dtype: a float32 pipeline with a float64 tail is float32-accurate. Integers and bools must be equal.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

# Per float dtype: (rtol, atol). An output's tolerance comes from the least precise float dtype on its path
# (`precision_dtypes`), not from its own dtype: a float32 pipeline with a float64 tail is float32-accurate.
TOLERANCES = {"float16": (1e-2, 1e-3), "float32": (1e-4, 1e-5), "float64": (1e-9, 1e-12)}
# Per float dtype: rtol for one op (atol = rtol * max(1, max|reference|)); see op_tolerances.
OP_TOLERANCES = {"float16": 1e-3, "float32": 2e-5, "float64": 1e-10}
RULE = "|err| <= atol + rtol*|ref| for every element, NaN/Inf in the same places; integers and bools equal"


def tolerances(dtype, rtol=None, atol=None):
    r, t = TOLERANCES.get(np.dtype(dtype).name, (1e-4, 1e-5))
    return (r if rtol is None else rtol), (t if atol is None else atol)


def op_tolerances(expected: np.ndarray, rtol=None):
    """(rtol, atol) for one op's output against its NumPy reference (the op-table tests)."""
    r = rtol if rtol is not None else OP_TOLERANCES.get(expected.dtype.name, 2e-5)
    finite = np.where(np.isfinite(expected), expected, 0) if expected.size else np.zeros(1)
    return r, r * max(1.0, float(np.max(np.abs(finite), initial=0)))


def _elem_dtype(elem_type: int):
    try:
        return np.dtype(helper.tensor_dtype_to_np_dtype(elem_type))
    except Exception:  # noqa: BLE001 (bfloat16, float8, strings: no NumPy dtype)
        return None


def _value_dtypes(model: onnx.ModelProto) -> dict:
    """{value name: NumPy dtype} for every value whose type is declared or inferred."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 (an unusual model: fall back to what it declares)
        inferred = model
    g = inferred.graph
    types = {t.name: _elem_dtype(t.data_type) for t in g.initializer}
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.elem_type:
            types[vi.name] = _elem_dtype(vi.type.tensor_type.elem_type)
    for node in g.node:  # a Cast's output is its `to` type even where inference gave up
        if node.op_type == "Cast" and node.output and node.output[0] not in types:
            to = next((a.i for a in node.attribute if a.name == "to"), 0)
            types[node.output[0]] = _elem_dtype(to)
    return {k: v for k, v in types.items() if v is not None}


def _least_precise(dtypes):
    floats = [d for d in dtypes if d.kind == "f"]
    return max(floats, key=lambda d: np.finfo(d).eps) if floats else None


def precision_dtypes(model: onnx.ModelProto, names=None) -> dict:
    """{value: the least precise float dtype on its path} (None: no float on it): walking the graph back
    from each value, every value met counts - graph inputs, initializers, casts and intermediates. An
    output computed in float32 and cast (or promoted) to float64 at the end is float32-accurate, and
    is compared with float32's tolerance; float64's applies only when the whole path is float64."""
    types = _value_dtypes(model)
    producer = {o: n for n in model.graph.node for o in n.output if o}
    memo: dict = {}

    def walk(name):
        if name in memo:
            return memo[name]
        memo[name] = None  # (cycles cannot happen in a valid graph; this guards recursion anyway)
        found = [types[name]] if name in types else []
        stack, seen = [name], {name}
        while stack:  # iterative: deep graphs (ResNets) would exceed Python's recursion limit
            node = producer.get(stack.pop())
            if node is None:
                continue
            for i in node.input:
                if i and i not in seen:
                    seen.add(i)
                    if i in types:
                        found.append(types[i])
                    stack.append(i)
        memo[name] = _least_precise(found)
        return memo[name]

    wanted = [o.name for o in model.graph.output] if names is None else names
    return {n: walk(n) for n in wanted}


def ulp_distance(expected: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Units in the last place between two float arrays of one dtype (finite elements): how many
    representable numbers lie between them; 0 when equal (+0 and -0 too), 1 for neighbours."""
    e, a = np.asarray(expected), np.asarray(actual)
    bits = np.dtype(f"i{e.dtype.itemsize}")

    def ordinal(x):  # the floats in order as integers: sign-magnitude bits made two's complement
        i = np.ascontiguousarray(x).view(bits).astype(np.int64)
        lowest = np.int64(np.iinfo(bits).min)
        return np.where(i < 0, lowest - i, i)
    oe, oa = ordinal(e), ordinal(a)
    same_sign = (oe >= 0) == (oa >= 0)
    with np.errstate(over="ignore"):
        close = np.abs(oa - oe).astype(np.float64)
    far = np.abs(oa.astype(np.float64)) + np.abs(oe.astype(np.float64))  # across zero: no int64 overflow
    return np.where(same_sign, close, far)


def compare(expected, actual, rtol=None, atol=None, tolerance_dtype=None) -> dict:
    """One output of one backend against the reference. `tolerance_dtype` (default: the output's dtype)
    picks the default rtol/atol; --rtol/--atol override them."""
    e, a = np.asarray(expected), np.asarray(actual)
    row = {"shape": list(a.shape), "dtype": a.dtype.name, "shape_ok": a.shape == e.shape, "dtype_ok": a.dtype == e.dtype,
           "max_abs": 0.0, "max_rel": 0.0, "max_ulp": None, "rtol": 0.0, "atol": 0.0, "tolerance_from": None,
           "ok": False}
    if not (row["shape_ok"] and row["dtype_ok"]):
        row["expected"] = f"{e.dtype.name}{list(e.shape)}"
        return row
    if e.dtype.kind != "f":
        diff = int(np.count_nonzero(a != e))
        row.update(max_abs=float(np.max(np.abs(a.astype(np.float64) - e), initial=0)), mismatched=diff, ok=diff == 0)
        return row
    source = np.dtype(tolerance_dtype) if tolerance_dtype is not None else e.dtype
    r, t = tolerances(source, rtol, atol)
    given = [k for k, v in (("rtol", rtol), ("atol", atol)) if v is not None]
    row["tolerance_from"] = "given" if len(given) == 2 else source.name + (f", {given[0]} given" if given else "")
    special_ok = bool(np.array_equal(np.isnan(a), np.isnan(e)) and np.array_equal(np.isposinf(a), np.isposinf(e))
                      and np.array_equal(np.isneginf(a), np.isneginf(e)))
    finite = np.isfinite(e) & np.isfinite(a)
    err = np.abs(a[finite].astype(np.float64) - e[finite])
    rel = err / np.maximum(np.abs(e[finite].astype(np.float64)), np.finfo(e.dtype).tiny)
    ok = special_ok and bool(np.all(err <= t + r * np.abs(e[finite])))
    ulp = ulp_distance(e[finite], a[finite]) if e.dtype.itemsize in (2, 4, 8) else np.zeros(0)
    row.update(max_abs=float(err.max(initial=0)), max_rel=float(rel.max(initial=0)),
               max_ulp=float(ulp.max(initial=0)), rtol=r, atol=t, ok=ok, special_ok=special_ok)
    return row


class CouldNotRun(Exception):
    """A backend failed to produce outputs (the message is the backend's own)."""


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
