"""The native backend's view of an ONNX graph: values with dtypes, symbolic shapes and (for small
integer tensors that only describe shapes) known contents. Built by running each op's shape rule."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .. import dtypes
from ..errors import ExporterError, InternalError, UnsupportedError
from ..passes import NATIVE_PASSES, optimize
from . import dims as D
from . import runtime_values
from .expand import expand_functions, op_key



@dataclass(eq=False)
class Value:
    name: str
    dtype: np.dtype
    shape: list
    data: np.ndarray | None = None   # constant contents (initializers)
    known: list | None = None        # flat contents as Dims, for shape arithmetic (Shape -> Reshape chains)
    producer: "Node | None" = None
    consumers: list = field(default_factory=list)
    is_input: bool = False
    is_output: bool = False
    # a small integer graph input ops may read as shapes at run time: its elements as variables, and who
    # reads them how (see runtime_values)
    runtime: list | None = None
    uses: dict = field(default_factory=dict)
    # contents computed from values read at run time, as expressions of their element variables (the node
    # still computes the data; ops read these as shapes, see runtime_values)
    computed: list | None = None
    # a float computed from run-time integer values (a Cast of them): its numbers as double bits
    real: list | None = None

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def numel(self):
        return D.prod(self.shape)

    def known_ints(self):
        """Contents as Python ints/Syms when known at generation time (constants or shape arithmetic)."""
        if self.known is not None:
            return list(self.known)
        if self.runtime is not None or self.computed is not None:
            return runtime_values.contents(self)  # while shape-arithmetic rules run (see runtime_values)
        if self.data is not None and self.data.dtype.kind in "iub":
            return [int(v) for v in self.data.reshape(-1)]
        return None

    def known_floats(self):
        return None if self.data is None else [float(v) for v in self.data.reshape(-1)]


@dataclass(eq=False)
class Node:
    op: str
    name: str
    inputs: list
    outputs: list
    attrs: dict
    opset: int
    domain: str = ""
    # control flow (If/Loop/Scan): subgraph attribute name -> its Graph, and the values of enclosing
    # scopes the subgraphs read (ONNX lexical scoping), which the node reads as much as its inputs
    bodies: dict = field(default_factory=dict)
    outer_reads: list = field(default_factory=list)
    # (a, b, what): sizes that must be equal at run time, from values read then (Split's sizes sum to the axis)
    checks: list = field(default_factory=list)
    # (output index, axis, upper bound): sizes known only once the node ran (NonZero's count), see
    # runtime_values.result_dims
    results: list = field(default_factory=list)

    def attr(self, key, default=None):
        return self.attrs.get(key, default)

    def input(self, i):
        return self.inputs[i] if i < len(self.inputs) else None

    def describe(self) -> str:
        return f"{self.op} node '{self.name}'"


def _attr_value(a: onnx.AttributeProto):
    value = helper.get_attribute_value(a)
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, onnx.TensorProto):
        return numpy_helper.to_array(value)
    if isinstance(value, list) and value and isinstance(value[0], bytes):
        return [v.decode() for v in value]
    return value


def constants_to_initializers(model: onnx.ModelProto) -> None:
    """Constant nodes become initializers, so every known tensor lives in one place."""
    graph, kept = model.graph, []
    for node in graph.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            if len(node.attribute) != 1:
                raise UnsupportedError(f"Constant node '{node.name}' has {len(node.attribute)} value attributes "
                                       "(exactly one is needed)")
            attr = node.attribute[0]
            value = _attr_value(attr)
            if attr.name in ("value_float", "value_int"):
                value = np.asarray(value, np.float32 if attr.name == "value_float" else np.int64)
            elif attr.name in ("value_floats", "value_ints"):
                value = np.asarray(value, np.float32 if attr.name == "value_floats" else np.int64)
            graph.initializer.append(numpy_helper.from_array(np.asarray(value), node.output[0]))
        else:
            kept.append(node)
    del graph.node[:]
    graph.node.extend(kept)


def initializer_inputs_to_constants(model: onnx.ModelProto) -> None:
    """Graph inputs that also have an initializer (every weight, in IR version 3 files such as the classic
    model zoo) are inputs with a default value; like ONNX Runtime with its optimisations on, they are
    taken as constants, so weights and shapes fold at export time and the program's signature lists only
    the true inputs."""
    graph = model.graph
    initialized = {t.name for t in graph.initializer}
    true_inputs = [vi for vi in graph.input if vi.name not in initialized]
    if len(true_inputs) != len(graph.input):
        del graph.input[:]
        graph.input.extend(true_inputs)


class Graph:
    """Values and nodes in execution order, with every shape inferred.

    A control-flow node's subgraphs are Graphs too (`Graph.body`), built with the node: their formal inputs
    get the shapes the node feeds them, and a name a body does not define resolves in the enclosing graph
    (ONNX lexical scoping); such values are the body's `outer_refs`. Bodies share the root's dynamic dims
    and run-time size checks."""

    def __init__(self, model: onnx.ModelProto, name: str = "model"):
        from .ops import OPS
        model = onnx.ModelProto.FromString(model.SerializeToString())  # never edit the caller's model
        expand_functions(model, OPS)  # ops defined as functions of others (Attention, Swish...) become those
        constants_to_initializers(model)
        initializer_inputs_to_constants(model)
        optimize(model, NATIVE_PASSES)
        self.name = name
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 21)
        self.outer: Graph | None = None
        self.dim_names: list[str] = []
        # (a, b, what, guard): sizes the generated code assumes equal although only known at run time (a dynamic
        # dim against a fixed size or another dim); run() checks them (where guard != 0) before computing
        self.constraints: list[tuple] = []
        # shape-defining inputs read at run time (runtime_values): their element variables, and the dims
        # that follow from them (name, expression, node, output, axis) in graph order
        self.value_syms: set = set()
        self.derived: list[tuple] = []
        # computed run-time values read as shapes: their checks (runtime_values.record_checks), and the
        # marked inputs by element variable
        self.value_checks: list[dict] = []
        self.value_checked: set = set()
        self.runtime_inputs: dict = {}
        self.result_dims: list[str] = []  # dims a node sets when it runs (runtime_values.result_dims)
        self._unknown: set = set()  # outputs of unsupported nodes
        self._build(model.graph, None)

    @classmethod
    def body(cls, proto: onnx.GraphProto, parent: "Graph", owner: Node, input_types: list) -> "Graph":
        """The subgraph `proto` of node `owner` in `parent`, its inputs typed [(dtype, shape)] by the node.
        Raises UnsupportedError (with `.unsupported`, {op: [node names]}) when it has unsupported nodes."""
        model = helper.make_model(proto, opset_imports=[helper.make_opsetid("", parent.opset)])
        constants_to_initializers(model)
        # small constants of enclosing scopes (shapes, axes, flags) join the body's own, so that the passes fold
        # what they feed there too (an If choosing sizes, a Split of a constant shape)
        g, defined = model.graph, set()
        defined.update(vi.name for vi in g.input)
        defined.update(t.name for t in g.initializer)
        defined.update(o for n in g.node for o in n.output)
        for name in dict.fromkeys([i for n in g.node for i in n.input] + [o.name for o in g.output]):
            value = parent._find(name) if name and name not in defined else None
            if value is not None and value.data is not None and value.data.size <= 64:
                g.initializer.append(numpy_helper.from_array(value.data, name))
        optimize(model, NATIVE_PASSES)
        g = cls.__new__(cls)
        g.name, g.opset, g.outer = f"{parent.name}/{owner.name}/{proto.name}", parent.opset, parent
        g.dim_names, g.constraints, g._unknown = parent.dim_names, parent.constraints, parent._unknown
        g.value_syms, g.derived = parent.value_syms, parent.derived
        g.value_checks, g.value_checked = parent.value_checks, parent.value_checked
        g.runtime_inputs = parent.runtime_inputs
        g.result_dims = parent.result_dims
        g._build(model.graph, input_types, owner)
        return g

    def lookup(self, name: str) -> Value:
        """The value called `name` here or, for a body, in an enclosing scope (then recorded in outer_refs)."""
        value = self.values.get(name)
        if value is not None:
            return value
        if self.outer is not None:
            value = self.outer.lookup(name)
            if value not in self._outer_set:
                self._outer_set.add(value)
                self.outer_refs.append(value)
            return value
        raise ExporterError(f"the graph reads '{name}', which no node, input or initializer defines")

    def _fold(self, proto: onnx.NodeProto, node: Node) -> bool:
        """Evaluate a node whose inputs are all small constants; True when its outputs became constants."""
        from onnx.reference import ReferenceEvaluator

        from ..passes import _FOLD_MIN_BYTES, _NEVER_FOLD
        inputs = [v for v in node.inputs if v is not None]
        if (not inputs or proto.op_type in _NEVER_FOLD or any(v.data is None or v.data.size > 4096 for v in inputs)
                or any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in proto.attribute)):
            return False
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                results = ReferenceEvaluator(proto, opsets={"": self.opset}).run(
                    None, {name: v.data for name, v in zip(proto.input, node.inputs) if name})
        except Exception:  # noqa: BLE001 (left to the op's own rules, which say what is wrong)
            return False
        if any(np.asarray(r).nbytes > max(_FOLD_MIN_BYTES, 4 * sum(v.data.nbytes for v in inputs)) for r in results):
            return False  # the model does not grow by folding (an Expand of a scalar stays a node)
        for name, array in zip(proto.output, results):
            if name:
                array = np.asarray(array)
                self.values[name] = Value(name, array.dtype, list(array.shape), data=array)
        return True

    def _find(self, name: str) -> Value | None:
        """The value called `name` here or in an enclosing scope, without recording a read."""
        scope = self
        while scope is not None and name not in scope.values:
            scope = scope.outer
        return scope.values[name] if scope is not None else None

    def owns(self, value: Value) -> bool:
        return value not in self._outer_set

    def _build(self, g: onnx.GraphProto, input_types, owner: Node | None = None) -> None:
        from .ops import OPS
        self.values: dict[str, Value] = {}
        self._widened_names: set = set()
        self.nodes: list[Node] = []
        self.outer_refs: list[Value] = []
        self._outer_set: set = set()
        for t in g.initializer:
            array = numpy_helper.to_array(t)
            self.values[t.name] = Value(t.name, array.dtype, list(array.shape), data=array)
        self.inputs = []
        if input_types is not None:  # a body: the node says what each formal input holds
            if len(g.input) != len(input_types):
                raise UnsupportedError(f"{owner.describe()}: its subgraph '{g.name}' has {len(g.input)} inputs; "
                                       f"the {owner.op} feeds it {len(input_types)}")
        for k, vi in enumerate(g.input):
            if vi.name in self.values:
                continue
            if input_types is None:
                value = self._graph_input(vi)
                runtime_values.mark_input(value)
                self.value_syms |= runtime_values.value_names(value)
                self.runtime_inputs.update({name: value for name in runtime_values.value_names(value)})
            else:
                dtype, shape = input_types[k]
                value = Value(vi.name, np.dtype(dtype), list(shape), is_input=True)
            self.values[vi.name] = value
            self.inputs.append(value)
        unsupported: dict[str, list[str]] = {}
        unknown = self._unknown
        queue = list(g.node)
        while queue:
            proto = queue.pop(0)
            widened = self._widened(proto) or self._batchnorm_training(proto)
            if widened:
                queue[:0] = widened
                continue
            key = op_key(proto.domain, proto.op_type)  # ops of other domains: "ai.onnx.ml.Binarizer"
            node = Node(key, proto.name or f"{proto.op_type}_{len(self.nodes)}",
                        [self.lookup(i) if i else None for i in proto.input], [],
                        {a.name: _attr_value(a) for a in proto.attribute}, self.opset, proto.domain)
            opdef = OPS.get(key)
            if opdef is None:
                unsupported.setdefault(key, []).append(node.name)
                self._unknown_outputs(node, proto, unknown)
                continue
            if any(v is not None and v in unknown for v in node.inputs):
                self._unknown_outputs(node, proto, unknown)  # downstream of an unsupported node: no shapes
                continue
            if self.outer is not None and self._fold(proto, node):
                continue  # a body's node over constants only (the passes leave those that make outputs)
            # placeholders, so that checks can see which outputs the node has
            node.outputs = [Value(n, np.dtype(np.float32), []) if n else None for n in proto.output]
            if opdef.kind == "control":
                try:
                    opdef.build_bodies(node, self)
                except ExporterError as exc:
                    inner = getattr(exc, "unsupported", None)
                    if inner is None:  # say where: the message names a node of the subgraph
                        raise type(exc)(f"{node.describe()}, in a subgraph: {exc}") from None
                    for op, names in inner.items():  # reported with the model's other unsupported ops
                        unsupported.setdefault(op, []).extend(f"{node.name}/{n}" if n else node.name for n in names)
                    self._unknown_outputs(node, proto, unknown)
                    continue
                reads = {id(v) for v in node.inputs if v is not None}
                for body in node.bodies.values():
                    for v in body.outer_refs:
                        if id(v) not in reads:
                            reads.add(id(v))
                            node.outer_reads.append(v)
                if any(v in unknown for v in node.outer_reads):
                    self._unknown_outputs(node, proto, unknown)
                    continue
            # Only check() refuses (returns a reason) and an UnsupportedError (e.g. a shape input computed at
            # run time) is a refusal too; any other exception is a bug of ours and says so.
            try:
                problem = opdef.check(node)
                if not problem:
                    _check_inner_dims(node)
                    types = opdef.infer(node)
                    with runtime_values.propagating():
                        known = opdef.value(node)
                    if len(types) < len([n for n in proto.output if n]):
                        problem = "more outputs than supported"
            except UnsupportedError as exc:
                problem = str(exc)
            except ExporterError as exc:  # the model is wrong: name the node unless the message does
                if node.name in str(exc):
                    raise
                raise type(exc)(f"{node.describe()}: {exc}") from exc
            except Exception as exc:  # noqa: BLE001
                raise InternalError(f"{node.describe()}: exporter's {proto.op_type} rule failed with "
                                    f"{type(exc).__name__}: {exc} (a bug in exporter; please report it with the "
                                    "model)") from exc
            if problem:
                unsupported.setdefault(f"{proto.op_type} ({problem})", []).append(node.name)
                self._unknown_outputs(node, proto, unknown)
                continue
            runtime_values.record_checks(self, node)
            types = runtime_values.derive(self, node, types)
            types = runtime_values.result_dims(self, node, types)
            computed = runtime_values.split_computed(known, whole=opdef.kind == "control")
            folded = opdef.constant(node)
            if folded is None and known is None:
                folded = _fold_shape_arithmetic(node, proto, types)
            if folded is not None:  # computed here, stored with the weights: no step at run time
                for out_name, array in zip(proto.output, folded):
                    if out_name:
                        self.values[out_name] = Value(out_name, array.dtype, list(array.shape), data=array)
                continue
            node.outputs = []
            for k, out_name in enumerate(proto.output):
                if not out_name:
                    node.outputs.append(None)
                    continue
                dtype, shape = types[k]
                value = Value(out_name, np.dtype(dtype), list(shape), producer=node,
                              known=known[k] if known else None, computed=computed[k] if computed else None)
                if node.op == "Cast" and value.dtype.kind == "f":
                    value.real = runtime_values.real_cast(node.inputs[0])
                self.values[out_name] = value
                node.outputs.append(value)
            for v in node.inputs + node.outer_reads:
                # a value of an enclosing scope is read by the control-flow node there, not by this body's node
                if v is not None and self.owns(v):
                    v.consumers.append(node)
            self.nodes.append(node)
            self._add_constraints(node, opdef)
            for a, b, what in node.checks:
                self.constraints.append((a, b, f"{node.describe()}: {what}", None))
        if unsupported:
            raise _unsupported(unsupported)
        self.outputs = []
        names = [vi.name for vi in g.output]
        if len(set(names)) != len(names):
            raise ExporterError(f"the graph output names are not unique: {sorted({n for n in names if names.count(n) > 1})}")
        for vi in g.output:
            value = self.lookup(vi.name)
            if self.owns(value):  # a body may return an outer value as is: it stays the outer graph's
                value.is_output = True
            self.outputs.append(value)
        if self.outer is None and runtime_values.check_results(self):
            raise _unsupported(runtime_values.check_results(self))
        for value in list(self.inputs) + self.outputs:
            if value.dtype not in dtypes.NATIVE:
                raise UnsupportedError(f"{'input' if value.is_input else 'output'} '{value.name}' has dtype "
                                       f"{value.dtype}; the native backend supports {dtypes.listing(dtypes.NATIVE)}")

    def _widened(self, proto: onnx.NodeProto) -> list | None:
        """A float16 node of ops.WIDENED_KERNELS as Cast-to-float32, the node in float32 and Cast-back protos
        (see WIDENED_KERNELS); None for any other node."""
        from .ops import BF16_WIDENED_KERNELS, WIDENED_KERNELS
        if proto.domain not in ("", "ai.onnx") or proto.op_type not in WIDENED_KERNELS:
            return None
        inputs = [self._find(i) if i else None for i in proto.input]
        narrow = {v.name: v.dtype for v in inputs if v is not None and v.dtype in dtypes.WIDENED}
        if not inputs or inputs[0] is None or inputs[0].name not in narrow:
            return None
        if inputs[0].dtype == np.dtype("bfloat16") and (proto.op_type not in BF16_WIDENED_KERNELS or (
                proto.op_type in ("Softmax", "LogSoftmax") and self.opset < 13)):
            return None  # (see BF16_WIDENED_KERNELS) ReduceSum runs on bfloat16, the others refuse it
        to = onnx.TensorProto.FLOAT
        fresh = self._fresh

        if proto.op_type in ("Softmax", "LogSoftmax") and self.opset >= 13:
            return self._softmax_steps(proto, fresh)
        casts_in = {n: fresh(n) for n in narrow}
        wide = onnx.NodeProto()
        wide.CopyFrom(proto)
        del wide.input[:], wide.output[:]
        wide.input.extend(casts_in.get(i, i) for i in proto.input)
        wide.output.extend(fresh(o) if o else "" for o in proto.output)
        base = proto.name or proto.op_type
        narrow_type = helper.np_dtype_to_tensor_dtype(inputs[0].dtype)
        return ([helper.make_node("Cast", [n], [c], name=f"{base}_to_float32", to=to) for n, c in casts_in.items()]
                + [wide]
                + [helper.make_node("Cast", [w], [o], name=f"{base}_rounded", to=narrow_type)
                   for w, o in zip(wide.output, proto.output) if o])

    def _fresh(self, name: str, suffix: str = "__f32") -> str:
        """A value name of the graph's own not yet taken (for nodes the importer writes)."""
        k, out = 0, f"{name}{suffix}"
        while self._find(out) is not None or out in self._widened_names:
            k, out = k + 1, f"{name}{suffix}_{k + 1}"
        self._widened_names.add(out)
        return out

    def _batchnorm_training(self, proto: onnx.NodeProto) -> list | None:
        """BatchNormalization in training mode (opset 14+) as the statistics of the batch (two ReduceMeans over
        every axis but the channels), the inference-mode node over them, and the running mean and variance
        updated by `momentum`; None for any other node."""
        if proto.domain not in ("", "ai.onnx") or proto.op_type != "BatchNormalization" or self.opset < 14:
            return None
        attrs = {a.name: helper.get_attribute_value(a) for a in proto.attribute}
        if not attrs.get("training_mode", 0):
            return None
        x = self._find(proto.input[0])
        if x is None or x.rank < 2 or len(proto.input) < 5:
            return None  # the op rule reports it
        fresh = lambda n: self._fresh(n, "__bn")  # noqa: E731
        y, base, dtype = proto.output[0], proto.name or "BatchNormalization", x.dtype
        axes = [0] + list(range(2, x.rank))

        def constant(name, array):
            name = fresh(name)
            self.values[name] = Value(name, array.dtype, list(array.shape), data=array)
            return name

        def reduce_mean(src, dst, tag):
            if self.opset >= 18:
                return helper.make_node("ReduceMean", [src, constant(f"{y}_axes", np.array(axes, np.int64))], [dst],
                                        name=f"{base}_{tag}", keepdims=1)
            return helper.make_node("ReduceMean", [src], [dst], name=f"{base}_{tag}", keepdims=1, axes=axes)

        mean_k, centred, square, var_k, mean, var = (fresh(f"{y}_{t}") for t in
                                                     ("batch_mean", "centred", "square", "batch_var", "mean", "var"))
        flat = constant(f"{y}_channels", np.array([-1], np.int64))
        steps = [reduce_mean(proto.input[0], mean_k, "mean"),
                 helper.make_node("Sub", [proto.input[0], mean_k], [centred], name=f"{base}_centre"),
                 helper.make_node("Mul", [centred, centred], [square], name=f"{base}_square"),
                 reduce_mean(square, var_k, "var"),
                 helper.make_node("Reshape", [mean_k, flat], [mean], name=f"{base}_mean_flat"),
                 helper.make_node("Reshape", [var_k, flat], [var], name=f"{base}_var_flat"),
                 helper.make_node("BatchNormalization", list(proto.input[:3]) + [mean, var], [y], name=base,
                                  epsilon=attrs.get("epsilon", 1e-5))]
        momentum = float(attrs.get("momentum", 0.9))
        keep, take = constant(f"{y}_momentum", np.array(momentum, dtype)), constant(f"{y}_rest", np.array(1 - momentum, dtype))
        for k, (running, batch) in enumerate(((proto.input[3], mean), (proto.input[4], var)), start=1):
            if len(proto.output) > k and proto.output[k]:
                kept, taken = fresh(f"{proto.output[k]}_kept"), fresh(f"{proto.output[k]}_taken")
                steps += [helper.make_node("Mul", [running, keep], [kept], name=f"{base}_keep{k}"),
                          helper.make_node("Mul", [batch, take], [taken], name=f"{base}_take{k}"),
                          helper.make_node("Add", [kept, taken], [proto.output[k]], name=f"{base}_running{k}")]
        return steps

    def _softmax_steps(self, proto: onnx.NodeProto, fresh) -> list:
        """A float16 (Log)Softmax as the reference computes it, each step rounded to float16: x - max(x), exp,
        a sum (float32 inside, one rounding), then a divide (log and subtract): one float32 kernel rounded once
        is more exact and differs by two ulps, outside the node tests' tolerance."""
        axis = next((a.i for a in proto.attribute if a.name == "axis"), -1)
        axes = fresh(f"{proto.input[0]}_axes")
        self.values[axes] = Value(axes, np.dtype(np.int64), [1], data=np.array([axis], np.int64))
        x, y = proto.input[0], proto.output[0]
        peak, shifted, exp, total = (fresh(f"{y}_{s}") for s in ("max", "shifted", "exp", "sum"))
        base = proto.name or proto.op_type
        max_axes = {"inputs": [x, axes]} if self.opset >= 18 else {"inputs": [x], "axes": [axis]}
        steps = [helper.make_node("ReduceMax", max_axes.pop("inputs"), [peak], name=f"{base}_max", keepdims=1,
                                  **max_axes),
                 helper.make_node("Sub", [x, peak], [shifted], name=f"{base}_shift"),
                 helper.make_node("Exp", [shifted], [exp], name=f"{base}_exp"),
                 helper.make_node("ReduceSum", [exp, axes], [total], name=f"{base}_sum", keepdims=1)]
        if proto.op_type == "Softmax":
            return steps + [helper.make_node("Div", [exp, total], [y], name=base)]
        log = fresh(f"{y}_log")
        return steps + [helper.make_node("Log", [total], [log], name=f"{base}_log"),
                        helper.make_node("Sub", [shifted, log], [y], name=base)]

    def _add_constraints(self, node: Node, opdef) -> None:
        """Run-time checks for the size assumptions of broadcasting (two non-1 sizes on one axis are taken
        as equal), MatMul/Gemm (the summed dimension) and Concat (the other axes): with a dynamic dim
        involved, a mismatch would otherwise make the generated loops read past an input."""
        out = next((o for o in node.outputs if o is not None), None)
        # an empty output reads nothing, so a mismatch there is harmless (and a quotient of sizes may be 0)
        guard = out.numel if out is not None else 1

        def equal(a, b, what):
            if D.same(a, b):
                return
            if not isinstance(a, D.Sym) and not isinstance(b, D.Sym):
                raise ExporterError(f"{node.describe()}: {what} disagree ({a} vs {b})")
            if all(not (D.same(a, x) and D.same(b, y)) for x, y, _, _ in self.constraints):
                self.constraints.append((a, b, f"{node.describe()}: {what}", guard))

        def broadcast(shapes, what):
            rank = max((len(sh) for sh in shapes), default=0)
            for axis in range(1, rank + 1):
                sizes = [sh[-axis] for sh in shapes if len(sh) >= axis]
                full = [d for d in sizes if isinstance(d, D.Sym) or int(d) != 1]
                for d in full[1:]:
                    equal(full[0], d, f"{what} (axis -{axis})")

        data = [v for i, v in enumerate(node.inputs) if v is not None and i not in opdef.shape_inputs]
        if opdef.kind == "elementwise" and len(data) > 1:
            shapes = [sh for sh in opdef.operand_shapes(node) if sh is not None]  # as the fused loop reads them
            if len(shapes) > 1:
                broadcast(shapes, "broadcast sizes")
        elif node.op == "MatMul" and len(data) == 2 and data[0].rank and data[1].rank:
            a, b = data
            equal(a.shape[-1], b.shape[0] if b.rank == 1 else b.shape[-2], "the inner dimensions")
            if a.rank > 2 and b.rank > 2:
                broadcast([a.shape[:-2], b.shape[:-2]], "batch sizes")
        elif node.op == "Gemm" and len(data) >= 2:
            a, b = data[:2]
            equal(a.shape[0] if node.attr("transA", 0) else a.shape[-1],
                  b.shape[-1] if node.attr("transB", 0) else b.shape[0], "the inner dimensions")
        elif opdef.kind == "alias" and data and node.outputs and node.outputs[0] is not None:
            # a view (Reshape, Flatten, ...): its consumers read as many elements as the output has
            equal(data[0].numel, node.outputs[0].numel, "the element counts of input and output")
        elif node.op == "LayerNormalization" and len(data) > 1 and data[0].rank:
            x, axis = data[0], node.attr("axis", -1) % data[0].rank
            for v in data[1:]:
                broadcast([x.shape[axis:], v.shape], "the normalized shape and its scale/bias")
        elif node.op == "BatchNormalization" and len(data) > 1 and data[0].rank > 1:
            for v in data[1:]:
                if v.rank == 1:
                    equal(data[0].shape[1], v.shape[0], "the channels and the per-channel parameters")
        elif node.op == "Concat" and len(data) > 1:
            axis = node.attr("axis") % data[0].rank if data[0].rank else 0
            for v in data[1:]:
                for k, (x, y) in enumerate(zip(data[0].shape, v.shape)):
                    if k != axis:
                        equal(x, y, f"sizes on axis {k}")

    def _graph_input(self, vi: onnx.ValueInfoProto) -> Value:
        t = vi.type.tensor_type
        if not vi.type.HasField("tensor_type"):
            raise UnsupportedError(f"input '{vi.name}' is not a tensor")
        dtype = helper.tensor_dtype_to_np_dtype(t.elem_type)
        shape = []
        for axis, d in enumerate(t.shape.dim):
            # a negative or absurd declared size is an error, not a dynamic dim (or an overflow later)
            if d.HasField("dim_value") and not 0 <= d.dim_value <= 2**31 - 1:
                raise ExporterError(f"input '{vi.name}' declares size {d.dim_value} on axis {axis}; sizes must be "
                                    f"from 0 to {2**31 - 1}")
            if d.HasField("dim_value"):  # 0 too: an empty axis, as ONNX and ONNX Runtime read it
                shape.append(int(d.dim_value))
            else:
                name = d.dim_param or f"{vi.name}_dim{axis}"
                if name not in self.dim_names:
                    self.dim_names.append(name)
                shape.append(D.Sym.var(name))
        if not t.HasField("shape"):
            raise UnsupportedError(f"input '{vi.name}' has no shape (rank unknown); re-export with input shapes")
        return Value(vi.name, np.dtype(dtype), shape, is_input=True)

    def _unknown_outputs(self, node, proto, unknown: set):
        node.outputs = []
        for out_name in proto.output:
            if out_name:
                value = Value(out_name, np.dtype(np.float32), [], producer=node)
                self.values[out_name] = value
                node.outputs.append(value)
                unknown.add(value)


