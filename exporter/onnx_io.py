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


# Declared static dims above this are refused: no real tensor axis is that long, and bounding them keeps
# every size the native backend computes far from int64 overflow (see native/project.py max_dim_bound).
MAX_STATIC_DIM = 2**31 - 1


def load_model(path: str) -> onnx.ModelProto:
    """Load an .onnx file (with its external data), with a clear error for anything unreadable, and
    validate it as untrusted input: opsets this onnx knows, operators with a schema, declared dims in
    range, initializer data matching its shape, unique outputs, external data only from inside the
    model's folder, and ONNX's shape inference in strict mode (every node's shapes agree with its op)."""
    if os.path.isdir(path):
        raise ExporterError(f"{path} is a directory, not an .onnx file")
    if not os.path.isfile(path):
        raise ExporterError(f"{path}: no such file")
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as exc:
        raise ExporterError(f"{path}: not a readable ONNX model ({type(exc).__name__}: {_short(exc)})") from None
    _check_text(model, path)
    # everything that needs no tensor data runs before external data is read (and on a proto below 2 GiB,
    # which the checker and shape inference require)
    external = _external_tensors(model, path)
    try:
        # with external data the checker needs the path (it resolves the data files next to the model)
        onnx.checker.check_model(path if external else model)
    except Exception as exc:
        raise ExporterError(f"{path}: invalid ONNX model: {_short(exc)}") from None
    validate_model(model, path)
    if external:
        _load_external_data(model, path, external)
    return model


def _short(exc) -> str:
    """The first line of an error from onnx/protobuf (some span pages), bounded."""
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= 300 else text[:300] + "..."


def _check_text(message, path: str) -> None:
    """Every string field must be valid UTF-8: protobuf parses invalid bytes lazily and would fail later,
    deep inside the exporter, on the first read of the field."""
    from google.protobuf.descriptor import FieldDescriptor
    stack = [message]
    while stack:
        msg = stack.pop()
        try:
            fields = msg.ListFields()
        except (UnicodeDecodeError, ValueError):
            raise ExporterError(f"{path}: the model contains a name or text that is not valid UTF-8") from None
        for field, value in fields:
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                stack.extend(value if _is_repeated(field) else [value])
            elif field.type == FieldDescriptor.TYPE_STRING:
                try:
                    for text in (value if _is_repeated(field) else [value]):
                        if not isinstance(text, str):  # protobuf hands out bytes it could not decode
                            raise ValueError(text)
                        text.encode("utf-8")
                except (UnicodeDecodeError, UnicodeEncodeError, ValueError):
                    raise ExporterError(f"{path}: the model contains a name or text that is not valid UTF-8") from None


def _is_repeated(field) -> bool:
    return getattr(field, "is_repeated", None) if hasattr(field, "is_repeated") else field.label == field.LABEL_REPEATED


def _external_tensors(model: onnx.ModelProto, path: str) -> list:
    """Tensors stored as external data, after checking that each comes from a regular file inside the
    model's folder (no absolute paths, no '..', no symlinks out of it). Nothing is read yet."""
    from onnx import external_data_helper
    base = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    tensors = [t for t in external_data_helper._get_all_tensors(model) if external_data_helper.uses_external_data(t)]
    for t in tensors:
        location = next((e.value for e in t.external_data if e.key == "location"), "")
        target = os.path.realpath(os.path.join(base, location))
        if (not location or os.path.isabs(location) or ".." in location.replace("\\", "/").split("/")
                or os.path.commonpath([base, target]) != base):
            raise ExporterError(f"{path}: tensor '{t.name}' has external data at {location!r}, outside the model's "
                                "folder; refused (external data must be a file next to the model)")
        if not os.path.isfile(target):
            raise ExporterError(f"{path}: tensor '{t.name}': its external data file {location!r} is missing")
    return tensors


def _load_external_data(model: onnx.ModelProto, path: str, tensors: list) -> None:
    from onnx import external_data_helper
    base = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    try:
        external_data_helper.load_external_data_for_model(model, base)
    except Exception as exc:
        raise ExporterError(f"{path}: cannot read external data ({_short(exc)})") from None
    for t in tensors:
        _check_tensor_size(t, path)


def validate_model(model: onnx.ModelProto, path: str = "the model") -> None:
    from onnx import defs
    g = model.graph
    known = defs.onnx_opset_version()
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx") and o.version > known:
            raise ExporterError(f"{path}: opset {o.version} is newer than the installed onnx knows (up to {known}); "
                                "upgrade onnx or export the model for an older opset")
    if not g.output:
        raise ExporterError(f"{path}: the graph has no outputs")
    initialized = {t.name for t in g.initializer}
    if not [i for i in g.input if i.name not in initialized]:
        raise ExporterError(f"{path}: the graph has no inputs")
    names = [o.name for o in g.output]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ExporterError(f"{path}: output name(s) {', '.join(repr(n) for n in duplicates)} appear more than once")
    local = {(f.domain, f.name) for f in model.functions}
    for node in g.node:
        if (node.domain, node.op_type) not in local and not defs.has(node.op_type, "" if node.domain == "ai.onnx" else node.domain):
            where = f"domain '{node.domain}'" if node.domain else "the default domain"
            raise ExporterError(f"{path}: node '{node.name or node.op_type}' uses the operator '{node.op_type}' of {where}, which ONNX "
                                "does not define")
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        for axis, d in enumerate(vi.type.tensor_type.shape.dim):
            if d.HasField("dim_value") and not 0 <= d.dim_value <= MAX_STATIC_DIM:
                raise ExporterError(f"{path}: '{vi.name}' declares size {d.dim_value} on axis {axis}; sizes must be "
                                    f"from 0 to {MAX_STATIC_DIM}")
    for t in g.initializer:
        _check_tensor_size(t, path)
    try:
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    except Exception as exc:
        raise ExporterError(f"{path}: the shapes do not check: {_short(exc)}") from None


def _check_tensor_size(t: onnx.TensorProto, path: str) -> None:
    """An initializer's data must hold exactly the elements its dims say (raw_data too long or short is
    refused here rather than failing deep inside NumPy)."""
    count = 1
    for d in t.dims:
        if d < 0:
            raise ExporterError(f"{path}: initializer '{t.name}' has a negative dim")
        count *= d
    if t.HasField("raw_data"):
        try:
            itemsize = helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
        except Exception:  # noqa: BLE001 (unknown data_type)
            raise ExporterError(f"{path}: initializer '{t.name}' has unknown data type {t.data_type}") from None
        if t.data_type in (onnx.TensorProto.STRING,):
            return
        bits = {onnx.TensorProto.INT4: 4, onnx.TensorProto.UINT4: 4, onnx.TensorProto.FLOAT4E2M1: 4,  # packed
                onnx.TensorProto.INT2: 2, onnx.TensorProto.UINT2: 2}.get(t.data_type)
        expected = (count * bits + 7) // 8 if bits else count * itemsize
        if len(t.raw_data) != expected:
            raise ExporterError(f"{path}: initializer '{t.name}' has {len(t.raw_data)} bytes of data, its shape "
                                f"{list(t.dims)} needs {expected}")


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
