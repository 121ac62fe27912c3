"""Writing and building the generated C++ project.

`generate_project` renders templates/ into a self-contained directory (CMake project, C header, model
source, command-line main, weights blob, runtime sources); `build_executable` also configures and
builds it and places the program where the user asked.
"""
from __future__ import annotations

import functools
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import jinja2
import numpy as np
import onnx

from .. import __version__, dtypes
from ..errors import ExporterError, InternalError
from . import dims as D
from . import runtime_values
from .target import get as get_target, vector_isa
from .codegen import ALIGN, CodeGen
from .cpp import c_text as _c_text, cname
from .ir import Graph
from .planner import plan

MARKER = ".exporter-project"  # marks a directory exporter generated (and may therefore replace)


def data_dir(folder: str) -> Path:
    """exporter/templates or exporter/runtime_c (data folders inside the package)."""
    package = Path(__file__).resolve().parents[1]
    if (package / folder).is_dir():
        return package / folder
    raise ExporterError(f"exporter's {folder}/ folder is missing from {package}: reinstall exporter")


# Every file in runtime_c/ travels with each project; every .cpp there but npy.cpp (the program's .npy
# reader) is a kernel source, compiled into the models that call it (kernels_used); every templates/ops/*.j2
# renders one kind of step (_StepTemplates). They are found on disk, so adding a kernel family or a step
# template touches no list.
def runtime_files() -> tuple:
    return tuple(sorted(p.name for p in data_dir("runtime_c").iterdir() if p.suffix in (".h", ".hpp", ".cpp", ".inc")))


# The slowest kernel families to compile (3-11 s of CPU each, the rest 1-2 s) go first: the build tool starts
# sources in list order, and a slow one started last would leave the other core idle at the end.
_COMPILE_FIRST = ("conv.cpp", "pool.cpp", "gemm.cpp", "quant.cpp", "winograd.cpp", "reduce.cpp")


def kernel_sources() -> tuple:
    files = [f for f in runtime_files() if f.endswith(".cpp") and f != "npy.cpp"]
    first = {f: k for k, f in enumerate(_COMPILE_FIRST)}
    return tuple(sorted(files, key=lambda f: (first.get(f, len(first)), f)))


_CALL = re.compile(r"(?<![\w.>])([A-Za-z_]\w*)\s*(?:<[^;(){}]*>)?\s*\(")  # not a member's (x.f(, p->f()
# a definition or explicit instantiation at namespace scope: a line that starts with its return type
_DEFINITION = re.compile(r"^(?:template\s+)?(?:inline\s+|static\s+)?[A-Za-z_][\w:<>,*&\s]*?[\s*&]([A-Za-z_]\w*)"
                         r"\s*(?:<[^;(){}]*>)?\s*\(", re.M)


@functools.lru_cache(maxsize=None)
def _kernel_graph() -> tuple:
    """({name: kernel sources defining it}, {kernel source: kernel sources it calls}) read off runtime_c/: a name the
    headers declare counts as defined where a line starts with a type and then the name (definitions, explicit
    instantiations, and anything that looks alike: a false match only adds a source to a build, never removes one)."""
    runtime = data_dir("runtime_c")
    texts = {f: re.sub(r"//[^\n]*|/\*.*?\*/", "", (runtime / f).read_text(), flags=re.S) for f in kernel_sources()}
    # only the names the headers declare can be called from another file (or from a model)
    headers = "\n".join((runtime / f).read_text() for f in runtime_files() if f.endswith(".h"))
    declared = set(_DEFINITION.findall(headers))
    defined: dict = {}
    for f, text in texts.items():
        for name in {n for n in _DEFINITION.findall(text.replace("\\\n", "\n")) if not n.startswith("__")} & declared:
            defined.setdefault(name, set()).add(f)
    calls = {f: {g for name in set(_CALL.findall(text)) for g in defined.get(name, ()) if g != f}
             for f, text in texts.items()}
    return defined, calls


