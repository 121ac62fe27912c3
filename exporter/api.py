"""exporter.export(): one call for every target; the CLI's `export` command is a thin layer over it."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import numpy as np
import onnx

from .errors import ExporterError

TARGETS = ("onnx", "cpp", "exe", "lib")


@dataclass
class Exported:
    """What `export` wrote: `paths` (files or the project directory), the model's `signature`
    ({"inputs"/"outputs": [{"name", "dtype", "shape"}]}, dynamic dims as their simplified names),
    a one-line `summary`, the directories it had to create, and the ONNX `model`."""
    to: str
    name: str
    paths: list
    signature: dict
    summary: str
    model: onnx.ModelProto = field(repr=False)
    created: list = field(default_factory=list)

    def message(self) -> str:
        """The CLI's summary line."""
        what = {"onnx": "", "cpp": "C++ project ", "exe": "executable ", "lib": "library "}[self.to]
        made = f" (created missing directory {', '.join(self.created)})" if self.created else ""
        return f"wrote {what}{', '.join(self.paths)}: {self.summary}{made}"

    def load(self):
        """The exported library (to="lib") loaded in this process: call it on arrays, or `.profile(...)` it.

        >>> lib = exporter.export(model, x, to="lib").load()     # doctest: +SKIP
        >>> y = lib(x)[0]; print(lib.profile(x, repeat=20))      # doctest: +SKIP
        """
        if self.to != "lib":
            raise ExporterError(f"load() needs an export with to='lib'; this one is to={self.to!r}")
        from .native.library import NativeModel
        return NativeModel(os.path.join(self.paths[0], f"lib{self.name}.so"), self.name)


