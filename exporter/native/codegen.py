"""Code generation: turn a native Graph into steps (fused elementwise loops and kernel calls), plan the
arena, lay out the weights blob and render the C++ project from the Jinja templates."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .. import dtypes
from . import dims as D
from .cpp import c_text, cname, literal
from .ir import Graph, Node, Value
from .ops import OPS
from .planner import plan

ALIGN = D.ALIGN
# Every identifier the code generator makes (values, weights, scratch, control-flow state) starts with one of
# these; the hand-written names of the templates never do (tests/native/test_golden.py checks), so neither
# can shadow the other, whatever the model's value names are.
GENERATED_PREFIXES = ("v_", "w_", "scratch_", "out_", "loop_", "scan_")


@dataclass(eq=False)
class Step:
    """One unit of generated code: the nodes it covers, the values it reads and writes, template data."""
    data: dict
    nodes: list
    reads: list = field(default_factory=list)
    writes: list = field(default_factory=list)
    scratch: object = 0          # elements
    scratch_dtype: np.dtype = np.dtype(np.float32)
    bodies: list = field(default_factory=list)   # control flow: the Body of each subgraph, rendered nested


@dataclass(eq=False)
class Body:
    """A control-flow node's subgraph, generated as its own steps with its own arena plan. Its arena lives
    in the node's scratch (at `base`, a C++ pointer expression the node's template gives it); the template
    declares `inputs` (pointers to what each formal input holds) and `outputs` (pointers to where each
    output must be written) around the body's code."""
    cg: "CodeGen"
    inputs: list                 # C++ names of the body's input pointers
    outputs: list                # C++ names of the pointers the body writes its outputs through
    size: object                 # arena bytes, a Dim (a multiple of ALIGN)
    buffers: list                # [{var, ctype, offset}] offsets relative to the body's base
    unused_scratch: list

    def data(self, base: str) -> dict:
        """Template data (see render_body in model.cpp.j2)."""
        return {"base": base, "buffers": self.buffers, "unused_scratch": self.unused_scratch,
                "steps": [dict(s.data, comment=comment_of(s)) for s in self.cg.steps]}


def comment_of(step: Step) -> str:
    return "; ".join(f"{n.op} '{c_text(n.name)}'" for n in step.nodes) or "fill in run-time shape values"


