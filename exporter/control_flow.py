"""Control flow over values: `cond`, `while_loop`, `fori_loop` and `scan`, with JAX's signatures.

    y = exporter.cond(norm > 1.0, lambda g: g / norm, lambda g: g, grad)
    i, tokens = exporter.while_loop(lambda c: c[0] < 10, step, (0, tokens))
    h, hs = exporter.scan(lambda h, x: (cell(h, x), h), h0, xs)

On concrete values they are plain Python over NumPy arrays, so a model.py that uses them runs in NumPy
unchanged. When a traced array is involved (an operand, a carry, or a value the functions close over)
they become ONNX control-flow nodes whose bodies are traced by calling the user's function once on
fresh traced values:

- `cond` -> `If`. The branches have no inputs: operands and closures are read from the outer scope.
- `while_loop` -> `Loop(M="", cond=cond_fn(init), carry...)`; the body computes `body_fn` and then
  `cond_fn` of the new carry, which is the body's condition output.
- `fori_loop` -> `Loop(M=upper-lower, cond=true, carry...)`; the index is `lower + iteration`.
- `scan` -> `Loop(M=length, cond=true, carry...)`; the body reads `x_t = Gather(xs, iteration, axis=0)`
  from the outer scope and returns the ys as Loop scan outputs (stacked along a new axis 0). Loop, not
  ONNX `Scan`: one looping op for back ends to implement, and Scan's per-input axes and directions
  would be unused.

Every body output is an `Identity` inside the body, so body outputs are always values the body
computes; loop bodies always take `(iteration: int64[], cond: bool[], carry...)`.

The traced array's *shadow* (the value NumPy computes for the example inputs, see tracer.py) of a
loop's result is found by running the loop on the shadows: the body is traced once more per iteration
into a graph that is thrown away. A dynamic-axis probe may stop after another number of iterations
than the example; the side that stopped re-runs its last valid iteration until the other one stops.
"""
from __future__ import annotations

import numpy as np
from onnx import helper

from . import dtypes
from .errors import tracing_error
from .tracing.graph import GraphBuilder, active_graph, onnx_dtype
from .tracing.tracer import SymInt, Tracer, name_of

__all__ = ["cond", "while_loop", "fori_loop", "scan"]

_CARRY_FIX = ("give the initial value the dtype and shape the body returns (np.float32(0) instead of 0.0, "
              "np.zeros((n, 4), np.float32)), or .astype() / np.broadcast_to the body's result; "
              "a growing result is a fixed-size buffer written with np.where(np.arange(n) == i, v, buf)")


# ---------------------------------------------------------------------------------------------------
# Pytrees: nested tuples, lists and dicts of arrays (None is an empty subtree)


def flatten(tree, path="") -> tuple[list, list[str], tuple]:
    """(leaves, their paths like "[1]['h']", structure); `unflatten(structure, leaves)` rebuilds it."""
    if tree is None:
        return [], [], ("none",)
    if isinstance(tree, dict):
        keys = sorted(tree, key=repr)  # a fixed order, whatever order the body built the dict in
        children = [flatten(tree[k], f"{path}[{k!r}]") for k in keys]
        kind = (dict, tuple(keys))
    elif isinstance(tree, (tuple, list)):
        children = [flatten(v, f"{path}[{i}]") for i, v in enumerate(tree)]
        kind = (type(tree), len(tree))
    else:
        return [tree], [path], ("leaf",)
    leaves = [leaf for c in children for leaf in c[0]]
    paths = [p for c in children for p in c[1]]
    return leaves, paths, kind + (tuple(c[2] for c in children),)


def unflatten(structure, leaves):
    leaves = iter(leaves)

    def build(s):
        if s[0] == "leaf":
            return next(leaves)
        if s[0] == "none":
            return None
        if s[0] is dict:
            return {k: build(c) for k, c in zip(s[1], s[2])}
        children = [build(c) for c in s[2]]
        return s[0](*children) if hasattr(s[0], "_fields") else s[0](children)
    return build(structure)


