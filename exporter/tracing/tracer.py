"""Traced arrays: stand-ins for NumPy arrays that record every operation into a GraphBuilder.

Each `Tracer` carries a *shadow* value: the result NumPy computes for the example inputs. Lowerings
therefore never re-derive NumPy's shape and dtype rules: they read them off the shadow and only have to
emit ONNX that computes the same thing. When the model has dynamic axes a second shadow, the *probe*,
is computed from inputs resized along those axes; a dimension whose example and probe sizes differ is
dynamic, and an operation that fails only on the probe has specialized a dynamic axis.
"""
from __future__ import annotations

import warnings

import numpy as np

from .. import axes
from ..errors import ExporterError, TracingError, UnsupportedError, excepthook_location, tracing_error
from .graph import GraphBuilder

FUNCTIONS: dict = {}  # NumPy (or exporter.ops) function -> lowering(g, out, *args, **kwargs)
UFUNCS: dict = {}  # np.ufunc -> lowering(g, out, loop_dtype, *input_names)
# Tracer methods implemented in the op modules, which register them here ("ufunc": elementwise.trace_ufunc,
# "getitem": indexing.getitem): the registries are the only way op modules and the tracer meet.
METHODS: dict = {}

_KEEP_ARRAY_FIX = ("keep it an array: a 0-d array works wherever the Python number did (x.sum() * 2, "
                   "np.exp(x.sum())); change its dtype with .astype(np.float32) instead of float()/int()")
_DATA_DEPENDENT_FIX = ("branch with np.where(cond, a, b) (or np.maximum / np.clip) so both sides stay in the "
                       "graph; keep Python control flow to shapes and constants")
# an `if`/`while` on data: besides np.where, the control-flow functions trace it as ONNX If/Loop
_BRANCH_FIX = ("branch with np.where(cond, a, b) (or np.maximum / np.clip) so both sides stay in the graph, or "
               "with exporter.cond(pred, true_fn, false_fn, *operands) to run one side only (an ONNX If); a loop "
               "that stops on data is exporter.while_loop(cond_fn, body_fn, init) (an ONNX Loop); combine traced "
               "conditions with & and | instead of and/or; keep Python control flow to shapes and constants")


def lowers(*funcs):
    """Register a lowering for NumPy functions (dispatched through __array_function__)."""
    def register(fn):
        for f in funcs:
            FUNCTIONS[f] = fn
        return fn
    return register


def lowers_ufunc(*ufuncs):
    """Register a lowering for ufuncs; inputs arrive already cast to the ufunc loop's input dtype."""
    def register(fn):
        for u in ufuncs:
            UFUNCS[u] = fn
        return fn
    return register


def np_name(func) -> str:
    module = getattr(func, "__module__", None) or "numpy"
    if module.startswith("numpy"):
        module = "numpy" + (".linalg" if "linalg" in module else "")
    return f"{module}.{getattr(func, '__name__', repr(func))}"


# ---------------------------------------------------------------------------------------------------
# Shadow evaluation


def tree_map(fn, obj):
    if isinstance(obj, (list, tuple)) and not hasattr(obj, "_fields"):
        return type(obj)(tree_map(fn, o) for o in obj)
    if isinstance(obj, dict):
        return {k: tree_map(fn, v) for k, v in obj.items()}
    return fn(obj)


def tree_leaves(obj):
    if isinstance(obj, (list, tuple, dict)):
        for o in (obj.values() if isinstance(obj, dict) else obj):
            yield from tree_leaves(o)
    else:
        yield obj


def _shadow(which: str):
    def get(x):
        if isinstance(x, Tracer):
            return x.value if which == "value" else x.probe
        if isinstance(x, SymInt):
            return x.value if which == "value" else x.probe
        return x
    return get


def find_graph(*objs) -> GraphBuilder | None:
    for leaf in tree_leaves(objs):
        if isinstance(leaf, (Tracer, SymInt)):
            return leaf.graph
    return None