class CodeGen:
    def __init__(self, graph: Graph, name: str, parent: "CodeGen | None" = None, isa: str = "avx2"):
        self.g = graph
        self.name = cname(name)
        self.parent = parent     # a body's code generator: the enclosing graph's (names, weights are shared)
        self.isa = parent.isa if parent else isa  # the kernels' vector ISA (target.vector_isa): some choices depend on it
        self.targets: dict[Value, str] = {}   # a body's outputs -> the pointer each must be written through
        self.vars: dict[Value, str] = {}
        self.alias_of: dict[Value, Value] = {}
        self.constants: list[tuple[str, np.ndarray]] = []   # (var, array) stored in the weights blob
        self._constant_index: dict[tuple, str] = {}
        self.scratch_vars: dict[Node, str] = {}
        self.materialized: dict[Value, str] = {}
        self.fills: list[Step] = []
        self.steps: list[Step] = []
        self._names: set[str] = set()
        self.output_vars: dict[Value, str] = {}
        self.fused: dict[Node, dict] = {}   # kernel node -> the ops its epilogue applies (see _plan_epilogues)
        self.absorbed: set[Node] = set()
        if parent is not None:  # one C++ function, one weights blob
            self._names, self.constants, self._constant_index = parent._names, parent.constants, parent._constant_index
        self.example_env = parent.example_env if parent is not None else {
            d: 1 for d in list(graph.dim_names) + [d[0] for d in graph.derived] + sorted(graph.value_syms)}

    # ---- helpers for op emitters ------------------------------------------------------------------
    def ctype(self, dtype) -> str:
        return dtypes.ctype(dtype)

    def dim(self, d) -> str:
        return D.cpp(d)

    def dims(self, ds) -> list[str]:
        return [D.cpp(d) for d in ds]

    def flops(self, factors) -> str:
        """C++ double expression for the profile's FLOP count of a step doing prod(factors) multiply-adds.
        Sizes known now fold into one literal; each dynamic factor is converted to double before multiplying,
        so the count cannot overflow int64 at any dims the model accepts."""
        static, dynamic = 2, []
        for f in factors:
            if isinstance(f, D.Sym):
                dynamic.append(f"double({D.cpp(f)})")
            else:
                static *= int(f)
        return " * ".join([f"{static}.0"] + dynamic)

    def _unique(self, base: str) -> str:
        assert base.startswith(GENERATED_PREFIXES), base
        base = re.sub(r"__+", "_", base)  # identifiers with a double underscore are the implementation's
        name, k = base, 1
        while name in self._names:
            name, k = f"{base}_{k}", k + 1
        self._names.add(name)
        return name

    def var(self, value: Value) -> str:
        """The C++ pointer variable holding `value`."""
        if value in self.vars:
            return self.vars[value]
        if self.parent is not None and not self.g.owns(value):
            return self.parent.var(value)  # an enclosing scope's value: its variable is in scope here too
        if value.data is not None:
            return self.constant(value.data, value.name)
        if value.known is not None and value not in self.materialized:
            return self._materialize(value)
        self.vars[value] = self._unique("v_" + cname(value.name))
        return self.vars[value]

    def scalar(self, value: Value) -> str:
        """A C++ expression for the single element of `value`."""
        if value.data is not None:
            return literal(value.data.reshape(-1)[0], value.dtype)
        known = value.known_ints()
        if known is not None:
            return f"{self.ctype(value.dtype)}({D.cpp(known[0])})"
        return f"{self.var(value)}[0]"

    def constant(self, array: np.ndarray, hint: str) -> str:
        array = np.ascontiguousarray(array)
        key = (array.dtype.str, array.shape, array.tobytes())
        if key not in self._constant_index:
            var = self._unique("w_" + cname(hint))
            self.constants.append((var, array))
            self._constant_index[key] = var
        return self._constant_index[key]

    def scratch_var(self, node: Node) -> str:
        if node not in self.scratch_vars:
            self.scratch_vars[node] = self._unique("scratch_" + cname(node.name))
        return self.scratch_vars[node]

    def _materialize(self, value: Value) -> str:
        """A known (shape-arithmetic) value read as data: a constant, or filled in at run time."""
        known = value.known_ints()
        if all(not isinstance(d, D.Sym) for d in known):
            var = self.constant(np.asarray(known, dtype=value.dtype).reshape([int(d) for d in value.shape]),
                                value.name)
        else:
            var = self._unique("v_" + cname(value.name))
            self.fills.append(Step({"template": "fill_known", "out": var, "ctype": self.ctype(value.dtype),
                                    "values": [D.cpp(d) for d in known]}, [], writes=[value]))
        self.materialized[value] = var
        self.vars[value] = var
        return var

    # ---- epilogue fusion ------------------------------------------------------------------------------
    def result(self, node: Node) -> Value:
        """The value a kernel node's step writes: its output, or the last op fused into its epilogue."""
        plan = self.fused.get(node)
        return plan["output"] if plan else node.outputs[0]

    def epilogue(self, node: Node, per_row: bool) -> dict:
        """Template data for the ops fused into `node`'s GEMM epilogue (empty when there are none)."""
        plan = self.fused.get(node)
        if not plan:
            return {}
        out, data = node.outputs[0], {}
        if plan["bias"] is not None and not per_row:
            bias = plan["bias"]
            data["bias"] = {"var": self.var(bias), "rs": "0", "cs": "0" if bias.data.size == 1 else "1"}
        if plan["residual"] is not None:
            data["residual"] = {"var": self.var(plan["residual"]), "ld": self.dim(out.shape[-1]) if out.rank else "1"}
        if plan["act"]:
            name, p0, p1 = plan["act"]
            data["act"] = name
            data["p0"] = literal(p0, out.dtype) if p0 is not None else None
            data["p1"] = literal(p1, out.dtype) if p1 is not None else None
        return data

    def _plan_epilogues(self) -> None:
        """Conv/Gemm/MatMul followed by a bias or residual Add and/or an activation, each the sole consumer of
        the previous result: those nodes run in the kernel's epilogue, on each tile of C while it is hot; then a
        large convolution's MaxPool, on each band of its rows (Conv.fuses_max_pool)."""
        order = {node: i for i, node in enumerate(self.g.nodes)}
        for node in self.g.nodes:
            if node.op not in _EPILOGUE_KERNELS or not node.outputs or node.outputs[0] is None:
                continue
            if node.op == "Conv" and node.inputs[0].rank == 5:  # 3-D sums 2-D convolutions: no epilogue there
                continue
            out = node.outputs[0]
            if out.dtype.kind != "f" or out.known is not None:
                continue
            plan = {"nodes": [], "output": out, "bias": None, "residual": None, "act": None, "pool": None}
            nxt = _sole_consumer(out)
            if nxt is not None and nxt.op in ("Add", "Sum") and len(nxt.inputs) == 2 and _same_shape(nxt.outputs[0], out):
                other = nxt.inputs[1] if nxt.inputs[0] is out else nxt.inputs[0]
                kind = _add_kind(node, other, out, order)
                if kind:
                    plan[kind] = other
                    plan["nodes"].append(nxt)
                    out = nxt.outputs[0]
                    nxt = _sole_consumer(out)
            act = _activation(nxt, out) if nxt is not None else None
            if act:
                plan["act"] = act
                plan["nodes"].append(nxt)
                out = nxt.outputs[0]
                nxt = _sole_consumer(out)
            # a large convolution's MaxPool: pooled band by band as the convolution computes them (Conv.fuses_max_pool)
            if node.op == "Conv" and nxt is not None and plan["residual"] is None and OPS["Conv"].fuses_max_pool(node, nxt):
                plan["pool"] = nxt
                plan["nodes"].append(nxt)
                out = nxt.outputs[0]
            if plan["nodes"]:
                plan["output"] = out
                self.fused[node] = plan
                self.absorbed.update(plan["nodes"])

    def _plan_concats(self) -> None:
        """A Concat whose parts are contiguous blocks of its output (nothing but 1s before the axis: batch 1 along
        channels) and each the sole result of an earlier step (a kernel or a fused loop, written where its variable
        points) runs in place: each part's variable points at its block of the output, so its producer writes it
        there and the Concat copies nothing (SqueezeNet's and Inception's modules; parts still read as themselves)."""
        if self.parent is not None:
            return  # a body's values may be written through its enclosing graph's targets
        taken: set = set()
        for node in self.g.nodes:
            if node.op != "Concat" or node in self.absorbed or not node.outputs or node.outputs[0] is None:
                continue
            out = node.outputs[0]
            axis = node.attr("axis") % out.rank if out.rank else 0
            if out.is_output or out.known is not None or not all(_is_one(d) for d in out.shape[:axis]):
                continue
            parts = list(node.inputs)
            if len(parts) < 2 or len(set(parts)) != len(parts) or not all(self._writes_in_place(v, taken) for v in parts):
                continue
            offset = 0
            for k, v in enumerate(parts):
                self.vars[v] = f"({self.var(out)} + {D.cpp(offset)})" if k else self.var(out)
                self.alias_of[v] = out
                offset = D.add(offset, v.numel)
                taken.add(v)
            self.absorbed.add(node)

    def _writes_in_place(self, v: Value, taken: set) -> bool:
        """Whether `v` could be written straight into a block of another buffer: computed by a kernel or a fused
        loop of this graph as its only result, not a graph input, output, constant or another value's view."""
        producer = v.producer
        if producer is None or v in taken or v.is_input or v.is_output or v.data is not None or v.known is not None:
            return False
        if v in self.vars or v in self.alias_of:
            return False
        # the last op of a kernel's epilogue: the kernel writes it; any other absorbed node's value is never written
        owner = next((k for k, plan in self.fused.items() if plan["output"] is v), None)
        if owner is None and producer in self.absorbed:
            return False
        owner = owner or producer
        if OPS[owner.op].kind not in ("kernel", "elementwise") or owner.op == "Concat":
            return False
        return len([o for o in owner.outputs if o is not None]) == 1

    # ---- steps --------------------------------------------------------------------------------------
    def build(self) -> None:
        self._plan_epilogues()
        self._plan_concats()
        group: list[Node] = []
        for node in self.g.nodes:
            if node in self.absorbed:
                continue  # computed in a kernel's epilogue
            outputs = [o for o in node.outputs if o is not None]
            if outputs and all(o.known is not None for o in outputs):
                continue  # computed at export time; filled in only where data ops read it
            opdef = OPS[node.op]
            if opdef.kind == "elementwise" and self._fusable(group, node):
                group.append(node)
                continue
            self._flush(group)
            group = [node] if opdef.kind == "elementwise" else []
            if opdef.kind == "alias":
                self._alias(node)
            elif opdef.kind == "control":
                self._control(node, opdef)
            elif opdef.kind != "elementwise":
                self._kernel(node, opdef)
        self._flush(group)
        written = {v for step in self.steps for v in step.writes}
        for value in self.g.outputs:
            target = self.targets.get(value)
            if value in written and target in (None, self.var(value)):
                self.output_vars[value] = self.var(value)
                continue
            # an input, a constant or an export-time value returned as is: copied into the caller's buffer
            out = target or self._unique("out_" + cname(value.name))
            self.output_vars[value] = out
            self._add(Step({"template": "copy", "src": self.var(value), "dst": out, "ctype": self.ctype(value.dtype),
                            "count": self.dim(value.numel)}, [], [value], []))

    def _fusable(self, group, node) -> bool:
        if not group:
            return True
        shape, out = group[-1].outputs[0].shape, node.outputs[0].shape
        return len(shape) == len(out) and all(D.same(a, b) for a, b in zip(shape, out))

    def _alias(self, node: Node) -> None:
        src, out = node.inputs[0], node.outputs[0]
        if out.is_output:  # a view cannot live in the caller's buffer: copy
            self._add(Step({"template": "copy", "src": self.var(src), "dst": self.var(out),
                            "ctype": self.ctype(out.dtype), "count": self.dim(out.numel)}, [node], [src], [out]))
        else:
            self.alias_of[out] = self.alias_of.get(src, src)
            self.vars[out] = self.var(src)
        for extra in node.outputs[1:]:  # Dropout's mask: all true at inference
            if extra is not None:
                self._add(Step({"template": "fill", "out": self.var(extra), "ctype": "bool",
                                "count": self.dim(extra.numel), "value": "true"}, [node], [], [extra]))

    def _kernel(self, node: Node, opdef) -> None:
        data_inputs = [v for i, v in enumerate(node.inputs) if v is not None and i not in opdef.shape_inputs]
        steps = opdef.emit(node, self)
        scratch = opdef.scratch(node)
        outputs = [o for o in node.outputs if o is not None]
        covered = [node]
        plan = self.fused.get(node)
        if plan:
            data_inputs += [v for v in (plan["bias"], plan["residual"]) if v is not None and v not in data_inputs]
            outputs = [plan["output"]]
            covered += plan["nodes"]
        for k, data in enumerate(steps):
            last = k == len(steps) - 1
            self._add(Step(data, covered, data_inputs, outputs if last else [],
                           scratch, node.inputs[0].dtype if node.inputs and node.inputs[0] is not None else np.float32))

    def _control(self, node: Node, opdef) -> None:
        """If/Loop/Scan: one step whose template renders the subgraphs' steps nested inside it."""
        data, scratch, bodies = opdef.emit(node, self)
        outputs = [o for o in node.outputs if o is not None]
        # a trip count or condition known at export time is inlined (cg.scalar), not read from memory; an outer
        # value counts as read when a body's step reads it (not when it only gave a body a shape)
        used = {v for b in bodies for st in b.cg.steps for v in st.reads}
        reads = [v for k, v in enumerate(node.inputs) if v is not None
                 and not (k in opdef.scalar_inputs and (v.data is not None or v.known is not None))]
        reads += [v for v in node.outer_reads if v in used]
        self._add(Step(data, [node], reads, outputs, scratch, np.dtype(np.uint8), bodies))

    def body(self, graph: Graph, targets: list) -> Body:
        """Generate and plan `graph`, a subgraph of a node of this graph, whose outputs are written through
        the pointers named in `targets` (None: the body gets a pointer of its own, declared by the caller)."""
        child = CodeGen(graph, self.name, parent=self)
        for value, target in zip(graph.outputs, targets):
            if target is None:
                continue
            child.targets[value] = target
            computed = (value.producer is not None and graph.owns(value) and not value.is_input
                        and value.data is None and value.known is None)
            if computed and value not in child.vars:
                child.vars[value] = target  # the producing step writes straight through the pointer
        child.build()
        buffers, slot_sizes = plan(child, self.example_env)
        offsets, total = [], 0
        for size in slot_sizes:
            offsets.append(total)
            total = D.add(total, size)
        planned = {b.var for b in buffers}
        return Body(child, [child.var(v) for v in graph.inputs], [child.output_vars[v] for v in graph.outputs],
                    total, [{"var": b.var, "ctype": b.ctype, "offset": D.cpp(offsets[b.slot])} for b in buffers],
                    [{"var": var, "ctype": self.ctype(node.inputs[0].dtype)
                      if node.inputs and node.inputs[0] is not None else "uint8_t"}
                     for node, var in child.scratch_vars.items() if var not in planned])

    def _add(self, step: Step) -> None:
        for value in step.reads:
            if value.data is None:
                self.var(value)  # materializes known values (their fill steps come first)
        self.steps.extend(self.fills)
        self.fills = []
        self.steps.append(step)

    def _flush(self, group: list[Node]) -> None:
        if group:
            self._add(self._fuse(group))

    def _fuse(self, group: list[Node]) -> Step:
        """One loop nest computing every node of `group` per output element."""
        in_group = {o for n in group for o in n.outputs if o is not None}
        shape = group[-1].outputs[0].shape
        externals: dict[Value, object] = {}   # value -> broadcast shape
        for node in group:
            for value, operand_shape in zip(node.inputs, OPS[node.op].operand_shapes(node)):
                if value is None or operand_shape is None or value in in_group:
                    continue
                if value.data is not None and value.data.size == 1:
                    continue  # inlined as a literal
                externals.setdefault(value, operand_shape)
        stored = [o for n in group for o in n.outputs if o is not None and (
            o.is_output or any(c not in group for c in o.consumers))]
        loops, strides = _collapse(shape, list(externals.values()))
        locals_, statements = {}, []
        index_of = {v: _index(s) for v, s in zip(externals, strides[:-1])}
        out_index = _index(strides[-1])
        for node in group:
            opdef = OPS[node.op]
            args = []
            for value, operand_shape in zip(node.inputs, opdef.operand_shapes(node)):
                if value is None or operand_shape is None:
                    args.append(None)
                elif value in locals_:
                    args.append(locals_[value])
                elif value.data is not None and value.data.size == 1:
                    args.append(literal(value.data.reshape(-1)[0], value.dtype))
                else:
                    args.append(f"{self.var(value)}[{index_of[value]}]")
            out = node.outputs[0]
            local = f"t{len(statements)}"
            locals_[out] = local
            emitter = self
            if opdef.widens and any(v is not None and v.dtype in dtypes.WIDENED for v in node.inputs + [out]):
                # float16: computed in float32, rounded once when stored in the op's local (as ONNX Runtime)
                args = [a if a is None or v.dtype not in dtypes.WIDENED else f"{_Widened.ctype(None, v.dtype)}({a})"
                        for a, v in zip(args, node.inputs)]
                emitter = _Widened(self)
            statements.append({"ctype": self.ctype(out.dtype), "name": local,
                               "expr": opdef.expr(node, args, emitter),
                               "comment": c_text(f"{node.op} {node.name}")})
        data = {"template": "elementwise", "loops": [self.dim(n) for n in loops], "statements": statements,
                "stores": [{"var": self.var(v), "index": out_index, "local": locals_[v]} for v in stored],
                "total": self.dim(D.prod(shape)),
                "parallel_at": _PARALLEL_COSTLY if any(getattr(OPS[n.op], "costly", False) for n in group)
                else _PARALLEL_PLAIN}
        # a loop known to be short gets no parallel region at all (plain code, nothing to decide at run time)
        total = D.prod(shape)
        data["parallel"] = not (isinstance(total, (int, np.integer)) and total < data["parallel_at"])
        # the threads share the outer loops; the innermost stays a plain loop, which vectorises (a collapsed
        # one recomputes its indices per element: 3-4x slower), unless the outer loops are too few to share
        outer = D.prod(loops[:-1])
        shared = len(loops) if isinstance(outer, (int, np.integer)) and outer < 16 else len(loops) - 1
        # several shared loops run as one flat index i_flat over their product; each loop index is recovered from it
        data["collapse"] = shared
        data["flat_extent"] = self.dim(D.prod(loops[:shared]))
        data["flat_index"] = []
        for k in range(shared):
            inner = D.prod(loops[k + 1:shared])
            expr = "i_flat" if inner == 1 else f"i_flat / ({self.dim(inner)})"
            data["flat_index"].append((f"i{k}", expr if k == 0 else f"{expr} % ({self.dim(loops[k])})"))
        return Step(data, list(group), list(externals), stored)