def check_name(name: str) -> str:
    """`name` if it can prefix C functions, CMake targets and file names; else an ExporterError."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name or ""):
        raise ExporterError(f"--name {name!r} is not a C identifier: use letters, digits and _, not starting "
                            "with a digit (it prefixes the C API, the CMake targets and the file names)")
    if name.startswith("exporter_"):  # the runtime's own symbols
        raise ExporterError(f"--name {name!r} is reserved (exporter's own prefix); choose another")
    return name


def _default_name(source) -> str:
    from .native.cpp import cname
    base = getattr(source, "__name__", None) or "model"
    if isinstance(source, str):
        base = os.path.splitext(os.path.basename(source))[0]
    elif isinstance(source, onnx.ModelProto):
        base = source.graph.name or "model"
    name = cname(base)
    return name if name != "_lambda_" and name.strip("_") else "model"


def _missing_parent(path: str) -> list[str]:
    """[the directory holding `path`] if it does not exist yet (export creates it, and says so)."""
    parent = os.path.dirname(os.path.abspath(path))
    return [] if os.path.exists(parent) else [parent]


def _onnx_signature(model: onnx.ModelProto) -> dict:
    from onnx import helper

    def one(v):
        t = v.type.tensor_type
        dims = tuple(d.dim_param or (d.dim_value if d.HasField("dim_value") else "?") for d in t.shape.dim)
        return {"name": v.name, "dtype": np.dtype(helper.tensor_dtype_to_np_dtype(t.elem_type)).name, "shape": dims}
    return {"inputs": [one(v) for v in model.graph.input], "outputs": [one(v) for v in model.graph.output]}


def default_path(to: str, name: str) -> str:
    """Where `export` writes when no path is given."""
    return {"onnx": f"{name}.onnx", "cpp": f"{name}_cpp", "exe": os.path.join(".", name), "lib": f"{name}_lib"}[to]


def check_path(to: str, path: str, name: str) -> None:
    """Refuse, before any work, a path that cannot be written as this target (a file or a directory)."""
    from .onnx_io import check_output_path
    check_output_path(path, "directory" if to in ("cpp", "lib") else "file", f"{name}.onnx" if to == "onnx" else name)


def export(fn_or_onnx, example_inputs=None, *, to: str = "onnx", path: str | None = None, dynamic_axes=None,
           input_names=None, name: str | None = None, jobs: int | None = None, progress: bool = False,
           arch: str | None = None) -> Exported:
    """Trace a function (or take an ONNX model) and write it as `to`:

    - "onnx": an .onnx file (default `<name>.onnx`)
    - "cpp":  a C++17/CMake project directory (default `<name>_cpp/`)
    - "exe":  a built standalone program (default `./<name>`)
    - "lib":  a directory with `lib<name>.a`, `lib<name>.so` and the C header `<name>.h` (default `<name>_lib/`)

    `fn_or_onnx` is a function (traced on `example_inputs`, with `dynamic_axes`), a hybridized function,
    an `onnx.ModelProto` or the path of an .onnx file. `name` (a C identifier; default from the function
    or file name) prefixes the C API, the CMake targets and the generated files. `arch` (cpp/exe/lib) is the
    CPU the native code is built for: "native" (default: this machine), "x86-64-v4" (AVX-512),
    "x86-64-v3" (AVX2+FMA) or "portable" (the compiler's default target, portable C++ kernels).

    >>> import numpy as np, exporter, tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> out = exporter.export(lambda x: x * 2, (np.ones((2, 3), np.float32),), path=os.path.join(d, "m.onnx"),
    ...                       dynamic_axes={"x": {0: "batch"}})
    >>> out.signature["outputs"][0]["shape"], os.path.basename(out.paths[0])
    (('batch', 3), 'm.onnx')
    """
    from .onnx_io import load_model, save_model, summary
    from .tracing import trace
    if to not in TARGETS:
        raise ExporterError(f"unknown target {to!r}; choose one of {', '.join(TARGETS)}")
    if to != "onnx":
        from .native.target import get as get_arch
        get_arch(arch)  # an unknown name fails before any work
    source = fn_or_onnx
    if isinstance(source, str) and not source.endswith(".onnx"):
        raise ExporterError(f"{source}: expected a function, an onnx.ModelProto or an .onnx file")
    name = check_name(name) if name is not None else _default_name(getattr(source, "__wrapped__", source))
    check_path(to, os.fspath(path) if path is not None else default_path(to, name), name)
    if isinstance(source, (str, onnx.ModelProto)):
        if to == "onnx" and isinstance(source, str):
            raise ExporterError(f"{source} is already ONNX; use to='cpp', 'exe' or 'lib'")
        if example_inputs is not None or dynamic_axes:
            raise ExporterError("example_inputs and dynamic_axes apply to functions, not ONNX models")
        model = load_model(source) if isinstance(source, str) else source
    else:
        hybrid = hasattr(source, "traces")
        fn = source.__wrapped__ if hybrid else source
        if hybrid and dynamic_axes is None:
            dynamic_axes = source.dynamic_axes or None
        if example_inputs is None:
            latest = getattr(source, "model", None)  # a hybridized function that has run: its latest form
            if latest is None:
                raise ExporterError("export needs example_inputs (one array per parameter of the function)")
            model = latest
        else:
            if isinstance(example_inputs, np.ndarray):
                example_inputs = (example_inputs,)
            model = trace(fn, tuple(example_inputs), input_names=input_names, dynamic_axes=dynamic_axes,
                          graph_name=name)
    path = os.fspath(path) if path is not None else default_path(to, name)
    created = _missing_parent(path)
    if to == "onnx":
        written = save_model(model, path)
        return Exported(to, name, written, _onnx_signature(model), summary(model, written[0]), model, created)
    from .native.build import build as native_build, build_executable
    from .native.project import generate_project
    if to == "cpp":
        project = generate_project(model, path, name=name, target=arch)
        return Exported(to, name, [project.directory], project.signature, project.summary(), model, created)
    if to == "exe":
        result = build_executable(model, path, name=name, jobs=jobs, progress=progress, target=arch)
        return Exported(to, name, [os.path.abspath(path)], result.project.signature, result.summary(), model, created)
    result = native_build(model, name, jobs=jobs, progress=progress, target=arch)
    files = {f"lib{name}.a": result.static_library, f"lib{name}.so": result.shared_library,
             f"{name}.h": os.path.join(result.directory, f"{name}.h")}
    staged = {rel: open(src, "rb").read() for rel, src in files.items()}
    from .native.project import MARKER, write_files
    staged[MARKER] = "generated by exporter\n"  # lets a later export replace this directory
    directory = write_files(staged, path)
    for rel in files:
        if rel.startswith("lib"):
            os.chmod(os.path.join(directory, rel), 0o755 if rel.endswith(".so") else 0o644)
    return Exported(to, name, [directory], result.project.signature,
                    result.summary(), model, created)


__all__ = ["Exported", "TARGETS", "check_name", "check_path", "default_path", "export"]