def kernels_used(source: str) -> tuple:
    """The runtime's kernel sources a generated model `source` needs (in kernel_sources() order): those defining
    the exporter_rt:: functions it calls, the sources those call in turn, and threads.cpp, which the runtime's
    header calls from inline code (parallel_for). A program compiles and links only these (a ResNet 6 of the 14)."""
    defined, calls = _kernel_graph()
    todo = {"threads.cpp"} | {f for name in set(re.findall(r"\bexporter_rt::(\w+)", source))
                              for f in defined.get(name, ())}
    used: set = set()
    while todo:
        f = todo.pop()
        used.add(f)
        todo |= calls[f] - used
    return tuple(f for f in kernel_sources() if f in used)


@functools.lru_cache(maxsize=None)
def _environment() -> jinja2.Environment:
    """One Jinja environment per process: it keeps every template compiled (compiling the ~80 step templates
    again for each model cost ~0.3 s per render, most of a small model's export)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(data_dir("templates"))), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    return env


@dataclass
class Project:
    directory: str
    name: str
    arena_bytes: int
    weights_bytes: int
    nodes: int
    steps: int
    dims: list
    signature: dict | None = None  # {"inputs"/"outputs": [{"name", "dtype", "shape"}]}, dims simplified
    # debug builds (EXPORTER_DUMP): the ONNX value each dump file holds, by file stem ("<k>_<identifier>")
    dumps: dict | None = None
    kernels: tuple = ()  # the runtime's kernel sources the model calls (kernels_used)

    def summary(self) -> str:
        dyn = f", dynamic dims {', '.join(self.dims)} (arena at example sizes)" if self.dims else ""
        return (f"{self.nodes} ONNX nodes -> {self.steps} generated steps; arena {_kib(self.arena_bytes)}, "
                f"weights {_kib(self.weights_bytes)}{dyn}")


def _kib(n: int) -> str:
    return f"{n / 1024:.1f} KiB" if n < 1 << 20 else f"{n / (1 << 20):.1f} MiB"


def render(model: onnx.ModelProto, name: str = "model", example_dims: dict | None = None, target: str | None = None):
    """Everything the project consists of, as {filename: text or bytes}, plus the Project facts.
    `target` (exporter.native.target) sets the CMake project's default -march."""
    name = cname(name)
    graph = Graph(model, name)
    cg = CodeGen(graph, name, isa=vector_isa(get_target(target)))
    try:
        cg.build()
    except ExporterError:
        raise
    except Exception as exc:  # a bug of ours: say so plainly instead of a traceback
        raise InternalError(f"the native backend failed to generate code for this model ({type(exc).__name__}: "
                            f"{exc}); this is a bug in exporter, please report it with the model") from exc
    env_dims = {d: (example_dims or {}).get(d, 1) for d in graph.dim_names}
    env_dims.update({d: 1 for d in [d[0] for d in graph.derived] + sorted(graph.value_syms)})
    buffers, slot_sizes = plan(cg, env_dims)
    planned = {b.var for b in buffers}
    static = all(not isinstance(s, D.Sym) for s in slot_sizes)
    offsets, total = [], 0
    for size in slot_sizes:
        offsets.append(total)
        total = D.add(total, size)
    dumped: dict = {}  # dump file stem -> ONNX value name (filled by _dumps, in step order)
    weights, constants, offset = bytearray(), [], 0
    for var, array in cg.constants:
        offset = (len(weights) + ALIGN - 1) // ALIGN * ALIGN
        weights.extend(b"\0" * (offset - len(weights)))
        weights.extend(np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes())
        constants.append({"var": var, "ctype": cg.ctype(array.dtype), "offset": offset})
    dim_index = {D.cpp_dim_name(d): i for i, d in enumerate(graph.dim_names)}
    values, value_inputs, derived = _runtime_values(graph)

    def signature(value, var):
        # names reach C++ only as escaped string literals (printed through "%s"), never as code or a format
        return {"name": _c_text(value.name), "file": f"output_{graph.outputs.index(value)}.npy" if value.is_output else None,
                "shape_text": _c_text(", ".join(D.text(d) for d in value.shape)),
                "var": var, "ctype": cg.ctype(value.dtype), "dtype": value.dtype.name,
                "itemsize": value.dtype.itemsize,
                "rank": value.rank, "shape": cg.dims(value.shape),
                "dim_refs": [dim_index.get(d.cpp, -1) if isinstance(d, D.Sym) else -1
                             for d in value.shape],
                "static_shape": [-1 if isinstance(d, D.Sym) else int(d) for d in value.shape]}

    data = {
        "name": name, "graph_name": _c_text(model.graph.name or name), "version": __version__,
        "dims": [{"name": _c_text(d), "cpp": D.cpp_dim_name(d),
                  "result": graph.result_dims.index(d) if d in graph.result_dims else None}
                 for d in graph.dim_names + [d[0] for d in graph.derived]],
        "num_results": len(graph.result_dims),
        "num_input_dims": len(graph.dim_names), "values": values, "value_inputs": value_inputs, "derived": derived,
        "value_input_indices": [vi["index"] for vi in value_inputs],
        "inputs": [signature(v, cg.var(v)) for v in graph.inputs],
        "outputs": [signature(v, cg.output_vars[v]) for v in graph.outputs],
        "constants": constants, "weights_size": len(weights),
        "buffers": [{"var": b.var, "ctype": b.ctype, "slot": b.slot} for b in buffers],
        "unused_scratch": [{"var": var, "ctype": cg.ctype(node.inputs[0].dtype)} for node, var in cg.scratch_vars.items()
                           if var not in planned],
        "max_dim": max_dim_bound(graph, slot_sizes, offsets, total),
        "constraints": [{"a": D.cpp(a), "b": D.cpp(b), "what": _c_text(what),
                         "guard": None if not isinstance(g, D.Sym) and g != 0 else D.cpp(g)}
                        for a, b, what, g in graph.constraints],
        "static_plan": static, "slot_sizes": [D.cpp(s) for s in slot_sizes],
        "offsets": [D.cpp(o) for o in offsets], "arena_size": D.cpp(total),
        # per arena slot, the buffers sharing it (live at different times): plan() sizes it as their max
        "slots": [[{"var": b.var, "size": D.cpp(b.size)} for b in buffers if b.slot == k]
                  for k in range(len(slot_sizes))],
        "steps": [dict(s.data, comment=_comment(s), dumps=_dumps(s, cg, dumped), first_node=first,
                       nodes=[{"op": _c_text(n.op), "name": _c_text(n.name)} for n in s.nodes])
                  for s, first in zip(cg.steps, _running_sum(len(s.nodes) for s in cg.steps))],
        "num_step_nodes": sum(len(s.nodes) for s in cg.steps),
    }
    try:
        files, kernels = _render_templates(name, data, get_target(target))
    except jinja2.TemplateError as exc:  # a step's data does not match its template: a bug of ours
        raise InternalError(f"rendering the C++ failed ({type(exc).__name__}: {exc}); this is a bug in exporter, "
                            "please report it with the model") from exc
    files["weights.bin"] = bytes(weights)
    files.update(_runtime_sources())
    facts = Project("", name, int(D.evaluate(total, env_dims)), len(weights), len(graph.nodes), len(cg.steps),
                    list(graph.dim_names), {
                        side: [{"name": v.name, "dtype": v.dtype.name,
                                "shape": tuple(D.text(d) if isinstance(d, D.Sym) else int(d) for d in v.shape)}
                               for v in values]
                        for side, values in (("inputs", graph.inputs), ("outputs", graph.outputs))})
    facts.dumps = dumped
    facts.kernels = kernels
    return files, facts