# Elements from which a fused loop runs on all threads. Plain arithmetic (~0.1 ns an element) is bound by memory
# bandwidth and pays from 64 K elements; a loop calling exp/erf/sin... (1-15 ns an element) from 4 K.
_PARALLEL_PLAIN = 65536
_PARALLEL_COSTLY = 4096


class _Widened:
    """The code generator as an elementwise op's `expr` sees it when its narrow floats compute wider."""

    def __init__(self, cg):
        self._cg = cg

    def ctype(self, dtype) -> str:
        row = dtypes.by_name(dtype)
        return dtypes.ctype(row.compute) if row.compute else row.ctype

    def __getattr__(self, name):
        return getattr(self._cg, name)


_EPILOGUE_KERNELS = {"Conv", "Gemm", "MatMul"}


def _sole_consumer(value: Value):
    """The one node reading `value` (once), when nothing else (a graph output, another node) needs it."""
    if value.is_output or len(value.consumers) != 1:
        return None
    return value.consumers[0]


def _same_shape(a: Value, b: Value) -> bool:
    return a.dtype == b.dtype and a.rank == b.rank and all(D.same(x, y) for x, y in zip(a.shape, b.shape))


def _is_one(d) -> bool:
    return not isinstance(d, D.Sym) and d == 1


def _add_kind(kernel: Node, other: Value, out: Value, order: dict):
    """How the other operand of an Add after `kernel` enters the epilogue: "bias" (a constant per output
    column, or per channel for Conv), "residual" (a tensor shaped like the output, computed before the
    kernel runs) or None (not fusable)."""
    if other is None or other is out or other.dtype != out.dtype or other.known is not None:
        return None
    if other.data is not None and other.rank <= out.rank:
        shape = [1] * (out.rank - other.rank) + list(other.shape)
        if kernel.op == "Conv":
            per_channel = all(_is_one(d) for i, d in enumerate(shape) if i != 1)
            if per_channel and (kernel.input(2) is None or kernel.input(2).data is not None):
                return "bias"
        elif kernel.op == "MatMul" or kernel.input(2) is None:
            if all(_is_one(d) for d in shape[:-1]) and (other.data.size == 1 or D.same(shape[-1], out.shape[-1])):
                return "bias"
    if _same_shape(other, out):
        producer = other.producer
        if producer is None or order.get(producer, len(order)) < order[kernel]:
            return "residual"
    return None


