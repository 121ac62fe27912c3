"""User-facing errors.

Every error a user can cause derives from `ExporterError`; the CLI prints its message and exits with
`exit_code` instead of a traceback. Messages follow four parts: what happened, where (the user's
file:line), why, and how to fix it.
"""
from __future__ import annotations

import functools
import os
import sys
import traceback

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class ExporterError(Exception):
    """An expected failure caused by the user's model or input; printed without a traceback."""

    exit_code = 2


class ModelLoadError(ExporterError):
    """model.py could not be imported or does not follow the model.py contract."""


class TracingError(ExporterError):
    """The function could not be traced into a static graph (the message names the user's line)."""


class UnsupportedError(ExporterError):
    """A NumPy function, argument or ONNX operator that exporter does not support (yet): a refusal, not a
    bug in the model."""


class InternalError(ExporterError):
    """A bug in exporter itself (an op rule failed on a model it accepted): reported as such, naming the
    node, so that it is never mistaken for a refusal."""

    exit_code = 1


class BuildError(ExporterError):
    """The generated C++ project failed to configure or compile."""


class InputError(ExporterError, ValueError):
    """Arrays passed to a compiled model do not match its inputs (count, dtype or shape)."""


def _is_internal(filename: str) -> bool:
    """Frames inside exporter, NumPy or the standard library are not the user's code."""
    path = os.path.abspath(filename)
    if path.startswith(_PACKAGE_DIR + os.sep):
        return True
    if "site-packages" in path and (os.sep + "numpy" + os.sep) in path:
        return True
    return path.startswith(os.path.dirname(os.__file__)) or filename.startswith("<frozen")


def user_location() -> str | None:
    """`file:line: code` of the innermost stack frame that belongs to the user's code."""
    for frame in reversed(traceback.extract_stack()):
        if not _is_internal(frame.filename):
            code = (frame.line or "").strip()
            where = f"{frame.filename}:{frame.lineno}"
            return f"{where}: in {frame.name}: {code}" if code else f"{where}: in {frame.name}"
    return None


_INTERNAL_CACHE: dict = {}


@functools.lru_cache(maxsize=256)
def _shown_path(filename: str) -> str:
    """The model file as recorded in exported ONNX files: relative to the working directory when it is
    inside it (no home directories or build paths of the exporting machine in the file), else absolute."""
    if filename.startswith("<"):
        return filename
    relative = os.path.relpath(filename)
    return filename if relative.startswith("..") else relative


def user_line() -> str | None:
    """`file:line (in function)` of the innermost user frame: cheap (no source read), recorded on every
    traced ONNX node as its doc_string so that `exporter check --localize` can point at the model's line."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        internal = _INTERNAL_CACHE.get(filename)
        if internal is None:
            internal = _INTERNAL_CACHE[filename] = _is_internal(filename)
        if not internal:
            return f"{_shown_path(filename)}:{frame.f_lineno} (in {frame.f_code.co_name})"
        frame = frame.f_back
    return None


def tracing_error(what: str, fix: str | None = None, cls: type[ExporterError] = TracingError) -> ExporterError:
    """Build a TracingError that names the user's line and says how to fix it."""
    parts = [what]
    where = user_location()
    if where:
        parts.append(f"  at {where}")
    if fix:
        parts.append(f"  fix: {fix}")
    return cls("\n".join(parts))


def excepthook_location(exc: BaseException) -> str | None:
    """The user's frame in the traceback of `exc` (for errors raised by NumPy inside a trace)."""
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        if not _is_internal(frame.filename):
            return f"{frame.filename}:{frame.lineno}: in {frame.name}: {(frame.line or '').strip()}"
    return None


def print_error(exc: ExporterError) -> None:
    print(f"error: {exc}", file=sys.stderr)