def _show(structure) -> str:
    """A structure as Python-like text with * for each array: (*, {'h': *})."""
    if structure[0] == "leaf":
        return "*"
    if structure[0] == "none":
        return "None"
    if structure[0] is dict:
        return "{" + ", ".join(f"{k!r}: {_show(c)}" for k, c in zip(structure[1], structure[2])) + "}"
    inner = ", ".join(_show(c) for c in structure[2])
    return f"[{inner}]" if structure[0] is list else f"({inner}{',' if len(structure[2]) == 1 else ''})"


def _is_traced(tree) -> bool:
    return any(isinstance(leaf, (Tracer, SymInt)) for leaf in flatten(tree)[0])


# ---------------------------------------------------------------------------------------------------
# Leaves: arrays of a fixed dtype and shape


def _fn_name(fn) -> str:
    code = getattr(fn, "__code__", None)
    where = f" ({code.co_filename}:{code.co_firstlineno})" if code else ""
    return f"{getattr(fn, '__name__', 'function')}{where}"


def _as_array(leaf, what: str, path: str):
    """A concrete leaf as an array: Python scalars become 0-d arrays of NumPy's default dtype (int64,
    float64, bool), the same in eager runs and traces, so both compute with the same dtypes."""
    if isinstance(leaf, (Tracer, SymInt)):
        return leaf
    array = np.asarray(leaf) if isinstance(leaf, (bool, int, float, np.generic, np.ndarray)) else None
    if array is None or array.dtype not in dtypes.TRACED:
        got = type(leaf).__name__ if array is None else f"an array of dtype {array.dtype}"
        raise tracing_error(f"{what}{path} is {got}; control-flow values must be arrays "
                            f"({dtypes.listing(dtypes.TRACED)}) or Python numbers, in tuples, lists and dicts",
                            "keep other Python objects out of the carried values (close over them instead)")
    return array


def _spec(x) -> tuple:
    """(dtype, example shape, probe shape) of a leaf: what a carry must keep from one iteration to the next."""
    if isinstance(x, Tracer):
        return x.dtype, x.value.shape, (x.value.shape if x.probe is None else x.probe.shape)
    if isinstance(x, SymInt):
        return np.dtype(np.int64), (), ()
    return x.dtype, x.shape, x.shape


def _describe(spec) -> str:
    dtype, shape, probe = spec
    dims = [str(v) if v == p else f"{v} (dynamic)" for v, p in zip(shape, probe)]
    return f"{np.dtype(dtype).name}[{', '.join(dims)}]"


def _check_same(before, after, what: str, fn, why: str) -> None:
    """`after` (leaves, paths, structure) must have the structure, dtypes and shapes of `before`."""
    if before[2] != after[2]:
        raise tracing_error(f"{_fn_name(fn)} returned {_show(after[2])}, but {what} is {_show(before[2])}; {why}",
                            "return the same tuple/list/dict structure every time")
    for path, x, y in zip(before[1], before[0], after[0]):
        a, b = _spec(x), _spec(y)
        if a != b:
            raise tracing_error(f"{_fn_name(fn)} returned {what}{path} as {_describe(b)}, but it is {_describe(a)}; "
                                f"{why}", _CARRY_FIX)


def _normalize(tree, what: str):
    leaves, paths, structure = flatten(tree)
    return [_as_array(x, what, p) for x, p in zip(leaves, paths)], paths, structure


def _to_tracer(g: GraphBuilder, leaf) -> Tracer:
    """A leaf as a traced value: constants become initializers (read by bodies from the outer scope)."""
    if isinstance(leaf, Tracer):
        return leaf
    if isinstance(leaf, SymInt):
        return Tracer(g, name_of(g, leaf), np.asarray(leaf.value, np.int64),
                      np.asarray(leaf.probe, np.int64) if g.probing else None)
    array = np.asarray(leaf)
    return Tracer(g, g.const(array), array, array if g.probing else None)


