"""hybridize(): call a NumPy function through its compiled graph (like jax.jit / tf.function).

    @exporter.hybridize                                          # traces at the first call
    def model(x): ...
    fast = exporter.hybridize(model, example_inputs)             # compiles now (native shared library)
    fast = exporter.hybridize(model, dynamic_axes={"x": {0: "batch"}}, backend="onnxruntime")
    y = fast(x)                                                  # same signature, same return structure

A call whose input signature (dtypes, ranks, sizes of the axes that are not dynamic) was not seen before
traces and compiles once more; the compiled forms are cached side by side (at most `max_traces`, least
recently used dropped first).
"""
from __future__ import annotations

import inspect
import logging
from collections import OrderedDict

import numpy as np
import onnx

from . import dtypes
from .errors import ExporterError, InputError
from .tracing import trace
from .tracing.trace import RETURNS_KEY, input_names_of

BACKENDS = ("native", "onnxruntime")
RETRACE_WARNING_AT = 5  # traces of one function before saying that it keeps retracing (tf.function: 5)
log = logging.getLogger("exporter")


class Compiled:
    """One traced and compiled form of a function, for one input signature."""

    def __init__(self, model: onnx.ModelProto, runner):
        self.model, self.runner = model, runner
        self.returns = {p.key: p.value for p in model.metadata_props}.get(RETURNS_KEY, "array")

    def __call__(self, args):
        return self.structured(self.runner(*args))

    def structured(self, outputs):
        """The run's list of outputs in the function's return structure (one array, a tuple or a list)."""
        if self.returns == "array":
            return outputs[0]
        return tuple(outputs) if self.returns == "tuple" else list(outputs)