def _activation(node: Node, x: Value):
    """(Act name, p0, p1) when `node` is an activation of x the GEMM epilogue implements exactly."""
    if node.outputs[0] is None or not _same_shape(node.outputs[0], x):
        return None
    if node.op == "Max" and len(node.inputs) == 2 and x in node.inputs:  # np.maximum(h, 0): a clip from below
        c = node.inputs[1] if node.inputs[0] is x else node.inputs[0]
        if c is not x and c.data is not None and c.data.size == 1 and c.dtype == x.dtype:
            return ("Clip", float(c.data.reshape(-1)[0]), float("inf"))
        return None
    if node.inputs[0] is not x or any(v is x for v in node.inputs[1:]):
        return None
    if node.op == "Relu":
        return ("Relu", None, None)
    if node.op in ("Sigmoid", "HardSwish", "Tanh"):
        return (node.op, None, None)
    if node.op == "LeakyRelu":
        return ("LeakyRelu", float(node.attr("alpha", 0.01)), None)
    if node.op == "HardSigmoid":
        return ("HardSigmoid", float(node.attr("alpha", 0.2)), float(node.attr("beta", 0.5)))
    if node.op == "Clip":
        if node.opset < 11:
            lo, hi = node.attr("min"), node.attr("max")
        else:
            bounds = []
            for i in (1, 2):
                v = node.input(i)
                if v is not None and (v.data is None or v.data.size != 1):
                    return None
                bounds.append(None if v is None else float(v.data.reshape(-1)[0]))
            lo, hi = bounds
        return ("Clip", float("-inf") if lo is None else float(lo), float("inf") if hi is None else float(hi))
    return None


