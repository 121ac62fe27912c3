"""Shape-defining inputs read at run time.

A small integer graph input (at most MAX_ELEMENTS, fixed shape) that an op reads as a shape, sizes,
pads, indices or axes is not refused (a float one only where the op takes a float: FLOAT_KINDS): each of its elements becomes a variable (`shape[1]`) whose value
the generated code reads from the input's data (`<name>_set_input_data`) and checks against what every
op that reads it needs (`KINDS`) before anything is planned. An output size computed from such values
becomes a dim of its own (`y.shape[1]`), checked from 0 to the maximum dim when the values are read,
so the rest of the backend (arena plan, overflow bound, output shapes) treats it as a dynamic dim.

A value computed inside the graph from such inputs and from sizes by shape arithmetic (Shape, Size,
Cast, Gather, Concat, Add/Sub/Mul/Div, Max/Min, Split, ... : every op's `value` rule, the one evaluator of
known contents) is read at run time too: while those rules run (`propagating`), a marked integer input's
contents are its element variables, so the computed value's contents are expressions of them (`computed`).
An op reading it as a shape gets the expressions; the generated code evaluates them when the values are
set (`resolve`, before planning), checks them against what the op needs (`record_checks`, in graph order
with the derived dims) and fills the value itself from them where it is read as data. A float Cast of such
an integer keeps the number as double bits (`Value.real`), for ops that read floats (Range's bounds).
"""
from __future__ import annotations

import contextlib

from . import dims as D

MAX_ELEMENTS = 64
# Indices and steps are clamped into this range when read: past every size a tensor can have, so the
# clamp changes no result, and sums of them with sizes cannot overflow.
INDEX_LIMIT = 1 << 56

# kind -> (lowest, highest, zero allowed, clamped, what the op needs, said when refused)
#   "M" is the maximum dim (the context's, checked at run time); "rank" the axis count of the op.
KINDS = {
    "size": (0, "M", True, False, "a size from 0 to the maximum dim"),
    "extent": (-1, "M", True, False, "-1, 0 or a size up to the maximum dim"),
    "pad": ("-M", "M", True, False, "a padding from -(maximum dim) to the maximum dim"),
    "bound": ("-M", "M", True, False, "a value from -(maximum dim) to the maximum dim"),
    "delta": ("-M", "M", False, False, "a non-zero value from -(maximum dim) to the maximum dim"),
    "index": (None, None, True, True, "an index"),
    "step": (None, None, False, True, "a non-zero step"),
    "axis": ("-rank", "rank-1", True, False, "an axis from -rank to rank-1"),
    "count": (1, "M", True, False, "a number from 1 to the maximum dim (a float's integer part, as ONNX Runtime "
                                   "takes it)"),
    # a float kept as a number (Resize's scales): its variable holds the double's bits (real_bits reads
    # them), and a positive double's bits are an integer from 1 up
    "scale": (1, None, True, False, "a positive number"),
    "real": (None, None, True, False, "a number"),
    # an integer input read only to compute other values from (clamped like an index; never refused)
    "operand": (None, None, True, True, "any number"),
}
# Kinds an op may also give as a float: OneHot's depth, read as its integer part (truncated toward zero);
# REAL_KINDS (Resize's scales and roi) are float-only and keep the number itself.
FLOAT_KINDS = {"count", "scale", "real"}
REAL_KINDS = {"scale", "real"}


# element variables of every marked input: an expression over one of them is a run-time value, not a size
# (it may be negative: integer Div of it truncates, see elementwise.Div)
_NAMES: set = set()
_PROPAGATING = [False]


@contextlib.contextmanager
def propagating():
    """While shape-arithmetic rules run: a marked integer input's contents are its element variables."""
    _PROPAGATING[0] = True
    try:
        yield
    finally:
        _PROPAGATING[0] = False


def contents(value):
    """While `propagating`: a marked integer input's element variables, a computed value's expressions;
    else None."""
    if not _PROPAGATING[0]:
        return None
    if value.computed is not None:
        return list(value.computed)
    if value.runtime is not None and value.dtype.kind in "iu":
        return list(value.runtime)
    return None


def depends(d) -> bool:
    """Whether the Dim `d` depends on values read at run time."""
    return bool(D.free_vars(d) & _NAMES)


def computed(value) -> bool:
    """A value computed in the graph from values read at run time (its contents are expressions of them)."""
    return value.computed is not None