class Hybrid:
    """The compiled form of a function: call it like the function.

    >>> import numpy as np, exporter
    >>> fast = exporter.hybridize(lambda x: x * 2, backend="onnxruntime")
    >>> fast(np.ones(3, np.float32)), fast(np.ones(5, np.float32)).shape, fast.traces
    (array([2., 2., 2.], dtype=float32), (5,), 2)
    """

    def __init__(self, fn, backend: str = "native", dynamic_axes=None, input_names=None, max_traces: int = 8):
        if backend not in BACKENDS:
            raise ExporterError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        if max_traces < 1:
            raise ExporterError(f"max_traces must be at least 1, got {max_traces}")
        self.fn, self.backend, self.dynamic_axes = fn, backend, dict(dynamic_axes or {})
        self.input_names = list(input_names) if input_names else None
        self.max_traces = max_traces
        self.traces = 0          # how many times fn was traced and compiled
        self._cache: OrderedDict = OrderedDict()  # input signature -> Compiled
        self._last = None        # (signature, Compiled, (dtype, shape) per array or None) of the latest call
        self._fast = None        # (the latest form's fastcall Caller, that Compiled), where it has one
        self._arity = _arity(fn)  # inspect is slow: read the parameters once, not per call
        self._names_by_count: dict = {}
        self.__name__ = getattr(fn, "__name__", "hybrid")
        self.__qualname__ = getattr(fn, "__qualname__", self.__name__)
        self.__doc__ = getattr(fn, "__doc__", None)
        self.__wrapped__ = fn

    # the most recent compiled form (what exporter.export or a user inspecting `fast.model` wants)
    @property
    def model(self) -> onnx.ModelProto | None:
        return self._last[1].model if self._last else None

    @property
    def _runner(self):
        return self._last[1].runner if self._last else None

    def _names(self, count: int) -> list[str]:
        if count not in self._names_by_count:
            self._names_by_count[count] = self.input_names[:count] if self.input_names else \
                input_names_of(self.fn, count)
        return self._names_by_count[count]

    def signature(self, args) -> tuple:
        """The cache key of a call: per input (dtype, rank, size or None for each axis)."""
        low, high = self._arity
        if not low <= len(args) <= high:
            names = self._names(high if high < 1 << 30 else len(args))
            raise InputError(f"{self.__name__} takes {low if low == high else f'{low} to {high}'} input(s) "
                             f"({', '.join(names)}), got {len(args)}")
        names = self._names(len(args))
        # with dynamic_axes there is one compiled form for all sizes: the first call fixes the ranks
        # (a new dtype still compiles another form, as jax.jit does)
        fixed = next(iter(self._cache), None) if self.dynamic_axes else None
        key = []
        for k, (name, a) in enumerate(zip(names, args)):
            dtype = getattr(a, "dtype", None)
            if dtype is None or type(a) is not np.ndarray:
                a = np.asarray(a)
                dtype = a.dtype
            if dtype not in dtypes.TRACED:
                raise InputError(f"input '{name}': dtype {dtype} is not supported ({dtypes.listing(dtypes.TRACED)})")
            shape = list(a.shape)
            for axis in self.dynamic_axes.get(name, {}):
                if not -len(shape) <= int(axis) < len(shape):
                    raise InputError(f"input '{name}': axis {axis} is dynamic, but the input has rank "
                                     f"{len(shape)} (shape {tuple(shape)})")
            if fixed is not None and k < len(fixed) and len(shape) != len(fixed[k][1]):
                raise InputError(f"input '{name}': expected {len(fixed[k][1])} dimensions, got {len(shape)} "
                                 f"(shape {tuple(shape)})")
            for axis in self.dynamic_axes.get(name, {}):
                shape[int(axis)] = None
            key.append((dtype.str, tuple(shape)))
        return tuple(key)

    def _remember(self, key, compiled: Compiled, spec) -> None:
        """Make `compiled` the latest form (the fast paths of __call__ try it first)."""
        self._last = (key, compiled, spec)
        caller = getattr(compiled.runner, "_caller", None)  # a NativeModel's, when the extension is built
        self._fast = (caller, compiled) if caller is not None else None

    def _call_fast(self, args):
        """The fastest path (~0.45 us over the run): the C Caller runs arrays of exactly the dtypes and shapes
        the latest form last ran with (such arrays have that form's signature). None for anything else."""
        fast = self._fast
        if fast is not None:
            outputs = fast[0](args)
            if outputs is not None:
                return fast[1].structured(outputs)
        return None

    def __call__(self, *args):
        if self._fast is not None:
            result = self._call_fast(args)
            if result is not None:
                return result
        last = self._last
        # the fast path (a few hundred ns): arrays of exactly the dtypes and shapes of the previous call
        if last is not None and last[2] is not None and len(args) == len(last[2]):
            for a, (dtype, shape) in zip(args, last[2]):
                if type(a) is not np.ndarray or a.dtype is not dtype or a.shape != shape:
                    break
            else:
                return last[1](args)
        key = self.signature(args)
        if last is not None and last[0] == key:
            compiled = last[1]
        else:
            compiled = self._cache.get(key)
            if compiled is None:
                compiled = self._compile(args, key)
            else:
                self._cache.move_to_end(key)
        arrays = all(type(a) is np.ndarray for a in args)
        self._remember(key, compiled, tuple((a.dtype, a.shape) for a in args) if arrays else None)
        return compiled(args)

    def _compile(self, args, key) -> Compiled:
        arrays = tuple(np.asarray(a) for a in args)
        model = trace(self.fn, arrays, input_names=self.input_names, dynamic_axes=self.dynamic_axes or None,
                      graph_name=getattr(self.fn, "__name__", "model"))
        names = [i.name for i in model.graph.input]
        if self.backend == "native":
            from .native.library import load
            runner = load(model, "hybrid")
        else:
            runner = onnxruntime_runner(model, names)
        compiled = Compiled(model, runner)
        self.traces += 1
        if self.traces == RETRACE_WARNING_AT:
            dims = "" if self.dynamic_axes else "; pass dynamic_axes= to compile one form for all sizes"
            log.warning("exporter: hybridized %s was traced %d times for new input signatures (latest: %s)%s",
                        self.__name__, self.traces, _describe(names, key), dims)
        self._cache[key] = compiled
        while len(self._cache) > self.max_traces:
            self._cache.popitem(last=False)
        return compiled

    def profile(self, *args, repeat: int = 10):
        """Per-step times of the compiled form for these inputs (traced and compiled first if new): one
        warm-up run, then `repeat` recorded runs. Returns a `Profile`: `.rows` slowest first (step, kind,
        ONNX nodes, seconds and share per run, FLOPs where counted); `print()` it for the table.

        >>> prof = fast.profile(x, repeat=20)       # doctest: +SKIP
        >>> print(prof)                             # doctest: +SKIP
        """
        if self.backend != "native":
            raise ExporterError(f"profile() times the generated native code; {self.__name__} is hybridized with "
                                f"backend={self.backend!r} (use backend='native', or ONNX Runtime's own profiler)")
        key = self.signature(args)
        compiled = self._cache.get(key) or self._compile(args, key)
        self._remember(key, compiled, None)
        return compiled.runner.profile(*args, repeat=repeat)

    def __repr__(self):
        return f"<hybridized {self.__name__} on {self.backend}, {len(self._cache)} compiled form(s)>"