def _runtime_values(graph: Graph):
    """Template data for shape-defining inputs read at run time (see runtime_values): the element variables
    ([{cpp}], their slots in the context), per such input what to read and check, and the dims that follow."""
    values, value_inputs = [], []
    for k, value in enumerate(graph.inputs):
        if value.runtime is None or not value.uses:
            continue
        slots = []
        for sym in value.runtime:
            slots.append(len(values))
            values.append({"cpp": D.cpp(sym)})
        checks = []
        for c in runtime_values.checks(value):
            bad = [f"v < {c['lo']}"] if c["lo"] else []
            bad += [f"v > {c['hi']}"] if c["hi"] else []
            bad += ["v == 0"] if c["nonzero"] else []
            checks.append({"slot": slots[c["element"]], "element": c["element"], "bad": " || ".join(bad) or "false",
                           "clamp": c["clamp"], "what": _c_text(c["what"])})
        value_inputs.append({"index": k, "ctype": dtypes.ctype(value.dtype), "checks": checks,
                             "float": runtime_values.is_float(value.dtype), "real": runtime_values.read_as_real(value),
                             "elements": [{"slot": s, "element": i} for i, s in enumerate(slots)]})
    derived = [{"cpp": D.cpp_dim_name(name), "index": len(graph.dim_names) + i, "expr": D.cpp(expr),
                "what": _c_text(node.describe()), "output": _c_text(out), "axis": axis, "checks": []}
               for i, (name, expr, node, out, axis) in enumerate(graph.derived)]
    # values computed from them that ops read: checked where they fall among the derived dims (they may use
    # the dims before them), those after the last dim with an empty entry of their own
    tail = {"cpp": None, "checks": []}
    for c in graph.value_checks:
        bad = [f"v < {c['lo']}"] if c["lo"] else []
        bad += [f"v > {c['hi']}"] if c["hi"] else []
        bad += ["v == 0"] if c["nonzero"] else []
        entry = derived[c["position"]] if c["position"] < len(derived) else tail
        entry["checks"].append({"expr": D.cpp(c["expr"]), "bad": " || ".join(bad) or "false", "what": _c_text(c["what"])})
    if tail["checks"]:
        derived.append(tail)
    return values, value_inputs, derived