def _collapse(shape, operand_shapes):
    """Merge adjacent loop axes that every operand walks the same way; returns loop extents and, per
    operand (then the output), element strides per loop (0 where it broadcasts)."""
    rank = len(shape)
    aligned = [[1] * (rank - len(s)) + list(s) for s in operand_shapes] + [list(shape)]

    def is_one(d):
        return not isinstance(d, D.Sym) and d == 1

    axes = [a for a in range(rank) if not is_one(shape[a])]
    kinds = {a: tuple("b" if is_one(s[a]) else "f" for s in aligned) for a in axes}
    merged: list[list[int]] = []
    for a in axes:
        if merged and kinds[merged[-1][-1]] == kinds[a]:
            merged[-1].append(a)
        else:
            merged.append([a])
    loops = [D.prod([shape[a] for a in group]) for group in merged]
    strides = []
    for s in aligned:
        contiguous = [D.prod(s[a + 1:]) for a in range(rank)]
        strides.append([0 if is_one(s[group[0]]) else contiguous[group[-1]] for group in merged])
    return loops, strides


def _index(strides) -> str:
    parts = []
    for i, s in enumerate(strides):
        if isinstance(s, D.Sym) or s != 0:
            parts.append(f"i{i}" if not isinstance(s, D.Sym) and s == 1 else f"i{i} * {D.cpp(s)}")
    return " + ".join(parts) or "0"
