"""hybridize(): trace a NumPy function once and call the compiled graph in its place.

    fast = exporter.hybridize(model, example_inputs)            # native shared library, in-process
    fast = exporter.hybridize(model, example_inputs, backend="onnxruntime")
    y = fast(x)                                                  # same signature, same return structure
"""
from __future__ import annotations

import numpy as np
import onnx

from .errors import ExporterError, InputError
from .tracing import trace
from .tracing.trace import RETURNS_KEY

BACKENDS = ("native", "onnxruntime")


class Hybrid:
    """The compiled form of a function: call it like the function."""

    def __init__(self, fn, model: onnx.ModelProto, backend: str, runner, input_names):
        self.fn, self.model, self.backend = fn, model, backend
        self.input_names = input_names
        self._runner = runner
        props = {p.key: p.value for p in model.metadata_props}
        self._returns = props.get(RETURNS_KEY, "array")
        self.__name__ = getattr(fn, "__name__", "hybrid")
        self.__doc__ = getattr(fn, "__doc__", None)
        self.__wrapped__ = fn

    def __call__(self, *args):
        outputs = self._runner(*args)
        if self._returns == "array":
            return outputs[0]
        return tuple(outputs) if self._returns == "tuple" else list(outputs)

    def __repr__(self):
        return f"<hybridized {self.__name__} on {self.backend}>"


def _onnxruntime_runner(model: onnx.ModelProto, names):
    import onnxruntime as ort
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    specs = [(i.name, i.type, i.shape) for i in session.get_inputs()]
    dtypes = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int32)": np.int32,
              "tensor(int64)": np.int64, "tensor(bool)": np.bool_}

    def run(*args):
        if len(args) != len(specs):
            raise InputError(f"expected {len(specs)} input(s) ({', '.join(names)}), got {len(args)}")
        feed = {}
        for (name, type_, shape), a in zip(specs, args):
            a = np.asarray(a)
            if a.dtype != dtypes[type_]:
                raise InputError(f"input '{name}': expected dtype {np.dtype(dtypes[type_])}, got {a.dtype}")
            if a.ndim != len(shape) or any(isinstance(d, int) and d != s for d, s in zip(shape, a.shape)):
                raise InputError(f"input '{name}': expected shape {tuple(shape)}, got {a.shape}")
            feed[name] = a
        return session.run(None, feed)
    return run


def hybridize(fn, example_inputs, backend: str = "native", dynamic_axes=None, input_names=None) -> Hybrid:
    """Trace `fn` on `example_inputs` and return a callable running the compiled graph in-process.

    backend="native" compiles the generated C++ into a shared library (cached by the graph, so a second
    hybridize of the same model does not rebuild) and calls it through its C API; "onnxruntime" runs the
    ONNX model in an ONNX Runtime session. Wrong dtypes or shapes raise ValueError (InputError)."""
    if backend not in BACKENDS:
        raise ExporterError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if isinstance(example_inputs, np.ndarray):
        example_inputs = (example_inputs,)
    model = trace(fn, tuple(example_inputs), input_names=input_names, dynamic_axes=dynamic_axes,
                  graph_name=getattr(fn, "__name__", "model"))
    names = [i.name for i in model.graph.input]
    if backend == "native":
        from .native.library import load
        runner = load(model, "hybrid")
    else:
        runner = _onnxruntime_runner(model, names)
    return Hybrid(fn, model, backend, runner, names)
