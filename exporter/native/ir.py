"""The native backend's view of an ONNX graph: values with dtypes, symbolic shapes and (for small
integer tensors that only describe shapes) known contents. Built by running each op's shape rule."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..errors import ExporterError, UnsupportedError
from ..passes import NATIVE_PASSES, optimize
from . import dims as D

SUPPORTED_DTYPES = {np.dtype(t) for t in (np.float32, np.float64, np.int32, np.int64, np.bool_)}


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


class Graph:
    """Values and nodes in execution order, with every shape inferred."""

    def __init__(self, model: onnx.ModelProto, name: str = "model"):
        from .ops import OPS
        model = onnx.ModelProto.FromString(model.SerializeToString())  # never edit the caller's model
        constants_to_initializers(model)
        optimize(model, NATIVE_PASSES)
        self.name = name
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 21)
        self.values: dict[str, Value] = {}
        self.nodes: list[Node] = []
        self.dim_names: list[str] = []
        g = model.graph
        for t in g.initializer:
            array = numpy_helper.to_array(t)
            self.values[t.name] = Value(t.name, array.dtype, list(array.shape), data=array)
        self.inputs = []
        for vi in g.input:
            if vi.name in self.values:
                continue
            value = self._graph_input(vi)
            self.values[vi.name] = value
            self.inputs.append(value)
        unsupported: dict[str, list[str]] = {}
        unknown: set = set()  # outputs of unsupported nodes
        for proto in g.node:
            node = Node(proto.op_type, proto.name or f"{proto.op_type}_{len(self.nodes)}",
                        [self.values[i] if i else None for i in proto.input], [],
                        {a.name: _attr_value(a) for a in proto.attribute}, self.opset, proto.domain)
            opdef = OPS.get(proto.op_type) if proto.domain in ("", "ai.onnx") else None
            if opdef is None:
                unsupported.setdefault(proto.op_type if not proto.domain else f"{proto.domain}.{proto.op_type}",
                                       []).append(node.name)
                self._unknown_outputs(node, proto, unknown)
                continue
            if any(v is not None and v in unknown for v in node.inputs):
                self._unknown_outputs(node, proto, unknown)  # downstream of an unsupported node: no shapes
                continue
            # placeholders, so that checks can see which outputs the node has
            node.outputs = [Value(n, np.dtype(np.float32), []) if n else None for n in proto.output]
            try:
                problem = opdef.check(node)
                if not problem:
                    types = opdef.infer(node)
                    known = opdef.value(node)
                    if len(types) < len([n for n in proto.output if n]):
                        problem = "more outputs than supported"
            except ExporterError:
                raise
            except Exception as exc:  # noqa: BLE001 (an attribute/shape combination the op does not cover)
                problem = f"unsupported configuration: {type(exc).__name__} {exc}".strip()
            if problem:
                unsupported.setdefault(f"{proto.op_type} ({problem})", []).append(node.name)
                self._unknown_outputs(node, proto, unknown)
                continue
            node.outputs = []
            for k, out_name in enumerate(proto.output):
                if not out_name:
                    node.outputs.append(None)
                    continue
                dtype, shape = types[k]
                value = Value(out_name, np.dtype(dtype), list(shape), producer=node,
                              known=known[k] if known else None)
                self.values[out_name] = value
                node.outputs.append(value)
            for v in node.inputs:
                if v is not None:
                    v.consumers.append(node)
            self.nodes.append(node)
        if unsupported:
            lines = [f"  {op}: {len(names)} node(s), e.g. {names[0]}" for op, names in sorted(unsupported.items())]
            raise UnsupportedError("the native backend does not support these ops in the model:\n" + "\n".join(lines)
                                   + "\n  (see the README for the supported ops)")
        self.outputs = []
        for vi in g.output:
            value = self.values[vi.name]
            value.is_output = True
            self.outputs.append(value)
        for value in list(self.inputs) + self.outputs:
            if value.dtype not in SUPPORTED_DTYPES:
                raise UnsupportedError(f"{'input' if value.is_input else 'output'} '{value.name}' has dtype "
                                       f"{value.dtype}; the native backend supports float32, float64, int32, int64, bool")

    def _graph_input(self, vi: onnx.ValueInfoProto) -> Value:
        t = vi.type.tensor_type
        if not vi.type.HasField("tensor_type"):
            raise UnsupportedError(f"input '{vi.name}' is not a tensor")
        dtype = helper.tensor_dtype_to_np_dtype(t.elem_type)
        shape = []
        for axis, d in enumerate(t.shape.dim):
            if d.HasField("dim_value") and d.dim_value > 0:
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


def require_known(node: Node, index: int, what: str):
    """Contents of input `index`, which must be known at generation time (a shape, axes, pads...)."""
    value = node.input(index)
    if value is None:
        return None
    known = value.known_ints()
    if known is None:
        raise UnsupportedError(f"{node.describe()}: its {what} (input '{value.name}') is computed from data at run "
                               "time; the native backend needs it fixed when the model is exported")
    return known


def c_text(text: str) -> str:
    """Text safe inside a C string literal and inside a // or /* */ comment."""
    out = []
    for ch in str(text):
        printable = ch.isprintable() and ord(ch) < 127 and ch not in '"\\'
        out.append(ch if printable else (f"\\{ord(ch):03o}" if ord(ch) < 256 else "?"))
    return "".join(out).replace("*/", "* /")


def fail(node: Node, why: str):
    raise ExporterError(f"{node.describe()}: {why}")