def eager(func, args, kwargs, graph: GraphBuilder, label: str):
    """Run `func` on the example (and probe) shadows; NumPy's own errors become user errors."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            value = func(*tree_map(_shadow("value"), args), **tree_map(_shadow("value"), kwargs))
        except ExporterError:
            raise
        except Exception as exc:  # NumPy rejected the call: the same happens when run eagerly
            where = excepthook_location(exc)
            raise tracing_error(f"{label} failed: {type(exc).__name__}: {exc}" +
                                (f"\n  (raised at {where})" if where and "exporter" in where else "")) from None
        probe = None
        if graph.probing:
            try:
                probe = func(*tree_map(_shadow("probe"), args), **tree_map(_shadow("probe"), kwargs))
            except ExporterError:
                raise
            except Exception as exc:
                names = ", ".join(sorted(set(graph.dim_names.values())))
                raise tracing_error(
                    f"{label} works only for the example size of a dynamic axis ({names}): at another size "
                    f"NumPy says {type(exc).__name__}: {exc}",
                    "derive sizes from x.shape (e.g. x.reshape(x.shape[0], -1)) instead of writing the "
                    "example size as a number, or drop the axis from dynamic_axes") from None
    return value, probe


def wrap(graph: GraphBuilder, names, value, probe):
    """Turn lowering output names into Tracers shaped like the shadow result."""
    if isinstance(value, (tuple, list)):
        probes = probe if probe is not None else [None] * len(value)
        return type(value)(wrap(graph, n, v, p) for n, v, p in zip(names, value, probes))
    return Tracer(graph, names, np.asarray(value), None if probe is None else np.asarray(probe))


def trace_function(func, lowering, args, kwargs, label=None):
    if only_constants(args, kwargs):
        return fold(func, args, kwargs)
    args, kwargs = unwrap_constants(args), unwrap_constants(kwargs)
    graph = find_graph(args, kwargs)
    label = label or np_name(func)
    if kwargs.get("out") is not None:
        raise tracing_error(f"{label}(out=...) is not supported: traced arrays cannot be written in place",
                            "use the return value", cls=UnsupportedError)
    value, probe = eager(func, args, kwargs, graph, label)
    names = lowering(graph, value, *args, **kwargs)
    return wrap(graph, names, value, probe)


# ---------------------------------------------------------------------------------------------------
# Operand helpers used by lowerings


# ---------------------------------------------------------------------------------------------------
# Constants: NumPy arrays the traced function reads (its weights)


def only_constants(*objs) -> bool:
    """True when no operand depends on the inputs: every traced leaf is a Constant."""
    leaves = [x for x in tree_leaves(objs) if isinstance(x, (Tracer, SymInt))]
    return bool(leaves) and all(isinstance(x, Constant) for x in leaves)


def unwrap_constants(obj):
    """Constants replaced by their arrays: lowerings see weights exactly as before (plain arrays),
    and GraphBuilder.const still names them after the Python names they were read from."""
    return tree_map(lambda x: x.value if isinstance(x, Constant) else x, obj)


def fold(func, args, kwargs, method=None):
    """Fold what is known: an operation on weights alone runs in NumPy at trace time; array results stay
    Constants (so that, e.g., W.T[ids] still traces), other results (shapes, Python numbers) are plain."""
    graph = find_graph(args, kwargs)
    call = func if method in (None, "__call__") else getattr(func, method)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = call(*unwrap_constants(args), **unwrap_constants(kwargs))
    return tree_map(lambda r: Constant(graph, np.asarray(r)) if isinstance(r, (np.ndarray, np.generic)) else r,
                    result)


def is_traced(x) -> bool:
    return isinstance(x, (Tracer, SymInt))


def dtype_of(x):
    if isinstance(x, Tracer):
        return x.dtype
    if isinstance(x, SymInt):
        return np.dtype(np.int64)
    return np.asarray(x).dtype


def weak_type(x):
    """What ufunc.resolve_dtypes needs: Python scalars are 'weak' under NEP 50."""
    if isinstance(x, SymInt):
        return int
    if type(x) in (bool, int, float):
        return type(x)
    return dtype_of(x)


def name_of(g: GraphBuilder, x, dtype=None) -> str:
    """ONNX value name for an operand (Tracer, SymInt, array, scalar), cast to `dtype` if given."""
    if isinstance(x, Tracer):
        name, have = x.name, x.dtype
    elif isinstance(x, SymInt):
        name, have = g.squeeze(x.tensor(), [0]), np.dtype(np.int64)
    else:
        array = np.asarray(x)  # the array itself when no cast is needed: a named weight keeps its name
        return g.const(array if dtype is None or array.dtype == np.dtype(dtype) else array.astype(dtype))
    if dtype is not None and np.dtype(dtype) != have:
        name = g.cast(name, dtype)
    return name


def norm_axis(axis: int, ndim: int) -> int:
    return axes.norm_axis(axis, ndim, tracing_error)  # the error names the user's line


def norm_axes(axis, ndim: int):
    """None -> all axes; int or tuple -> sorted list of non-negative axes."""
    if axis is None:
        return list(range(ndim))
    if isinstance(axis, (tuple, list)):
        return sorted(norm_axis(int(a), ndim) for a in axis)
    return [norm_axis(int(axis), ndim)]


def shape_input(g: GraphBuilder, shape) -> str:
    """A 1-D int64 ONNX value for a shape that may contain dynamic dimensions (SymInt)."""
    if isinstance(shape, (int, np.integer, SymInt)):
        shape = (shape,)
    if all(not isinstance(d, SymInt) for d in shape):
        return g.ints([int(d) for d in shape])
    parts = [d.tensor() if isinstance(d, SymInt) else g.ints([int(d)]) for d in shape]
    return g.concat(parts, axis=0)


# ---------------------------------------------------------------------------------------------------
# Dynamic dimensions


class SymInt:
    """A dimension that varies at run time: usable in reshape/broadcast targets and arithmetic, but it
    has no single Python value, so int()/bool()/comparisons raise a data-dependent error."""

    def __init__(self, graph: GraphBuilder, value: int, probe: int, build):
        self.graph, self.value, self.probe, self._build, self._tensor = graph, int(value), int(probe), build, None

    @classmethod
    def of_axis(cls, tracer: "Tracer", axis: int) -> "SymInt":
        g = tracer.graph
        key = (tracer.value.shape[axis], tracer.probe.shape[axis])

        def build():
            # a named dynamic dim has one value wherever it appears: read it once (the first Shape of any
            # tensor carrying it), not once per tensor
            name = g.dim_tensors.get(key) if key in g.dim_names else None
            if name is None:
                name = g.op("Shape", tracer.name, start=axis, end=axis + 1, hint="dim")
                if key in g.dim_names:
                    g.dim_tensors[key] = name
            return name
        return cls(g, key[0], key[1], build)

    @property
    def name(self) -> str | None:
        return self.graph.dim_names.get((self.value, self.probe))

    def tensor(self) -> str:
        """1-D int64 ONNX value of length 1 holding this dimension (built on first use, and again when
        the first use was inside a control-flow body that is closed now)."""
        if self._tensor is None or not self.graph.visible(self._tensor[1]):
            self._tensor = (self._build(), self.graph.scope)
        return self._tensor[0]

    def _binary(self, other, op_type, fn, reverse=False):
        if isinstance(other, (np.integer,)):
            other = int(other)
        if not isinstance(other, (int, SymInt)) or isinstance(other, bool):
            return NotImplemented
        g = self.graph
        ov = other.value if isinstance(other, SymInt) else other
        op = other.probe if isinstance(other, SymInt) else other
        a, b = (other, self) if reverse else (self, other)
        av, bv = (ov, self.value) if reverse else (self.value, ov)
        ap, bp = (op, self.probe) if reverse else (self.probe, op)

        def build():
            an = a.tensor() if isinstance(a, SymInt) else g.ints([a])
            bn = b.tensor() if isinstance(b, SymInt) else g.ints([b])
            return g.op(op_type, an, bn, hint="dim")
        return SymInt(g, fn(av, bv), fn(ap, bp), build)

    def __add__(self, o): return self._binary(o, "Add", lambda a, b: a + b)
    def __radd__(self, o): return self._binary(o, "Add", lambda a, b: a + b, True)
    def __sub__(self, o): return self._binary(o, "Sub", lambda a, b: a - b)
    def __rsub__(self, o): return self._binary(o, "Sub", lambda a, b: a - b, True)
    def __mul__(self, o): return self._binary(o, "Mul", lambda a, b: a * b)
    def __rmul__(self, o): return self._binary(o, "Mul", lambda a, b: a * b, True)
    # ONNX integer Div truncates; dimensions are non-negative, so it equals floor division here.
    def __floordiv__(self, o): return self._binary(o, "Div", lambda a, b: a // b)
    def __rfloordiv__(self, o): return self._binary(o, "Div", lambda a, b: a // b, True)

    def _data_dependent(self, what: str):
        label = f"'{self.name}'" if self.name else "derived from one"
        return tracing_error(
            f"{what} of a dynamic dimension ({label}, example size {self.value}) has no fixed value at trace time",
            "keep dynamic sizes symbolic (pass x.shape[i] to reshape/broadcast_to, use *_like constructors), "
            "or drop the axis from dynamic_axes")

    def __index__(self): raise self._data_dependent("using the size as a Python int")
    __int__ = __index__
    def __float__(self): raise self._data_dependent("float()")
    def __bool__(self): raise self._data_dependent("truth value")

    def __eq__(self, other):
        if isinstance(other, SymInt) and (other.value, other.probe) == (self.value, self.probe):
            return True
        raise self._data_dependent("comparison")
    def _compare(self, other):
        raise self._data_dependent("comparison")
    __lt__ = __le__ = __gt__ = __ge__ = _compare

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash((self.value, self.probe))

    def __repr__(self):
        return f"<dynamic dim {self.name or '?'}, example {self.value}>"


# ---------------------------------------------------------------------------------------------------
# The traced array


def astype(x, dtype):
    """Eager counterpart of Tracer.astype (used for the shadow value; lowered in elementwise.py)."""
    return np.asarray(x).astype(dtype)


class Tracer(np.lib.mixins.NDArrayOperatorsMixin):
    """Stands in for an ndarray during tracing. Operators go through NumPy's ufunc protocol."""

    __array_priority__ = 1000

    def __init__(self, graph: GraphBuilder, name: str, value: np.ndarray, probe: np.ndarray | None = None):
        self.graph, self.name, self.value, self.probe = graph, name, value, probe
        graph.value_dtypes[name] = value.dtype

    # --- attributes -------------------------------------------------------------------------------
    @property
    def dtype(self) -> np.dtype:
        return self.value.dtype

    @property
    def ndim(self) -> int:
        return self.value.ndim

    @property
    def shape(self) -> tuple:
        if self.probe is None:
            return self.value.shape
        return tuple(v if v == p else SymInt.of_axis(self, i)
                     for i, (v, p) in enumerate(zip(self.value.shape, self.probe.shape)))

    @property
    def size(self):
        size = 1
        for d in self.shape:
            size = d * size
        return size

    @property
    def T(self):
        return np.transpose(self)

    @property
    def mT(self):
        return np.swapaxes(self, -1, -2)

    @property
    def itemsize(self):
        return self.dtype.itemsize

    def __repr__(self):
        return f"Tracer({self.name}, shape={self.shape}, dtype={self.dtype})"

    # --- NumPy protocols -----------------------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return METHODS["ufunc"](ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        if only_constants(args, kwargs):  # weights alone: any NumPy function, computed now
            return fold(func, args, kwargs)
        lowering = FUNCTIONS.get(func)
        if lowering is None:
            raise tracing_error(f"{np_name(func)} is not supported by exporter",
                                "see the README's list of supported functions, or express it with "
                                "supported NumPy calls", cls=UnsupportedError)
        return trace_function(func, lowering, args, kwargs)

    def __array__(self, dtype=None, copy=None):
        raise tracing_error(
            f"a traced array ({self.name}, shape {self.value.shape}) was converted to a concrete NumPy array "
            "(np.asarray/np.array, or a NumPy routine without __array_function__ support, or indexing a "
            "NumPy array with a traced index); its value is only known at run time",
            "use NumPy functions directly on the traced array; arrays the function reads as globals, closure "
            "variables or defaults are traced constants (E[ids] works on them); for a table reached another "
            "way (an attribute, a local copy) use exporter.ops.gather(table, indices)")

    def _data_dependent(self, what, fix=_DATA_DEPENDENT_FIX):
        return tracing_error(
            f"{what} of a traced array ({self.name}, shape {self.value.shape}) depends on the input data, "
            "which is unknown at trace time", fix)

    def _to_python(self, what):
        # a conversion, not a branch: np.where does not apply; the value has to stay in the graph
        return self._data_dependent(what, _KEEP_ARRAY_FIX)

    def __bool__(self): raise self._data_dependent("Python truth value (if/while/and/or)", _BRANCH_FIX)
    def __float__(self): raise self._to_python("float()")
    def __int__(self): raise self._to_python("int()")
    def __index__(self):
        raise self._data_dependent("use as a Python index", "to index with traced values use np.take(x, i, axis) "
                                   "or exporter.ops.gather(table, i); to build a range use sizes from x.shape")
    def __complex__(self): raise self._to_python("complex()")
    def item(self, *a): raise self._to_python(".item()")
    def tolist(self): raise self._to_python(".tolist()")

    def __len__(self):
        if not self.ndim:
            raise TypeError("len() of unsized object")
        first = self.shape[0]
        if isinstance(first, SymInt):
            raise first._data_dependent("len()")
        return first

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __hash__(self):
        return id(self)

    def __getitem__(self, key):
        getitem = METHODS["getitem"]
        if isinstance(key, tuple):  # a weight used as an index (a constant mask, say) indexes as an array
            key = tuple(k.value if isinstance(k, Constant) else k for k in key)
        elif isinstance(key, Constant):
            key = key.value
        return trace_function(getitem, FUNCTIONS[getitem], (self, key), {}, label="indexing")

    def __setitem__(self, key, value):
        raise tracing_error("in-place assignment to a traced array is not supported",
                            "build the result functionally: np.where(mask, new, x), np.concatenate, np.pad")

    # --- ndarray methods: thin wrappers over the NumPy functions ------------------------------------
    def reshape(self, *shape, order="C"):
        if order != "C":
            raise tracing_error(f"reshape(order={order!r}) is not supported", "use the default order='C'",
                                cls=UnsupportedError)
        return np.reshape(self, shape[0] if len(shape) == 1 else shape)

    def transpose(self, *axes):
        return np.transpose(self, axes[0] if len(axes) == 1 else (axes or None))

    def astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
        return trace_function(astype, FUNCTIONS[astype], (self, np.dtype(dtype)), {}, label="astype")

    def copy(self, order="C"): return self
    def view(self, *a): raise tracing_error(".view() is not supported", "use astype", cls=UnsupportedError)
    def ravel(self, order="C"): return np.ravel(self)
    def flatten(self, order="C"): return np.ravel(self)
    def squeeze(self, axis=None): return np.squeeze(self, axis)
    def swapaxes(self, a, b): return np.swapaxes(self, a, b)
    def sum(self, *a, **k): return np.sum(self, *a, **k)
    def mean(self, *a, **k): return np.mean(self, *a, **k)
    def max(self, *a, **k): return np.max(self, *a, **k)
    def min(self, *a, **k): return np.min(self, *a, **k)
    def prod(self, *a, **k): return np.prod(self, *a, **k)
    def var(self, *a, **k): return np.var(self, *a, **k)
    def std(self, *a, **k): return np.std(self, *a, **k)
    def argmax(self, *a, **k): return np.argmax(self, *a, **k)
    def argmin(self, *a, **k): return np.argmin(self, *a, **k)
    def all(self, *a, **k): return np.all(self, *a, **k)
    def any(self, *a, **k): return np.any(self, *a, **k)
    def cumsum(self, *a, **k): return np.cumsum(self, *a, **k)
    def cumprod(self, *a, **k): return np.cumprod(self, *a, **k)
    def argsort(self, *a, **k): return np.argsort(self, *a, **k)

    def sort(self, *a, **k):
        raise tracing_error("x.sort() sorts in place, which traced arrays cannot do", "use x = np.sort(x, axis)",
                            cls=UnsupportedError)
    def clip(self, *a, **k): return np.clip(self, *a, **k)
    def round(self, decimals=0): return np.round(self, decimals)
    def repeat(self, *a, **k): return np.repeat(self, *a, **k)
    def take(self, *a, **k): return np.take(self, *a, **k)
    def dot(self, b): return np.dot(self, b)
    def nonzero(self): raise self._data_dependent(".nonzero() (its output size)")


