"""exporter: trace NumPy models into ONNX and standalone native programs.

>>> import numpy as np, exporter
>>> model = exporter.trace(lambda x: np.maximum(x, 0), (np.zeros((2, 3), np.float32),))
>>> model.graph.node[0].op_type
'Max'
"""
__version__ = "0.1.0"

from . import ops  # noqa: E402
from .errors import ExporterError, TracingError, UnsupportedError  # noqa: E402
from .tracing import trace  # noqa: E402
from .hybrid import hybridize  # noqa: E402
from . import nn  # noqa: E402
from .api import Exported, export  # noqa: E402
from .control_flow import cond, fori_loop, scan, while_loop  # noqa: E402


def export_onnx(fn, example_inputs, path, dynamic_axes=None, input_names=None):
    """Trace `fn` and save it as an ONNX file at `path`; returns the ModelProto (see also `export`)."""
    from .onnx_io import save_model
    model = trace(fn, example_inputs, input_names=input_names, dynamic_axes=dynamic_axes)
    save_model(model, path)
    return model


__all__ = ["trace", "cond", "while_loop", "fori_loop", "scan", "export", "Exported", "export_onnx", "hybridize", "nn", "ops", "ExporterError", "TracingError", "UnsupportedError", "__version__"]