def _unsupported(unsupported: dict) -> UnsupportedError:
    """The refusal of a model: each unsupported op (with its reason) and how many nodes, naming one."""
    lines = [f"  {op}: {len(names)} node(s), e.g. {names[0]}" for op, names in sorted(unsupported.items())]
    exc = UnsupportedError("the native backend does not support these ops in the model:\n" + "\n".join(lines)
                           + "\n  (see the README for the supported ops)")
    exc.unsupported = unsupported
    return exc


_FOLD_LIMIT = 4096  # elements: shape arithmetic, not data


def _fold_shape_arithmetic(node: Node, proto, types):
    """Outputs of an integer/bool op whose inputs are all known at export time, at least one of them from
    shape arithmetic (Shape -> Mod -> Where -> Expand chains, as ONNX's function bodies for Attention
    write them): computed here with ONNX's reference implementation, so that any op's rule for known
    values is ONNX's own. None when an input is unknown, symbolic or large."""
    if not any(v is not None and v.known is not None for v in node.inputs):
        return None
    if any(np.dtype(t).kind not in "iub" for t, _ in types) or node.op in ("RandomUniformLike", "RandomNormalLike",
                                                                           "Bernoulli", "Multinomial"):
        return None
    feeds = {}
    for name, v in zip(proto.input, node.inputs):
        if v is None:
            continue
        ints = v.known_ints()
        if ints is None or len(ints) > _FOLD_LIMIT or any(isinstance(d, D.Sym) for d in list(ints) + v.shape):
            return None
        feeds[name] = v.data if v.data is not None else np.asarray(ints, v.dtype).reshape([int(d) for d in v.shape])
    from onnx.reference import ReferenceEvaluator
    try:
        return [np.asarray(a) for a in ReferenceEvaluator(proto).run(None, feeds)]
    except Exception:  # noqa: BLE001 (left to the op's own code at run time)
        return None


def _check_inner_dims(node: Node) -> None:
    """MatMul/Gemm operands must agree on the summed dimension (when both sizes are known at export
    time); a mismatch is a broken model, not something to compute with part of a weight."""
    if node.op not in ("MatMul", "Gemm") or len(node.inputs) < 2 or None in node.inputs[:2]:
        return
    a, b = node.inputs[:2]
    if not a.shape or not b.shape:
        return
    if node.op == "MatMul":
        ka, kb = a.shape[-1], (b.shape[0] if b.rank == 1 else b.shape[-2])
    else:
        ka = a.shape[0] if node.attr("transA", 0) else a.shape[-1]
        kb = b.shape[-1] if node.attr("transB", 0) else b.shape[0]
    if not isinstance(ka, D.Sym) and not isinstance(kb, D.Sym) and int(ka) != int(kb):
        raise ExporterError(f"{node.describe()}: its inputs '{a.name}' and '{b.name}' disagree on the inner "
                            f"dimension ({ka} vs {kb})")