def _side(x: Tracer, side: int):
    return x.value if side == 0 else x.probe


def _value_info(g: GraphBuilder, name: str, x: Tracer, lead=()):
    dims = [v if v == p else g.dim_names.get((v, p)) for v, p in
            zip(x.value.shape, x.value.shape if x.probe is None else x.probe.shape)]
    return helper.make_tensor_value_info(name, onnx_dtype(x.dtype), list(lead) + dims)


def _predicate(p, who: str):
    """A 0-d bool condition: a Tracer, or a Python bool when it is concrete."""
    if isinstance(p, SymInt):
        p = np.asarray(p.value)  # (not reached: comparisons of dynamic dims raise first)
    shape, dtype = (p.value.shape, p.dtype) if isinstance(p, Tracer) else (np.shape(p), np.asarray(p).dtype)
    if shape != () or dtype != np.bool_:
        raise tracing_error(f"{who} must be a scalar bool, got {np.dtype(dtype).name} of shape {shape}",
                            "compare to get a bool (x.sum() > 0, np.linalg.norm(g) > 1.0); reduce an array "
                            "condition with np.any / np.all")
    return p if isinstance(p, Tracer) else bool(p)


class _MetTracer(Exception):
    """An eager run met a traced value: the control flow has to be traced instead."""


def _check_concrete(tree):
    if _is_traced(tree):
        raise _MetTracer


def _eagerly(run):
    """Run `run()` on concrete values; None if it meets a traced value. Inside a trace its nodes (from
    values the functions close over) go to a graph that is thrown away: the traced lowering redoes them."""
    g = active_graph()
    try:
        if g is None:
            return (run(),)
        with g.subgraph():
            return (run(),)
    except _MetTracer:
        return None


# ---------------------------------------------------------------------------------------------------
# cond


def cond(pred, true_fn, false_fn, *operands):
    """`true_fn(*operands)` if `pred` else `false_fn(*operands)`; traced, an ONNX `If` computing only the
    branch taken. Both branches must return the same structure of arrays with the same dtypes and shapes.

    >>> import numpy as np, exporter
    >>> g = np.array([3.0, 4.0], np.float32)
    >>> exporter.cond(np.linalg.norm(g) > 1.0, lambda g: g / np.linalg.norm(g), lambda g: g, g)
    array([0.6, 0.8], dtype=float32)
    """
    p = _predicate(pred, "exporter.cond's pred")
    if not isinstance(p, Tracer):  # known now: the branch runs as plain Python (and is traced inline)
        return (true_fn if p else false_fn)(*operands)
    return _cond_traced(p.graph, p, true_fn, false_fn, operands)


def _trace_branch(g: GraphBuilder, fn, operands):
    with g.subgraph() as nodes:
        out = fn(*operands)
        leaves, paths, structure = _normalize(out, "the branch's result")
        leaves = [_to_tracer(g, x) for x in leaves]
        names = [g.op("Identity", x.name, hint="branch_out") for x in leaves]
    return nodes, (leaves, paths, structure), names


def _cond_traced(g: GraphBuilder, pred: Tracer, true_fn, false_fn, operands):
    then_nodes, then_out, then_names = _trace_branch(g, true_fn, operands)
    else_nodes, else_out, else_names = _trace_branch(g, false_fn, operands)
    _check_same(then_out, else_out, "true_fn's result", false_fn,
                "an ONNX If gives one result whichever branch runs, so both must have the same structure, dtypes "
                "and shapes")
    leaves = then_out[0]
    if not leaves:
        return unflatten(then_out[2], [])
    then_graph = helper.make_graph(then_nodes, g.fresh("then_branch"), [],
                                   [_value_info(g, n, x) for n, x in zip(then_names, leaves)])
    else_graph = helper.make_graph(else_nodes, g.fresh("else_branch"), [],
                                   [_value_info(g, n, x) for n, x in zip(else_names, else_out[0])])
    names = g.op("If", pred.name, outputs=len(leaves), hint="cond", then_branch=then_graph, else_branch=else_graph)
    names = [names] if len(leaves) == 1 else names
    # the shadows follow the branch each shadow's own predicate takes
    chosen = [then_out[0] if pred.value else else_out[0],
              then_out[0] if pred.probe is not None and pred.probe else else_out[0]]
    results = [Tracer(g, n, np.asarray(chosen[0][k].value),
                      None if pred.probe is None else np.asarray(chosen[1][k].probe))
               for k, n in enumerate(names)]
    return unflatten(then_out[2], results)