def split_computed(known, whole: bool = False):
    """Per output of a node's `known` contents: those that depend on values read at run time, as its
    computed contents (taken out of `known`, which it edits: the node still runs and computes the data).
    `whole` (a control-flow node, which writes all its outputs or none): all of them once one depends."""
    if not known:
        return None
    whole = whole and any(c is not None and any(depends(d) for d in c) for c in known)
    out = []
    for k, contents_k in enumerate(known):
        if contents_k is not None and (whole or any(depends(d) for d in contents_k)):
            out.append(list(contents_k))
            known[k] = None
        else:
            out.append(None)
    return out if any(c is not None for c in out) else None


def is_float(dtype) -> bool:
    """float16, bfloat16, float32 and float64: read as doubles (bfloat16 is a NumPy record type, not kind f)."""
    return dtype.kind == "f" or dtype.name == "bfloat16"


def mark_input(value) -> None:
    """Give a graph input that could define shapes its element variables (used only if an op asks)."""
    integer = value.dtype.kind == "i" and value.dtype.itemsize in (4, 8)
    real = is_float(value.dtype)
    if not (integer or real) or not D.is_static(value.shape):
        return
    count = D.prod(value.shape)
    if count <= MAX_ELEMENTS:
        value.runtime = [D.Sym.var(f"{value.name}[{i}]") for i in range(count)]
        _NAMES.update(f"{value.name}[{i}]" for i in range(count))


def readable(value, kind: str | None) -> bool:
    """Whether an op can read `value` as `kind` at run time (a marked input; a float one for FLOAT_KINDS,
    only a float one for REAL_KINDS; a float read as a number by one op is not read as an integer by another)."""
    if kind is None or value.runtime is None:
        return False
    if not is_float(value.dtype):
        return kind not in REAL_KINDS
    kinds = {k for _, _, k, _ in value.uses.values()} | {kind}
    return kinds <= FLOAT_KINDS and (kinds <= REAL_KINDS or not kinds & REAL_KINDS)


def read_as_real(value) -> bool:
    """Whether `value`'s variables hold its numbers' bits (see REAL_KINDS) rather than integers."""
    return any(kind in REAL_KINDS for _, _, kind, _ in value.uses.values())


def use(node, value, what: str, kind: str, rank: int | None = None) -> list:
    """Record that `node` reads `value` (a marked input) as `what` of `kind`; its element variables."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    if not readable(value, kind):
        raise ValueError(f"{value.name} cannot be read as {kind}")
    key = (node.name, what)
    if key not in value.uses:
        value.uses[key] = (node.describe(), what, kind, rank)
    return list(value.runtime)


def use_computed(node, value, what: str, kind: str | None, rank: int | None = None) -> list | None:
    """Record that `node` reads the computed `value` as `what` of `kind` (checked when resolved, see
    record_checks); its contents as expressions (clamped for the clamped kinds). None when the op cannot
    take it at run time (`kind` None or a float-only kind)."""
    if kind is None or kind in REAL_KINDS or kind in FLOAT_KINDS:
        return None
    key = (node.name, what)
    if key not in value.uses:
        value.uses[key] = (node.describe(), what, kind, rank)
    if KINDS[kind][3]:
        return [D.call("clamp_value", [e], clamp_value) for e in value.computed]
    return list(value.computed)


def clamp_value(v: int) -> int:
    """An index or step clamped into +-INDEX_LIMIT (mirrors exporter_rt::clamp_value)."""
    return max(-INDEX_LIMIT, min(INDEX_LIMIT, v))


def use_real(node, value, what: str) -> list:
    """Record that `node` reads `value` (a float Cast of values read at run time) as the number `what`;
    its numbers' bits."""
    value.uses.setdefault((node.name, what), (node.describe(), what, "real", None))
    return list(value.real)


def record_checks(graph, node) -> None:
    """After `node`'s rules ran: for each computed value it reads as a shape, the checks (in
    graph.value_checks, at the current position among the derived dims) and a use of every marked input
    its expressions need (read then, before planning)."""
    for value in node.inputs:
        exprs = value.computed if value is not None and value.computed is not None else (
            value.real if value is not None else None)
        if exprs is None:
            continue
        for key, (described, what, kind, rank) in value.uses.items():
            if key[0] != node.name or (value.name, key) in graph.value_checked:
                continue
            graph.value_checked.add((value.name, key))
            _mark_operands(graph, exprs)
            lo, hi, zero, _, needs = KINDS[kind]
            if rank is not None:
                needs = needs.replace("-rank to rank-1", f"{-rank} to {rank - 1}")
            if lo is None and hi is None and zero:
                continue  # clamped, never refused
            for element, expr in enumerate(exprs):
                if depends(expr):
                    graph.value_checks.append({
                        "position": len(graph.derived), "expr": expr, "lo": _cpp_bound(lo, rank),
                        "hi": _cpp_bound(hi, rank), "nonzero": not zero,
                        "what": f"{described} reads element {element} of '{value.name}' as {what}: {needs}"})


