"""Loading model.py files: the model.py contract.

A model.py defines `model` (a callable) and `example_inputs` (a tuple of NumPy arrays, one per
parameter). Optional: `dynamic_axes = {"x": {0: "batch"}}`. `--entry NAME` picks another callable whose
example inputs are `NAME_example_inputs` (or given as .npy files).
"""
from __future__ import annotations

import importlib.util
import inspect
import os
import sys
import traceback
from dataclasses import dataclass, field

import numpy as np

from .errors import ExporterError, ModelLoadError


@dataclass
class ModelSpec:
    """A model ready to trace: callable, example inputs, input names and dynamic axes."""

    fn: object
    example_inputs: list
    input_names: list
    dynamic_axes: dict = field(default_factory=dict)
    path: str = ""

    @property
    def stem(self) -> str:
        return os.path.splitext(os.path.basename(self.path))[0] or "model"


def _import(path: str):
    name = "exporter_user_model_" + os.path.splitext(os.path.basename(path))[0].replace("-", "_")
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None:
        raise ModelLoadError(f"{path}: cannot be imported as a Python module (is it a .py file?)")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))  # let model.py import its neighbours
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise ModelLoadError(f"{exc.filename}:{exc.lineno}: syntax error while importing the model: {exc.msg}") \
            from None
    except Exception as exc:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if os.path.abspath(f.filename) ==
                  os.path.abspath(path)] or traceback.extract_tb(exc.__traceback__)[-1:]
        where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else path
        raise ModelLoadError(f"{where}: importing the model failed: {type(exc).__name__}: {exc}") from None
    finally:
        sys.path.remove(os.path.dirname(os.path.abspath(path)))
    return module


def parse_dynamic(specs) -> dict:
    """['x:0=batch', 'y:1=seq'] -> {'x': {0: 'batch'}, 'y': {1: 'seq'}}."""
    axes: dict = {}
    for spec in specs or []:
        try:
            name, rest = spec.split(":", 1)
            axis, dim = rest.split("=", 1)
            axes.setdefault(name, {})[int(axis)] = dim
        except ValueError:
            raise ExporterError(f"--dynamic {spec!r}: expected INPUT:AXIS=NAME, e.g. x:0=batch") from None
    return axes


def load_inputs(paths) -> list:
    arrays = []
    for p in paths:
        try:
            arrays.append(np.load(p, allow_pickle=False))
        except Exception as exc:
            raise ExporterError(f"{p}: not a readable .npy file ({exc})") from None
    return arrays


def load_model_file(path: str, entry: str | None = None, inputs=None, dynamic=None) -> ModelSpec:
    """Import a model.py and check it follows the contract; `inputs` (.npy paths) and `dynamic`
    (--dynamic specs) override what the file defines."""
    if not os.path.isfile(path):
        raise ModelLoadError(f"{path}: no such file")
    module = _import(path)
    entry_name = entry or "model"
    fn = getattr(module, entry_name, None)
    if fn is None:
        raise ModelLoadError(f"{path}: defines no `{entry_name}`; a model.py must define `{entry_name}` "
                             "(the callable to export)" + ("" if entry else " or pass --entry NAME"))
    if not callable(fn):
        raise ModelLoadError(f"{path}: `{entry_name}` is a {type(fn).__name__}, not a callable")
    if inputs:
        examples = load_inputs(inputs)
    else:
        attr = "example_inputs" if entry_name == "model" else f"{entry_name}_example_inputs"
        if not hasattr(module, attr):
            raise ModelLoadError(f"{path}: defines no `{attr}`; add `{attr} = (np.zeros(...), ...)` with one "
                                 "array per parameter, or pass --inputs a.npy ...")
        examples = getattr(module, attr)
        if isinstance(examples, np.ndarray):
            examples = (examples,)
        if not isinstance(examples, (tuple, list)):
            raise ModelLoadError(f"{path}: `{attr}` must be a tuple of NumPy arrays, not {type(examples).__name__}")
        for i, x in enumerate(examples):
            if not isinstance(x, (np.ndarray, np.generic)):
                raise ModelLoadError(f"{path}: `{attr}`[{i}] is a {type(x).__name__}, not a NumPy array")
        examples = [np.asarray(x) for x in examples]
    names = _check_signature(path, fn, entry_name, len(examples))
    dynamic_axes = dict(getattr(module, "dynamic_axes", None) or {}) if entry_name == "model" else \
        dict(getattr(module, f"{entry_name}_dynamic_axes", None) or {})
    dynamic_axes.update(parse_dynamic(dynamic))
    return ModelSpec(fn, examples, names, dynamic_axes, path)


def _check_signature(path, fn, entry_name, count) -> list:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return [f"x{i}" for i in range(count)]
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    varargs = any(p.kind == p.VAR_POSITIONAL for p in params)
    if count < len(required) or (count > len(positional) and not varargs):
        sig = ", ".join(p.name for p in positional)
        raise ModelLoadError(f"{path}: `{entry_name}({sig})` takes {len(required)}"
                             f"{'' if len(required) == len(positional) else f' to {len(positional)}'} inputs, "
                             f"but {count} example inputs were given")
    return [p.name for p in positional[:count]] + [f"x{i}" for i in range(len(positional), count)]


def load_or_trace(path: str, entry: str | None = None, inputs=None, dynamic=None):
    """(ONNX model, ModelSpec) for MODEL: a model.py traced on its examples, or an .onnx file read as is
    (its ModelSpec is None: there is no Python function to compare with)."""
    if os.path.isdir(path):
        raise ExporterError(f"{path} is a directory; MODEL must be a model.py or an .onnx file")
    if path.lower().endswith(".onnx"):
        if entry:
            raise ExporterError("--entry applies to model.py files, not .onnx files")
        if dynamic:
            raise ExporterError("--dynamic applies to model.py files; an .onnx file declares its own dynamic axes")
        from .onnx_io import load_model
        return load_model(path), None
    from .tracing import trace
    spec = load_model_file(path, entry, inputs, dynamic)
    return trace(spec.fn, spec.example_inputs, spec.input_names, spec.dynamic_axes, graph_name=spec.stem), spec
