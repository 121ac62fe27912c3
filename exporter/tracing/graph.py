"""GraphBuilder: the ONNX graph under construction while a function is traced.

The builder owns node emission, unique names and constants (deduplicated by content, so a weight used
twice is stored once). Everything it makes is plain ONNX: the traced graph *is* the IR that both the
ONNX writer and the native backend consume.
"""
from __future__ import annotations

import contextvars
import hashlib
import itertools
import re
from collections import Counter
from contextlib import contextmanager

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..errors import user_line

OPSET = 21  # ONNX opset the exporter writes (ONNX 1.16+); ONNX Runtime 1.18+ runs it.

# The builder of the trace in progress (None outside trace()): control flow needs it to trace bodies
# whose operands are all concrete but whose functions close over traced arrays.
_ACTIVE: contextvars.ContextVar = contextvars.ContextVar("exporter_active_graph", default=None)


def active_graph() -> "GraphBuilder | None":
    return _ACTIVE.get()


def onnx_dtype(dtype) -> int:
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


class GraphBuilder:
    """Collects nodes and constants; `op()` emits a node and returns its output name(s)."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: dict[str, np.ndarray] = {}
        self.value_dtypes: dict[str, np.dtype] = {}  # expected dtype of each traced value (verifier)
        self.dim_names: dict[tuple[int, int], str] = {}  # (example size, probe size) -> dynamic axis name
        self.dim_tensors: dict[tuple[int, int], str] = {}  # the same -> 1-D int64 value holding it
        self.probing = False  # True when a second, resized "probe" run tracks dynamic axes
        self._const_index: dict[tuple, str] = {}
        self._const_names: dict[int, tuple[str, np.ndarray]] = {}  # id(array) -> (Python name, array)
        self._used = Counter()
        # Control-flow bodies being traced, outermost first: a value built inside a body (a cached
        # dynamic-dim tensor, say) may be reused only while that body, or one nested in it, is open.
        self.scope: tuple[int, ...] = ()
        self._scope_ids = itertools.count(1)

    @contextmanager
    def activate(self):
        """Make this the builder `active_graph()` returns while a function is traced."""
        token = _ACTIVE.set(self)
        try:
            yield self
        finally:
            _ACTIVE.reset(token)

    @contextmanager
    def subgraph(self):
        """Nodes emitted inside go to a fresh list (a control-flow body, yielded) instead of the current
        graph. Constants still go to the model's initializers: bodies read them from the outer scope."""
        saved = self.nodes, self.dim_tensors, self.scope
        self.nodes = []
        self.dim_tensors = dict(saved[1])  # dims read outside are visible inside, not the other way round
        self.scope = saved[2] + (next(self._scope_ids),)
        try:
            yield self.nodes
        finally:
            self.nodes, self.dim_tensors, self.scope = saved

    def visible(self, scope: tuple[int, ...]) -> bool:
        """Whether a value built in `scope` can be read here (it is this body or one enclosing it)."""
        return self.scope[:len(scope)] == scope

    def fresh(self, hint: str) -> str:
        """A new unique value name derived from `hint`."""
        hint = hint or "v"
        n = self._used[hint]
        self._used[hint] += 1
        return hint if n == 0 else f"{hint}_{n}"

    def reserve(self, name: str) -> None:
        self._used[name] += 1

    def name_constant(self, array: np.ndarray, label: str) -> None:
        """Give the initializer of `array` (this very object) the name `label` if it is ever needed."""
        self._const_names.setdefault(id(array), (label, array))

    def const(self, value, dtype=None) -> str:
        """Name of an initializer holding `value`; identical constants share one initializer. An array
        registered with `name_constant` is named after its Python name (`W1`, `E`)."""
        named = self._const_names.get(id(value)) if dtype is None else None
        label = named[0] if named is not None and named[1] is value else None
        array = np.asarray(value, dtype=dtype)
        if array.dtype == np.float16 or array.dtype.kind not in "biuf":
            raise TypeError(f"constant of dtype {array.dtype} is not supported")
        array = np.array(array, order="C")  # (ascontiguousarray would make 0-d arrays 1-d)
        key = (array.dtype.str, array.shape, hashlib.sha1(array.tobytes()).hexdigest())
        name = self._const_index.get(key)
        if name is None:
            if label is None:
                label = self._named_like(array)
            if label is not None and re.fullmatch(r"output_\d+", label):
                label += "_weight"  # output_<k> names are the graph's outputs
            name = self.fresh(label or ("const" if array.size <= 16 else "weight"))
            self.initializers[name] = array
            self._const_index[key] = name
        return name

    def _named_like(self, array: np.ndarray) -> str | None:
        """The Python name of a registered weight equal to `array` (a lowering may pass a view or a copy)."""
        for label, named in self._const_names.values():
            if named.shape == array.shape and named.dtype == array.dtype and np.array_equal(named, array):
                return label
        return None

    def op(self, op_type: str, *inputs: str | None, outputs: int = 1, hint: str | None = None,
           domain: str = "", **attrs):
        """Emit one node; returns its output name (or a list when outputs > 1)."""
        base = hint or op_type.lower()
        names = [self.fresh(base) for _ in range(outputs)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        node = helper.make_node(op_type, ["" if i is None else i for i in inputs], names,
                                name=self.fresh(f"{op_type}_node"), domain=domain, **attrs)
        where = user_line()
        if where:
            node.doc_string = where  # the model's line that made this node (check --localize shows it)
        self.nodes.append(node)
        return names[0] if outputs == 1 else names

    # Small helpers for ops whose operands are inputs in current opsets.
    def ints(self, values) -> str:
        return self.const(np.asarray(values, dtype=np.int64).reshape(-1))

    def cast(self, name: str, dtype) -> str:
        return self.op("Cast", name, to=onnx_dtype(dtype))

    def reshape(self, name: str, shape) -> str:
        return self.op("Reshape", name, self.ints(shape) if not isinstance(shape, str) else shape)

    def unsqueeze(self, name: str, axes) -> str:
        return self.op("Unsqueeze", name, self.ints(axes))

    def squeeze(self, name: str, axes) -> str:
        return self.op("Squeeze", name, self.ints(axes))

    def transpose(self, name: str, perm) -> str:
        return self.op("Transpose", name, perm=[int(p) for p in perm])

    def reduce(self, op_type: str, name: str, axes, keepdims: bool) -> str:
        axes_input = None if axes is None else self.ints(axes)
        return self.op(op_type, name, axes_input, keepdims=int(keepdims))

    def slice(self, name: str, starts, ends, axes, steps=None) -> str:
        steps_input = None if steps is None else self.ints(steps)
        return self.op("Slice", name, self.ints(starts), self.ints(ends), self.ints(axes), steps_input)

    def concat(self, names, axis: int) -> str:
        return names[0] if len(names) == 1 else self.op("Concat", *names, axis=axis)


def to_initializers(initializers: dict[str, np.ndarray]) -> list[onnx.TensorProto]:
    return [numpy_helper.from_array(a, name) for name, a in initializers.items()]