# ---------------------------------------------------------------------------------------------------
# Loops


def while_loop(cond_fn, body_fn, init_val):
    """`val = init_val; while cond_fn(val): val = body_fn(val); return val`; traced, an ONNX `Loop`.

    `body_fn` must return the structure, dtypes and shapes of `init_val` (Python numbers in it become
    0-d int64/float64/bool arrays), and `cond_fn` a scalar bool.

    >>> import numpy as np, exporter
    >>> exporter.while_loop(lambda c: c[1] < 100, lambda c: (c[0] + 1, c[1] * 2), (0, 1))
    (array(7), array(128))
    """
    init = _normalize(init_val, "while_loop's init_val")

    def run():
        leaves = init[0]
        while True:
            val = unflatten(init[2], leaves)
            c = cond_fn(val)
            _check_concrete(c)
            if not _predicate(c, f"while_loop's cond_fn {_fn_name(cond_fn)} result"):
                return val
            new = body_fn(val)
            _check_concrete(new)
            new = _normalize(new, "the carry")
            _check_same(init, new, "the carry", body_fn, _LOOP_WHY)
            leaves = new[0]
    done = _eagerly(run) if not _is_traced(init[0]) else None
    if done is not None:
        return done[0]
    g = _graph_of(init[0])
    carry = [_to_tracer(g, x) for x in init[0]]
    first = _loop_predicate(g, cond_fn, unflatten(init[2], carry))

    def trace_body(it, carry_in):
        new = _carry_step(g, body_fn(unflatten(init[2], carry_in)), init, body_fn)
        return new, [], _loop_predicate(g, cond_fn, unflatten(init[2], new))
    go = [_side(first, s) for s in _sides(g)]
    final, _ = _emit_loop(g, "", first.name, carry, trace_body, trips=None, go=go)
    return unflatten(init[2], final)


_LOOP_WHY = "a loop's carry keeps one structure, dtype and shape across iterations (ONNX Loop carries do)"


def _loop_predicate(g: GraphBuilder, cond_fn, val) -> Tracer:
    p = _predicate(cond_fn(val), f"while_loop's cond_fn {_fn_name(cond_fn)} result")
    return p if isinstance(p, Tracer) else _to_tracer(g, np.bool_(p))