class Constant(Tracer):
    """A NumPy array the traced function reads (a module-level weight, a closure cell, a default argument),
    standing in for it while the function is traced. It behaves like the array: shape, dtype, len(),
    conversions, iteration and anything NumPy does with weights alone are computed at trace time (see
    `fold`); only an operation that involves the inputs is recorded, reading the weight as an initializer
    named after its Python name (`label`). That is what lets `E[ids]` (a table indexed by a traced index,
    which NumPy never hands to the tracer for a plain array) trace to a Gather."""

    def __init__(self, graph: GraphBuilder, value: np.ndarray, label: str | None = None):
        self.graph, self.value, self.label = graph, value, label
        self.probe = value if graph.probing else None
        if label is not None:
            graph.name_constant(value, label)

    @property
    def name(self) -> str:
        return self.graph.const(self.value)

    def __repr__(self):
        return f"Constant({self.label or '?'}, shape={self.value.shape}, dtype={self.value.dtype})"

    # known at trace time: conversions work as on the array
    def __array__(self, dtype=None, copy=None):
        return self.value if dtype is None else self.value.astype(dtype)

    def __bool__(self): return bool(self.value)
    def __float__(self): return float(self.value)
    def __int__(self): return int(self.value)
    def __index__(self): return self.value.__index__()
    def __complex__(self): return complex(self.value)
    def item(self, *a): return self.value.item(*a)
    def tolist(self): return self.value.tolist()

    def __len__(self):
        return len(self.value)

    def __getattr__(self, attr):  # the rest of the ndarray API (nbytes, strides, flat, ...) on the array
        if attr.startswith("__") or attr in ("value", "graph", "label", "probe"):
            raise AttributeError(attr)
        return getattr(self.value, attr)
