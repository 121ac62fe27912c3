"""Reading and writing ONNX files: atomic saves, external data past 2 GB, one-line summaries."""
from __future__ import annotations

import os
import shutil
import tempfile

import onnx
from onnx import helper

from .errors import ExporterError

# protobuf cannot serialize messages of 2 GiB or more; stay clear of the limit.
EXTERNAL_DATA_THRESHOLD = 2**31 - 2**26


def save_model(model: onnx.ModelProto, path: str) -> list[str]:
    """Write `model` to `path` atomically (temp file, then rename); weights go to `path + '.data'` when the
    model would pass 2 GB. Returns the files written."""
    path = os.path.abspath(path)
    directory = os.path.dirname(path)
    check_output_path(path, "file", os.path.basename(path) + ".onnx")
    os.makedirs(directory, exist_ok=True)
    external = model.ByteSize() >= EXTERNAL_DATA_THRESHOLD
    tmpdir = tempfile.mkdtemp(prefix=".exporter-", dir=directory)
    try:
        tmp = os.path.join(tmpdir, os.path.basename(path))
        data_name = os.path.basename(path) + ".data"
        if external:
            onnx.save_model(model, tmp, save_as_external_data=True, all_tensors_to_one_file=True,
                            location=data_name, size_threshold=1024)
            os.replace(os.path.join(tmpdir, data_name), os.path.join(directory, data_name))
        else:
            onnx.save_model(model, tmp)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return [path] + ([os.path.join(directory, data_name)] if external else [])


def check_output_path(path: str, kind: str, example_name: str = "model.onnx") -> None:
    """Refuse, before any work, an output path that cannot be written as `kind` ("file" or "directory"):
    an existing entry of the other kind, or a parent that is a file or not writable."""
    path = os.path.abspath(path)
    if kind == "file" and os.path.isdir(path):
        raise ExporterError(f"{path} is a directory; give a file path, e.g. {os.path.join(path, example_name)}")
    if kind == "directory" and os.path.exists(path) and not os.path.isdir(path):
        raise ExporterError(f"{path} exists and is not a directory; give a directory path for the C++ project")
    parent = os.path.dirname(path)
    while not os.path.exists(parent):  # the first ancestor that exists must be a writable directory
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise ExporterError(f"cannot write {path}: {parent} is a file, not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ExporterError(f"cannot write {path}: no permission to create files in {parent}")


def load_model(path: str) -> onnx.ModelProto:
    """Load an .onnx file (with its external data), with a clear error for anything unreadable."""
    if not os.path.isfile(path):
        raise ExporterError(f"{path}: no such file")
    try:
        model = onnx.load(path)
    except Exception as exc:
        raise ExporterError(f"{path}: not a readable ONNX model ({type(exc).__name__}: {exc})") from None
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        raise ExporterError(f"{path}: invalid ONNX model: {exc}") from None
    return model


def describe_value(vi: onnx.ValueInfoProto) -> str:
    t = vi.type.tensor_type
    dims = [d.dim_param or str(d.dim_value) if (d.dim_param or d.HasField("dim_value")) else "?"
            for d in t.shape.dim]
    dtype = helper.tensor_dtype_to_np_dtype(t.elem_type).name if t.elem_type else "?"
    return f"{vi.name}: {dtype}[{', '.join(dims)}]"


def summary(model: onnx.ModelProto, path: str | None = None) -> str:
    """inputs, outputs, node count and size on one line."""
    size = sum(os.path.getsize(p) for p in (path, path + ".data") if p and os.path.exists(p)) if path \
        else model.ByteSize()
    ins = ", ".join(describe_value(v) for v in model.graph.input
                    if v.name not in {t.name for t in model.graph.initializer})
    outs = ", ".join(describe_value(v) for v in model.graph.output)
    return f"inputs ({ins}) -> outputs ({outs}); {len(model.graph.node)} nodes; {_human(size)}"


def _human(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def atomic_write_text(path: str, text: str) -> None:
    """Write `path` through a temporary file in the same directory and a rename."""
    import tempfile
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