def _dumps(step, cg: CodeGen, dumped: dict) -> list:
    """What a debug build (-DEXPORTER_DUMP=ON, run with EXPORTER_DUMP_DIR set) writes after `step`: every
    value the step writes. A fused elementwise group writes only the values read after it (often just its
    last one), so values inside a group, views (Reshape, ...) and export-time constants have no file."""
    out = []
    for value in step.writes:
        if value.known is not None:
            continue  # shape arithmetic filled in at run time: not a node's computed data
        stem = f"{len(dumped)}_{cname(value.name)}"
        dumped[stem] = value.name
        out.append({"file": stem, "var": cg.var(value), "descr": dtypes.by_name(value.dtype).descr,
                    "shape": cg.dims(value.shape) or ["0"], "rank": value.rank, "itemsize": value.dtype.itemsize})
    return out


# Sizes the generated code computes stay below this (bytes or elements): 2^62 leaves room for the
# alignment, itemsize and loop-index arithmetic done on top of them in int64_t.
SIZE_LIMIT = 1 << 56
MAX_DIM = (1 << 31) - 1


def max_dim_bound(graph: Graph, slot_sizes, offsets, total) -> int:
    """The largest value every dynamic dim may take at run time such that no tensor size, arena slot,
    offset or total overflows: found at export time with Python's exact integers (sizes grow with the
    dims, so checking all dims at the bound covers every smaller size). 0 dims: the bound is moot."""
    names = list(graph.dim_names) + [d[0] for d in graph.derived]
    if not names:
        return MAX_DIM
    # element variables of run-time values enter only the dims derived from them, which are bounded
    names += sorted(graph.value_syms)
    exprs = list(slot_sizes) + list(offsets) + [total]
    for value in graph.values.values():
        exprs.append(D.mul(value.numel, max(1, value.dtype.itemsize)))

    def fits(m: int) -> bool:
        env = {d: m for d in names}
        try:
            return all(abs(D.evaluate(e, env)) <= SIZE_LIMIT for e in exprs)
        except (ArithmeticError, ValueError):
            return False

    bound = MAX_DIM
    while bound > 1 and not fits(bound):
        bound //= 2
    if not fits(bound):
        raise ExporterError("the model's sizes overflow even with every dynamic dim at 1; it cannot be planned")
    return bound


def _running_sum(counts) -> list[int]:
    """[0, c0, c0 + c1, ...]: where each step's nodes start in the flat node tables."""
    out, total = [], 0
    for c in counts:
        out.append(total)
        total += c
    return out