def fori_loop(lower, upper, body_fn, init_val):
    """`val = init_val; for i in range(lower, upper): val = body_fn(i, val); return val`; traced, an ONNX
    `Loop` with a trip count. `i` is a 0-d int64 array; the bounds may be ints, dynamic sizes
    (`x.shape[0]`) or traced 0-d integer arrays.

    >>> import numpy as np, exporter
    >>> exporter.fori_loop(0, 4, lambda i, acc: acc + i, np.int64(0))
    array(6)
    """
    init = _normalize(init_val, "fori_loop's init_val")
    lo, hi = (_bound(b, name) for b, name in ((lower, "lower"), (upper, "upper")))

    def run():
        leaves = init[0]
        for i in range(int(lo), int(hi)):
            new = body_fn(np.asarray(i, np.int64), unflatten(init[2], leaves))
            _check_concrete(new)
            new = _normalize(new, "the carry")
            _check_same(init, new, "the carry", body_fn, _LOOP_WHY)
            leaves = new[0]
        return unflatten(init[2], leaves)
    done = _eagerly(run) if not _is_traced([lo, hi, init[0]]) else None
    if done is not None:
        return done[0]
    g = _graph_of([lo, hi] + init[0])

    lo_t, hi_t = _to_tracer(g, lo), _to_tracer(g, hi)
    trip = np.maximum(hi_t - lo_t, 0)  # traced (folded to a constant when both bounds are)
    carry = [_to_tracer(g, x) for x in init[0]]

    def trace_body(it, carry_in):
        i = it if _is_zero(lo) else it + lo_t
        return _carry_step(g, body_fn(i, unflatten(init[2], carry_in)), init, body_fn), [], None
    trips = [int(_side(trip, s)) for s in _sides(g)]
    final, _ = _emit_loop(g, trip.name, g.const(np.bool_(True)), carry, trace_body, trips=trips)
    return unflatten(init[2], final)


def _bound(b, name: str):
    """A loop bound as an int, a SymInt or a 0-d int64 Tracer."""
    if isinstance(b, SymInt):
        return b
    if isinstance(b, Tracer):
        if b.value.shape != () or b.dtype.kind not in "iu":
            raise tracing_error(f"fori_loop's {name} bound must be a scalar integer, got {_describe(_spec(b))}",
                                "pass an int, x.shape[i] or a 0-d integer array")
        return b if b.dtype == np.int64 else b.astype(np.int64)
    array = np.asarray(b)
    if array.shape != () or array.dtype.kind not in "iu":
        raise tracing_error(f"fori_loop's {name} bound must be a scalar integer, got {array.dtype} of shape "
                            f"{array.shape}", "pass an int, x.shape[i] or a 0-d integer array")
    return int(array)


def _is_zero(b) -> bool:
    return isinstance(b, int) and b == 0


def scan(f, init, xs, length=None):
    """Loop `carry, y = f(carry, x)` over `x` in the leading axis of `xs` (a pytree of arrays, or None
    with `length=`); returns `(final carry, ys stacked along a new axis 0)`. Traced, an ONNX `Loop` with
    scan outputs. `f`'s carry keeps its structure, dtypes and shapes; its ys have one shape every step.

    >>> import numpy as np, exporter
    >>> exporter.scan(lambda c, x: (c + x, c * x), np.int64(0), np.arange(1, 4))
    (array(6), array([0, 2, 9]))
    """
    init_n = _normalize(init, "scan's init")
    xs_n = _normalize(xs, "scan's xs")
    n = _scan_length(xs_n, length)

    def run():
        leaves, ys = init_n[0], []
        for t in range(n):
            x = unflatten(xs_n[2], [np.asarray(a[t]) for a in xs_n[0]])
            new, y = _split(f(unflatten(init_n[2], leaves), x), f)
            _check_concrete((new, y))
            new, y = _normalize(new, "the carry"), _normalize(y, "the scanned output y")
            _check_same(init_n, new, "the carry", f, _LOOP_WHY)
            if ys:
                _check_same(ys[0], y, "the scanned output y", f, _YS_WHY)
            leaves = new[0]
            ys.append(y)
        if not ys:  # no steps: one on zeros tells the ys' shapes, for empty stacks
            x = unflatten(xs_n[2], [np.zeros(a.shape[1:], a.dtype) for a in xs_n[0]])
            y = _normalize(_split(f(unflatten(init_n[2], leaves), x), f)[1], "the scanned output y")
            _check_concrete(y[0])
            return unflatten(init_n[2], leaves), unflatten(y[2], [np.zeros((0,) + a.shape, a.dtype) for a in y[0]])
        return unflatten(init_n[2], leaves), unflatten(ys[0][2], [np.stack(k) for k in zip(*(y[0] for y in ys))])
    done = _eagerly(run) if not _is_traced([init_n[0], xs_n[0], n]) else None
    if done is not None:
        return done[0]
    g = _graph_of([n] + init_n[0] + xs_n[0])

    xs_t = [_to_tracer(g, a) for a in xs_n[0]]
    carry = [_to_tracer(g, x) for x in init_n[0]]
    trip = _to_tracer(g, n)
    y_out = []

    def trace_body(it, carry_in):
        x = unflatten(xs_n[2], [_gather_step(g, a, it) for a in xs_t])
        new, y = _split(f(unflatten(init_n[2], carry_in), x), f)
        new = _carry_step(g, new, init_n, f)
        y = _normalize(y, "the scanned output y")
        if y_out:
            _check_same(y_out[0], y, "the scanned output y", f, _YS_WHY)
        else:
            y_out.append(y)
        return new, [_to_tracer(g, v) for v in y[0]], None
    trips = [int(_side(trip, s)) for s in _sides(g)]
    final, ys = _emit_loop(g, trip.name, g.const(np.bool_(True)), carry, trace_body, trips=trips)
    return unflatten(init_n[2], final), unflatten(y_out[0][2], ys)