def _arity(fn) -> tuple[int, int]:
    """How many positional inputs `fn` takes: (required, most)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return 0, 1 << 30
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return 0, 1 << 30
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return sum(p.default is p.empty for p in positional), len(positional)


def _describe(names, key) -> str:
    return ", ".join(f"{n}: {np.dtype(d).name}[{', '.join('*' if s is None else str(s) for s in shape)}]"
                     for n, (d, shape) in zip(names, key))


def onnxruntime_runner(model: onnx.ModelProto, names):
    """A function running `model` in an ONNX Runtime session; checks input count, dtypes and shapes."""
    import onnxruntime as ort
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    specs = [(i.name, i.type, i.shape) for i in session.get_inputs()]
    by_ort = {d.ort: d.np for d in dtypes.TABLE}

    def run(*args):
        if len(args) != len(specs):
            raise InputError(f"expected {len(specs)} input(s) ({', '.join(names)}), got {len(args)}")
        feed = {}
        for (name, type_, shape), a in zip(specs, args):
            a = np.asarray(a)
            want = by_ort.get(type_)
            if a.dtype != want:
                raise InputError(f"input '{name}': expected dtype {want or type_}, got {a.dtype}")
            if a.ndim != len(shape) or any(isinstance(d, int) and d != s for d, s in zip(shape, a.shape)):
                raise InputError(f"input '{name}': expected shape {tuple(shape)}, got {a.shape}")
            feed[name] = a
        return session.run(None, feed)
    return run


_onnxruntime_runner = onnxruntime_runner  # the name check.py imports


def hybridize(fn=None, example_inputs=None, backend: str = "native", dynamic_axes=None, input_names=None, *,
              max_traces: int = 8):
    """Return a callable that runs `fn`'s compiled graph in-process (or, with no `fn`, a decorator).

    backend="native" compiles the generated C++ into a shared library (cached on disk by the graph, so the
    same model is compiled once) and calls its C API; "onnxruntime" runs an ONNX Runtime session.
    Without `example_inputs` nothing happens until the first call, which traces at that call's inputs;
    a later call with a new signature (dtype, rank, or size of an axis not in `dynamic_axes`) traces and
    compiles again, keeping up to `max_traces` forms. `dynamic_axes={"x": {0: "batch"}}` makes one
    compiled form serve all sizes of those axes (its ranks are then the first call's: another rank is an
    error; another dtype compiles another form). Unsupported dtypes, a dynamic axis the input lacks or a wrong number of
    inputs raise ValueError (InputError) naming the input.

    >>> import numpy as np, exporter
    >>> @exporter.hybridize(backend="onnxruntime", dynamic_axes={"x": {0: "batch"}})
    ... def double(x):
    ...     return x * 2
    >>> double(np.ones((2, 3), np.float32)).shape, double(np.ones((9, 3), np.float32)).shape, double.traces
    ((2, 3), (9, 3), 1)
    """
    if fn is None:
        return lambda f: hybridize(f, example_inputs, backend, dynamic_axes, input_names, max_traces=max_traces)
    hybrid = Hybrid(fn, backend, dynamic_axes, input_names, max_traces)
    if example_inputs is not None:
        if isinstance(example_inputs, np.ndarray):
            example_inputs = (example_inputs,)
        args = tuple(example_inputs)
        key = hybrid.signature(args)
        hybrid._remember(key, hybrid._compile(args, key), None)
    return hybrid