def _comment(step) -> str:
    return "; ".join(f"{n.op} '{_c_text(n.name)}'" for n in step.nodes) or "fill in run-time shape values"


class _StepTemplates(dict):
    """templates/ops/<name>.j2 as a module, by name, compiled on first use (the ~60 of them cost ~1 s to compile,
    most of a CLI export's rendering, and a model uses a few)."""

    def __init__(self, env: jinja2.Environment):
        super().__init__()
        self.env = env

    def __missing__(self, name: str):
        self[name] = module = self.env.get_template(f"ops/{name}.j2").module
        return module


def _render_templates(name: str, data: dict, target) -> tuple:
    """The generated files ({name: text}) and the runtime kernel sources they call."""
    env = _environment()
    ops = _StepTemplates(env)
    header = env.get_template("model.h.j2").render(**data)
    # the C API as declared in the header: the only symbols the shared library exports
    data["api"] = sorted(set(re.findall(rf"\b({re.escape(name)}_\w+)\s*\(", header)))
    source = env.get_template("model.cpp.j2").render(ops=ops, **data)
    main = env.get_template("main.cpp.j2").render(**data)
    kernels = kernels_used(source + main)
    return {
        f"{name}.h": header,
        f"{name}.cpp": source,
        "main.cpp": main,
        "CMakeLists.txt": env.get_template("CMakeLists.txt.j2").render(kernel_sources=kernels, target=target,
                                                                      runtime_key=_runtime_key(target, kernels), **data),
        "weights.S": env.get_template("weights.S.j2").render(**data),
        MARKER: f"generated by exporter {__version__}\n",
    }, kernels


def _runtime_key(target, kernels: tuple) -> str:
    """Names the kernels' CMake target: projects of one parent build (add_subdirectory of several models) that
    carry the same runtime for the same -march and call the same kernel sources share one compiled copy of it."""
    from .build import files_key  # (build imports this module)
    return files_key(_runtime_sources(), f"{target.march} {' '.join(kernels)}")[:12]


def _runtime_sources() -> dict:
    """{"runtime/<file>": text} of every runtime_c/ file, as a project holds them."""
    runtime = data_dir("runtime_c")
    return {f"runtime/{f}": (runtime / f).read_text() for f in runtime_files()}


def render_runtime(target: str | None = None) -> dict:
    """The runtime kernels as a CMake project of their own ({filename: text}), compiled with the settings of
    every exported project for `target`: exporter builds it once into its cache and links its objects into
    the programs it builds (see build.prebuilt_runtime)."""
    files = _runtime_sources()
    files["CMakeLists.txt"] = _environment().get_template("runtime_CMakeLists.txt.j2").render(
        kernel_sources=kernel_sources() + ("npy.cpp",), target=get_target(target), version=__version__)
    files[MARKER] = f"generated by exporter {__version__}\n"
    return files


def generate_project(model: onnx.ModelProto, directory: str, name: str = "model", target: str | None = None) -> Project:
    """Write the C++ project for `model` into `directory` (replaced as a whole, atomically)."""
    files, facts = render(model, name, target=target)
    facts.directory = write_files(files, directory)
    return facts


def write_files(files: dict, directory: str) -> str:
    """Write `files` as the directory `directory` via a temporary sibling and a rename. An existing
    directory is replaced only if exporter generated it; its build/ cache is kept."""
    directory = os.path.abspath(directory)
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise ExporterError(f"{directory} exists and is not a directory")
    if os.path.isdir(directory) and os.listdir(directory) and not os.path.exists(os.path.join(directory, MARKER)):
        raise ExporterError(f"{directory} exists and was not generated by exporter; choose another output directory")
    parent = os.path.dirname(directory)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".exporter-", dir=parent)
    try:
        for rel, content in files.items():
            path = os.path.join(tmp, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb" if isinstance(content, bytes) else "w") as f:
                f.write(content)
        if os.path.isdir(directory):
            build = os.path.join(directory, "build")
            if os.path.isdir(build):
                os.replace(build, os.path.join(tmp, "build"))
            shutil.rmtree(directory)
        os.replace(tmp, directory)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return directory