_YS_WHY = "the ys are stacked into one array, so every step's y has the same structure, dtype and shape"


def _split(out, f):
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise tracing_error(f"scan's f {_fn_name(f)} returned {type(out).__name__}, not a pair (carry, y)",
                            "return carry, y (y may be None when nothing is stacked)")
    return out


def _scan_length(xs_n, length):
    """The number of steps: the leading size of every xs leaf (an int or a dynamic SymInt), or `length`."""
    sizes = []
    for path, a in zip(xs_n[1], xs_n[0]):
        if not _spec(a)[1]:
            raise tracing_error(f"scan's xs{path} is a 0-d array; scan runs along axis 0",
                                "pass arrays with a leading axis to scan over")
        sizes.append(a.shape[0])
    if length is not None:
        sizes.append(length)
    if not sizes:
        raise tracing_error("scan has no xs and no length", "pass length=n when xs is None")

    def key(size):
        return (size.value, size.probe) if isinstance(size, SymInt) else (int(size), int(size))
    for s in sizes[1:]:
        if key(s) != key(sizes[0]) or isinstance(s, SymInt) != isinstance(sizes[0], SymInt):
            raise tracing_error(f"scan's xs and length disagree on the number of steps ({sizes})",
                                "give every xs array the same leading size (and length=, if any, equal to it)")
    return sizes[0]


def _gather_step(g: GraphBuilder, a: Tracer, it: Tracer) -> Tracer:
    """Row `it` of `a` (read from the outer scope); an empty `a` gives zeros for the shadow."""
    def row(array, i):
        return np.asarray(array[int(i)]) if int(i) < len(array) else np.zeros(array.shape[1:], array.dtype)
    name = g.op("Gather", a.name, it.name, axis=0, hint="x_t")
    return Tracer(g, name, row(a.value, it.value), None if a.probe is None else row(a.probe, it.probe))


def _carry_step(g: GraphBuilder, new, init, fn) -> list[Tracer]:
    """The body's result `new`, checked against the carry `init`, as Tracers."""
    new = _normalize(new, "the carry")
    _check_same(init, new, "the carry", fn, _LOOP_WHY)
    return [_to_tracer(g, x) for x in new[0]]


def _graph_of(leaves) -> GraphBuilder | None:
    for leaf in leaves:
        if isinstance(leaf, (Tracer, SymInt)):
            return leaf.graph
        if isinstance(leaf, (tuple, list, dict)):
            found = _graph_of(flatten(leaf)[0])
            if found is not None:
                return found
    return active_graph()


def _sides(g: GraphBuilder):
    return range(2 if g.probing else 1)