def _mark_operands(graph, exprs) -> None:
    """Marked inputs whose element variables the expressions `exprs` use are read at run time."""
    names = set()
    for d in exprs:
        names |= D.free_vars(d) & graph.value_syms
    for name in names:
        value = graph.runtime_inputs[name]
        key = ("", "operand")
        if key not in value.uses:
            value.uses[key] = ("the graph", "an operand of values computed from it", "operand", None)


def real_cast(value) -> list | None:
    """The numbers of a float Cast of `value` as double bits, when its integer contents depend on values
    read at run time (see Value.real); else None."""
    with propagating():
        ints = value.known_ints() if value.dtype.kind in "iu" else None
    if ints is None or not any(depends(d) for d in ints):
        return None
    return [D.call("real_of_int", [d], real_of_int) for d in ints]


def real_of_int(v: int) -> int:
    """The bits of the double nearest the integer `v` (mirrors exporter_rt::real_of_int)."""
    import struct
    return struct.unpack("<q", struct.pack("<d", float(v)))[0]


def value_names(value) -> set:
    return {s.args[0] for s in value.runtime or []}


def derive(graph, node, types):
    """`types` with every output size that depends on a run-time value replaced by a dim of its own,
    recorded in graph.derived as (dim name, expression, node, output name, axis)."""
    if not graph.value_syms:
        return types
    result = []
    for k, (dtype, shape) in enumerate(types):
        out = node.outputs[k].name if k < len(node.outputs) and node.outputs[k] is not None else f"{node.name}:{k}"
        new_shape = []
        for axis, d in enumerate(shape):
            if D.free_vars(d) & graph.value_syms:
                name = f"{out}.shape[{axis}]"
                graph.derived.append((name, d, node, out, axis))
                d = D.Sym.var(name)
            new_shape.append(d)
        result.append((dtype, new_shape))
    return result


def result_dims(graph, node, types):
    """`types` with each size known only once `node` ran (node.results: output, axis, upper bound) replaced
    by a dim of its own: planned at the bound (in graph.derived, like a derived dim) and set by the node's
    step when it runs (graph.result_dims: the program reports it as the output's size)."""
    if not node.results:
        return types
    types = [(dtype, list(shape)) for dtype, shape in types]
    for k, axis, bound in node.results:
        out = node.outputs[k].name if k < len(node.outputs) and node.outputs[k] is not None else f"{node.name}:{k}"
        name = f"{out}.shape[{axis}]"
        graph.derived.append((name, bound, node, out, axis))
        graph.result_dims.append(name)
        types[k][1][axis] = D.Sym.var(name)
    return types


def result_index(cg, value, axis: int) -> int:
    """The slot (in the context's results) of the size of `value`'s axis set when its node runs."""
    return cg.g.result_dims.index(value.shape[axis].args[0])


def check_results(graph) -> dict:
    """A size known only once its node ran is supported for graph outputs no other node reads (the caller's
    buffer is allocated at the bound); the others as {refusal: [node names]}."""
    bad = {}
    for node in graph.nodes:
        for k, _, _ in node.results:
            value = node.outputs[k] if k < len(node.outputs) else None
            if value is None:
                continue
            if value.consumers or not value.is_output or value in graph.inputs:
                bad.setdefault(f"{node.op} (its output '{value.name}' has a size known only once it ran; supported "
                               "when that output is a graph output no other node reads)", []).append(node.name)
    return bad


def checks(value) -> list:
    """Per element of a marked input that ops read: [{element, lo, hi, nonzero, clamp, what}], the bounds
    as C++ over `max_dim`, one entry per reading op."""
    out = []
    for described, what, kind, rank in value.uses.values():
        lo, hi, zero, clamp, needs = KINDS[kind]
        if rank is not None:  # the op's own axis range, not the letters
            needs = needs.replace("-rank to rank-1", f"{-rank} to {rank - 1}")
        for element in range(len(value.runtime)):
            out.append({"element": element, "lo": _cpp_bound(lo, rank), "hi": _cpp_bound(hi, rank),
                        "nonzero": not zero, "clamp": clamp, "what": f"{described} reads it as {what}: {needs}"})
    return out


def _cpp_bound(bound, rank):
    if bound is None:
        return None
    return {"M": "max_dim", "-M": "-max_dim", "-rank": str(-(rank or 0)), "rank-1": str((rank or 0) - 1)}.get(
        bound, str(bound))
