"""Tracing NumPy functions into ONNX graphs. Importing this package registers every lowering."""
from . import creation, elementwise, indexing, linalg, reductions, shape_ops, sorting  # noqa: F401  (registration)
from .trace import trace

__all__ = ["trace"]
