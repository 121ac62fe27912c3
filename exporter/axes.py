"""Axis arguments, as NumPy and ONNX define them: -rank <= axis < rank, negative counts from the end
(a 0-d array also accepts axis 0, which the ops that flatten their input use)."""
from __future__ import annotations

from .errors import ExporterError


def norm_axis(axis: int, rank: int, error=ExporterError) -> int:
    """`axis` as a non-negative index; `error(message)` is raised when it is out of range.

    >>> norm_axis(-1, 3)
    2
    """
    if not -rank <= axis < max(rank, 1):
        raise error(f"axis {axis} is out of bounds for an array of dimension {rank}")
    return axis % rank if rank else 0