def _emit_loop(g: GraphBuilder, trip_name: str, cond_name: str, carry: list[Tracer], trace_body, trips, go=None):
    """Emit `Loop(trip_name, cond_name, *carry)` with the body `trace_body(iteration, carry) -> (new carry,
    ys, condition or None)` traced once into it; returns (final carry, stacked ys) as Tracers."""
    with g.subgraph() as nodes:
        it = Tracer(g, g.fresh("iteration"), np.asarray(0, np.int64), np.asarray(0, np.int64) if g.probing else None)
        cond_in = g.fresh("cond_in")
        carry_in = [Tracer(g, g.fresh("carry_in"), x.value, x.probe) for x in carry]
        new, ys, go_on = trace_body(it, carry_in)
        cond_out = g.op("Identity", cond_in if go_on is None else go_on.name, hint="cond_out")
        new_names = [g.op("Identity", x.name, hint="carry_out") for x in new]
        y_names = [g.op("Identity", y.name, hint="y_out") for y in ys]
    body = helper.make_graph(
        nodes, g.fresh("loop_body"),
        [helper.make_tensor_value_info(it.name, onnx_dtype(np.int64), []),
         helper.make_tensor_value_info(cond_in, onnx_dtype(np.bool_), [])]
        + [_value_info(g, x.name, x) for x in carry_in],
        [helper.make_tensor_value_info(cond_out, onnx_dtype(np.bool_), [])]
        + [_value_info(g, n, x) for n, x in zip(new_names, new)] + [_value_info(g, n, y) for n, y in zip(y_names, ys)])
    count = len(carry) + len(ys)
    names = g.op("Loop", trip_name, cond_name, *[x.name for x in carry], outputs=count, hint="loop", body=body)
    names = [names] if count == 1 else names
    final, stacked = _shadow_loop(g, trace_body, carry, ys, trips, go)
    tracers = [Tracer(g, n, v, p) for n, (v, p) in zip(names, final + stacked)]
    return tracers[:len(carry)], tracers[len(carry):]


def _shadow_loop(g: GraphBuilder, trace_body, carry: list[Tracer], ys0: list[Tracer], trips, go):
    """The loop's final carry and stacked ys on the example (and probe) shadows, as (value, probe) pairs,
    found by tracing the body once per iteration into graphs that are thrown away. `trips` gives each
    side's trip count (fori_loop, scan), `go` each side's initial condition (while_loop)."""
    sides = list(_sides(g))
    cur = [[_side(x, s) for x in carry] for s in sides]
    safe, safe_i = [list(c) for c in cur], [0 for _ in sides]  # inputs a stopped side re-runs harmlessly
    running = [trips[s] > 0 if trips is not None else bool(go[s]) for s in sides]
    ys = [[] for _ in sides]
    i = 0
    while any(running):
        ins = [cur[s] if running[s] else safe[s] for s in sides]
        idx = [i if running[s] else safe_i[s] for s in sides]
        with g.subgraph():
            it = Tracer(g, g.fresh("shadow"), np.asarray(idx[0], np.int64),
                        np.asarray(idx[-1], np.int64) if g.probing else None)
            carry_in = [Tracer(g, g.fresh("shadow"), ins[0][k], ins[-1][k] if g.probing else None)
                        for k in range(len(carry))]
            new, y, go_on = trace_body(it, carry_in)
        for s in sides:
            if running[s]:
                safe[s], safe_i[s] = ins[s], i
                cur[s] = [_side(x, s) for x in new]
                ys[s].append([_side(v, s) for v in y])
                running[s] = i + 1 < trips[s] if trips is not None else bool(_side(go_on, s))
        i += 1

    def stack(s, k, template):
        steps = [step[k] for step in ys[s]]
        return np.stack(steps) if steps else np.zeros((0,) + _side(template, s).shape, template.dtype)
    final = [(cur[0][k], cur[-1][k] if g.probing else None) for k in range(len(carry))]
    stacked = [(stack(0, k, y), stack(len(sides) - 1, k, y) if g.probing else None) for k, y in enumerate(ys0)]
    return final, stacked
