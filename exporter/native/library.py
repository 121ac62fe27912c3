"""In-process use of generated models: compile to a shared library and call its C API through ctypes.

This is the quick path used by `exporter.hybridize`, `exporter.backend` and the tests: the runtime kernels
are compiled once per compiler and flags into a cached static library, and each model is then a single
compiler call (its generated source, the .incbin weights, that library). Many models compile in
parallel. Results are cached by the hash of the generated sources.
"""
from __future__ import annotations

import contextlib
import ctypes
import importlib.machinery
import importlib.util
import logging
import os
import shutil
import subprocess
import sys
import sysconfig
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import onnx

from .. import dtypes
from ..errors import BuildError, ExporterError, InputError
from .build import Locked, cache_root, files_key, record_entry, run_tool, touch_entry
from .project import data_dir, kernel_sources, render, runtime_files, write_files
from .target import get as get_target

BASE_FLAGS = ["-std=c++17", "-O3", "-fPIC", "-DNDEBUG"]
_flags_cache: dict = {}
log = logging.getLogger("exporter")


def compiler_flags(cxx: str) -> list[str]:
    """BASE_FLAGS plus -march for the in-process target (this machine) and -pthread (the runtime's worker
    threads) where the compiler takes them."""
    if cxx not in _flags_cache:
        flags = list(BASE_FLAGS)
        for extra in (f"-march={get_target('native').march}", "-pthread"):
            probe = subprocess.run([cxx, *flags, extra, "-x", "c++", "-shared", "-o", os.devnull, "-"],
                                   input="int probe() { return 0; }\n", text=True,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if probe.returncode == 0:
                flags.append(extra)
        _flags_cache[cxx] = flags
    return _flags_cache[cxx]


def find_compiler() -> str:
    for candidate in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        path = candidate and shutil.which(candidate)
        if path:
            return path
    raise BuildError("no C++ compiler found: install g++ or clang++ (or set CXX)")


def _compiler_id(cxx: str) -> str:
    out = subprocess.run([cxx, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True).stdout
    return out.splitlines()[0] if out else cxx


# Every generated model includes the same headers (the C++ library's and exporter_runtime.h: ~90k lines), whose
# parsing is ~80% of a small model's compile time. They are precompiled once per runtime into the runtime's cache
# directory (include/, a copy of runtime_c's headers with PCH_HEADER and its precompiled form beside it), and models
# compile with `-include PCH_HEADER` from there: 0.3 s instead of 1.3 s of CPU for a small model. A compiler that
# rejects the precompiled file (or one that failed to build) parses the header instead: same result, slower.
PCH_HEADER = "exporter_pch.h"
PCH_INCLUDES = ("sys/stat.h", "unistd.h", "algorithm", "cerrno", "chrono", "climits", "cmath", "cstdarg", "cstdint",
                "cstdio", "cstdlib", "cstring", "limits", "new", "string", "vector")


def _pch_suffix(cxx: str) -> str:
    return ".pch" if "clang" in _compiler_id(cxx).lower() else ".gch"


def runtime_library() -> str:
    """libexporter_rt.a for this compiler and flags, built once into the cache (with its precompiled headers
    in include/ beside it: runtime_include())."""
    cxx = find_compiler()
    sources = data_dir("runtime_c")
    flags = compiler_flags(cxx)
    key = files_key({f: (sources / f).read_bytes() for f in runtime_files()}, _compiler_id(cxx) + " ".join(flags))
    directory = os.path.join(cache_root(), f"runtime-{key[:16]}")
    lib = os.path.join(directory, "libexporter_rt.a")
    include = os.path.join(directory, "include")
    os.makedirs(directory, exist_ok=True)
    with Locked(directory + ".lock"):
        if not os.path.exists(lib):
            # one compiler per core, the slowest sources first (kernel_sources' order)
            objects = [os.path.join(directory, f[:-4] + ".o") for f in kernel_sources()]
            with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
                for done in [pool.submit(run_tool, [cxx, *flags, "-c", str(sources / f), "-o", o], directory,
                                         "compiling the runtime") for f, o in zip(kernel_sources(), objects)]:
                    done.result()
            run_tool(["ar", "rcs", lib + ".tmp", *objects], directory, "archiving the runtime")
            os.replace(lib + ".tmp", lib)
        if not os.path.exists(os.path.join(include, PCH_HEADER)):
            _precompile_headers(cxx, flags, sources, include)
            record_entry(directory)
        else:
            touch_entry(directory)
    return lib


def runtime_include(lib: str) -> str:
    """The runtime's headers (and precompiled PCH_HEADER) beside `lib` (runtime_library())."""
    return os.path.join(os.path.dirname(lib), "include")


def _precompile_headers(cxx: str, flags: list, sources, include: str):
    staging = include + ".tmp"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    for f in runtime_files():
        if not f.endswith(".cpp"):
            shutil.copyfile(sources / f, os.path.join(staging, f))
    header = os.path.join(staging, PCH_HEADER)
    with open(header, "w") as out:
        out.write("// What every generated model includes, precompiled once (exporter/native/library.py)\n")
        out.writelines(f"#include <{h}>\n" for h in PCH_INCLUDES)
        out.write('#include "exporter_runtime.h"\n#include "npy.h"\n')
    built = subprocess.run([cxx, *flags, "-x", "c++-header", header, "-o", header + _pch_suffix(cxx)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if built.returncode != 0:  # models then parse the header: slower, the same code
        log.debug("exporter: precompiling the runtime headers failed, models parse them:\n%s", built.stdout)
        with contextlib.suppress(OSError):
            os.remove(header + _pch_suffix(cxx))
    shutil.rmtree(include, ignore_errors=True)
    os.replace(staging, include)


# ---- the fastcall extension -------------------------------------------------------------------------------
# fastcall.c is a small CPython extension that does NativeModel's per-call work (input checks, fresh outputs,
# the run) in C: ~0.5 us over the run instead of ~4 us through Python and ctypes. It is compiled on first use,
# once per Python ABI, NumPy and C compiler, into the cache; where it cannot be built (no Python headers, no
# compiler) NativeModel keeps the ctypes path. EXPORTER_NO_FASTCALL=1 turns it off.
_fastcall_state: dict = {}
_fastcall_lock = threading.Lock()


def _c_compiler() -> list[str]:
    """A C compiler command: $CC, cc, gcc or clang, else the C++ compiler told the source is C."""
    for candidate in (os.environ.get("CC"), "cc", "gcc", "clang"):
        path = candidate and shutil.which(candidate)
        if path:
            return [path]
    return [find_compiler(), "-x", "c"]


def _build_fastcall() -> str:
    """The extension's path in the cache, compiled there if new."""
    source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fastcall.c")
    python_include = sysconfig.get_paths()["include"]
    if not os.path.exists(os.path.join(python_include, "Python.h")):
        raise BuildError(f"no Python.h in {python_include} (install the Python development headers)")
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    cc = _c_compiler()
    flags = ["-O2", "-fPIC", "-shared", "-I", python_include, "-I", np.get_include()]
    with open(source, "rb") as f:
        code = f.read()
    salt = " ".join([sys.implementation.cache_tag, suffix, np.__version__, _compiler_id(cc[0]), *cc[1:], *flags])
    directory = os.path.join(cache_root(), f"fastcall-{files_key({'fastcall.c': code}, salt)[:16]}")
    path = os.path.join(directory, "_fastcall" + suffix)
    os.makedirs(directory, exist_ok=True)
    with Locked(directory + ".lock"):
        if not os.path.exists(path):
            run_tool([*cc, *flags, source, "-o", path + ".tmp"], directory, "compiling the fastcall extension")
            os.replace(path + ".tmp", path)
            record_entry(directory)
        else:
            touch_entry(directory)
    return path


def fastcall_module():
    """The loaded fastcall extension, or None where it cannot be built (logged at debug level) or
    $EXPORTER_NO_FASTCALL is set. Built and loaded once per process."""
    if os.environ.get("EXPORTER_NO_FASTCALL", "").strip() not in ("", "0"):
        return None
    with _fastcall_lock:
        if "module" not in _fastcall_state:
            module = None
            try:
                spec = importlib.util.spec_from_file_location("exporter.native._fastcall", _build_fastcall())
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
            except Exception as exc:  # noqa: BLE001 (any failure leaves the ctypes path, which works everywhere)
                log.debug("exporter: no fastcall extension, native models are called through ctypes: %s", exc)
                module = None
            _fastcall_state["module"] = module
        return _fastcall_state["module"]


def compile_models(models: dict, jobs: int | None = None) -> dict:
    """{name: ModelProto} -> {name: path of the shared library, or the exception that stopped it}.
    Render errors (unsupported ops) and compile errors are reported per model."""
    runtime = runtime_library()
    cxx = find_compiler()

    def one(item):
        name, model = item
        try:
            return name, _compile_one(model, name, cxx, runtime)
        except ExporterError as exc:
            return name, exc

    with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 2) as pool:
        return dict(pool.map(one, models.items()))


def _compile_one(model: onnx.ModelProto, name: str, cxx: str, runtime: str) -> str:
    files, facts = render(model, name)
    # the runtime library's path already names its sources and flags
    key = files_key(files, runtime, skip=lambda rel: rel.startswith("runtime/") or rel in ("main.cpp", "CMakeLists.txt"))
    directory = os.path.join(cache_root(), f"lib-{facts.name}-{key}")
    lib = os.path.join(directory, f"lib{facts.name}.so")
    if os.path.exists(lib):
        touch_entry(directory)
        return lib
    with Locked(directory + ".lock"):
        if os.path.exists(lib):
            touch_entry(directory)
            return lib
        write_files(files, directory)
        # the model's code against the runtime's headers in the cache, where they are precompiled (the project's
        # runtime/ holds the same files); then the library, with the weights' assembler file
        weights = f"-DEXPORTER_WEIGHTS_FILE=\"{os.path.join(directory, 'weights.bin')}\""
        run_tool([cxx, *compiler_flags(cxx), "-c", "-I", directory, "-I", runtime_include(runtime), "-include",
                  PCH_HEADER, f"{facts.name}.cpp", "-o", f"{facts.name}.o"], directory, f"compiling {facts.name}")
        run_tool([cxx, *compiler_flags(cxx), "-shared", weights, f"{facts.name}.o", "weights.S", runtime,
                  "-o", lib + ".tmp"], directory, f"linking {facts.name}")
        os.remove(os.path.join(directory, f"{facts.name}.o"))
        os.replace(lib + ".tmp", lib)
        record_entry(directory)
    return lib


MAX_INPUT_BYTES = 1 << 56  # the C API's kMaxInputBytes


@dataclass(frozen=True)
class ProfileRow:
    """One generated step in a profile: `step` (its index in run order), `kind` (kernel family: "conv",
    "matmul", "elementwise", ...), `nodes` ((op type, node name) of each ONNX node fused into it),
    `seconds` (mean time per run), `share` (of the sum over steps, 0..1) and `flops` per run (None where
    not counted; Conv, ConvTranspose, Gemm and MatMul steps are)."""
    step: int
    kind: str
    nodes: tuple
    seconds: float
    share: float
    flops: float | None

    @property
    def gflops(self) -> float | None:
        """Achieved GFLOP/s, where the step's FLOPs are counted."""
        return self.flops / self.seconds * 1e-9 if self.flops is not None and self.seconds > 0 else None


@dataclass(frozen=True)
class Profile:
    """Per-step times of `runs` runs (after a warm-up run): `rows` slowest first; `str()` is the table the
    generated program prints with --profile."""
    runs: int
    rows: list
    table: str = field(repr=False)

    @property
    def seconds(self) -> float:
        """Time per run, summed over the steps."""
        return sum(r.seconds for r in self.rows)

    def __str__(self) -> str:
        return self.table


class _ProfileRecord(ctypes.Structure):  # <name>_profile_record of the C API
    _fields_ = [("kind", ctypes.c_char_p), ("num_nodes", ctypes.c_int),
                ("node_ops", ctypes.POINTER(ctypes.c_char_p)), ("node_names", ctypes.POINTER(ctypes.c_char_p)),
                ("runs", ctypes.c_longlong), ("seconds", ctypes.c_double), ("flops", ctypes.c_double)]


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")  # the exact bytes of the name in the ONNX file



class NativeModel:
    """A compiled model loaded in this process: `model(*arrays)` returns a list of NumPy arrays.

    Calls go through the fastcall extension where it is available (`fastcall=False` or
    $EXPORTER_NO_FASTCALL=1 turn it off): arrays of exactly the input dtypes (native byte order), C-contiguous
    and aligned, in the shapes of the previous call, run from C. Any other call takes the Python path below,
    which coerces, checks and reports errors, prepares new shapes and re-arms the extension's Caller."""

    def __init__(self, path: str, name: str, fastcall: bool = True):
        self.path, self.name = path, name
        lib = self._lib = ctypes.CDLL(path)

        def fn(suffix, restype, *argtypes):
            f = getattr(lib, f"{name}_{suffix}")
            f.restype, f.argtypes = restype, list(argtypes)
            return f

        p, i, i64p = ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int64)
        self._create = fn("create", p)
        self._destroy = fn("destroy", None, p)
        self._run = fn("run", i, p, p, p)
        self._last_error = fn("last_error", ctypes.c_char_p, p)
        self._set_input_shape = fn("set_input_shape", i, p, i, i64p, i)
        self._output_shape = fn("output_shape", i, p, i, i64p)
        self._set_input_data = fn("set_input_data", i, p, i, p)
        self._max_dim = fn("max_dim", ctypes.c_int64, p)
        self.set_num_threads = fn("set_num_threads", None, i)
        self._num_steps = fn("num_steps", i)
        self._profile_enable = fn("profile_enable", i, p, i)
        self._profile_step = fn("profile_step", i, p, i, ctypes.POINTER(_ProfileRecord))
        self._profile_report = fn("profile_report", i, p, ctypes.c_char_p, ctypes.c_size_t,
                                  ctypes.POINTER(ctypes.c_size_t))
        text = lambda suffix, k: fn(suffix, ctypes.c_char_p, i)(k).decode()  # noqa: E731
        n_in, n_out = fn("num_inputs", i)(), fn("num_outputs", i)()
        self.input_names = [text("input_name", k) for k in range(n_in)]
        self.output_names = [text("output_name", k) for k in range(n_out)]
        self.input_dtypes = [dtypes.by_name(text("input_dtype", k)).np for k in range(n_in)]
        self.output_dtypes = [dtypes.by_name(text("output_dtype", k)).np for k in range(n_out)]
        self.input_ranks = [fn("input_rank", i, i)(k) for k in range(n_in)]
        self.output_ranks = [fn("output_rank", i, i)(k) for k in range(n_out)]
        self._n_in = n_in
        # outputs whose sizes are known only once the model ran: trimmed to the sizes the run reports
        self._results = bool(getattr(self._lib, f"{name}_num_results", None) and fn("num_results", i)())
        # inputs whose values define sizes: given again (and the outputs re-shaped) when their values change
        self._value_inputs = [k for k in range(n_in) if fn("input_sets_shapes", i, i)(k)]
        self._values = None
        self._in_ptrs = (ctypes.c_void_p * max(1, n_in))()
        self._out_ptrs = (ctypes.c_void_p * max(1, n_out))()
        self._shapes = None  # input shapes of the last call; the model keeps its dims between runs
        self._held = [None] * n_in  # the input arrays whose addresses are in _in_ptrs
        self._out_buffers = []
        self._caller = None
        self._ctx = self._create()
        if not self._ctx:
            raise ExporterError(f"{name}: cannot create the model (out of memory)")
        # not for outputs sized by the run or inputs whose values set sizes: those need the Python path's steps
        module = fastcall_module() if fastcall and not self._results and not self._value_inputs else None
        if module is not None:
            address = lambda f: ctypes.cast(f, ctypes.c_void_p).value  # noqa: E731
            self._caller = module.Caller(address(self._run), self._ctx, address(self._last_error),
                                         list(zip(self.input_dtypes, self.input_ranks)),
                                         list(zip(self.output_dtypes, self.output_ranks)), ExporterError)

    def __del__(self):
        caller, self._caller = getattr(self, "_caller", None), None
        if caller is not None:
            caller.close()  # someone may still hold it (Hybrid does): it must not reach the destroyed context
        ctx, self._ctx = getattr(self, "_ctx", None), None
        if ctx:
            self._destroy(ctx)

    @property
    def max_dim(self) -> int:
        """The largest size a dynamic dim may take (the C API's bound; larger sizes raise InputError)."""
        return int(self._max_dim(self._ctx))

    def _error(self) -> str:
        return self._last_error(self._ctx).decode()

    def __call__(self, *arrays):
        caller = self._caller
        if caller is not None:
            outputs = caller(arrays)
            if outputs is not None:
                return outputs
        if len(arrays) != self._n_in:
            raise InputError(f"{self.name} takes {self._n_in} input(s) ({', '.join(self.input_names)}), "
                             f"got {len(arrays)}")
        shapes = []
        held = self._held
        for k, a in enumerate(arrays):
            if type(a) is not np.ndarray or a.dtype != self.input_dtypes[k] or not a.flags.c_contiguous:
                a = self._coerce(k, a)
            shapes.append(a.shape)
            if held[k] is not a:  # reading an array's address costs more than the whole call overhead
                held[k] = a
                self._in_ptrs[k] = a.ctypes.data
        shapes = tuple(shapes)
        values = tuple(held[k].tobytes() for k in self._value_inputs) if self._value_inputs else None
        if shapes != self._shapes or values != self._values:  # new sizes: check them, ask for the output shapes
            self._prepare(shapes)
            self._values = values
        if self._run(self._ctx, self._in_ptrs, self._out_ptrs) != 0:
            raise ExporterError(self._error())
        # outputs are computed into buffers owned here (their addresses are set once) and copied out
        if self._results:
            return [self._written(k, o) for k, o in enumerate(self._out_buffers)]
        return [o.copy() for o in self._out_buffers]

    def _written(self, k, buffer):
        """Output k as the last run wrote it: its first elements, in the shape the run reports."""
        dims = (ctypes.c_int64 * max(1, self.output_ranks[k]))()
        if self._output_shape(self._ctx, k, dims) != 0:
            raise ExporterError(self._error())
        shape = tuple(dims[:self.output_ranks[k]])
        return buffer.reshape(-1)[:int(np.prod(shape, dtype=np.int64))].reshape(shape).copy()

    def profile(self, *arrays, repeat: int = 10) -> Profile:
        """Run on `arrays` once to warm up, then `repeat` times recording each step's time; returns the
        Profile (rows slowest first; print it for the table). The outputs are discarded.

        >>> prof = model.profile(x, repeat=20)       # doctest: +SKIP
        >>> print(prof); prof.rows[0].nodes, prof.rows[0].gflops   # doctest: +SKIP
        """
        if int(repeat) < 1:
            raise ExporterError(f"repeat must be at least 1, got {repeat}")
        self(*arrays)
        self._profile_enable(self._ctx, 1)
        try:
            for _ in range(int(repeat)):
                self(*arrays)
        finally:
            self._profile_enable(self._ctx, 0)
        return self._read_profile()

    def _read_profile(self) -> Profile:
        rec = _ProfileRecord()
        raw = []
        for k in range(self._num_steps()):
            if self._profile_step(self._ctx, k, ctypes.byref(rec)) != 0:
                raise ExporterError(f"{self.name}: cannot read the profile of step {k}")
            nodes = tuple((_text(rec.node_ops[n]), _text(rec.node_names[n])) for n in range(rec.num_nodes))
            raw.append((k, rec.kind.decode(), nodes, rec.seconds, rec.flops, rec.runs))
        runs = raw[0][5] if raw else 0
        total = sum(r[3] for r in raw)
        rows = [ProfileRow(k, kind, nodes, seconds / max(runs, 1), seconds / total if total > 0 else 0.0,
                           flops / runs if flops > 0 and runs else None)
                for k, kind, nodes, seconds, flops, _ in raw]
        rows.sort(key=lambda r: -r.seconds)  # stable: equal times keep step order, as the C table does
        length = ctypes.c_size_t()
        self._profile_report(self._ctx, None, 0, ctypes.byref(length))
        buffer = ctypes.create_string_buffer(length.value + 1)
        self._profile_report(self._ctx, buffer, len(buffer), ctypes.byref(length))
        return Profile(runs, rows, _text(buffer.value).rstrip("\n"))

    def _coerce(self, k, a):
        a = np.asarray(a)
        self._check_shape(k, a.shape)  # before a copy: a broadcast view may claim terabytes

        if a.dtype != self.input_dtypes[k]:
            raise InputError(f"input '{self.input_names[k]}': expected dtype {self.input_dtypes[k]}, got {a.dtype}")
        return np.ascontiguousarray(a)

    def _check_shape(self, k, shape):
        """Rank and size bounds, checked in Python before any copy or C call (the C API checks again)."""
        if len(shape) != self.input_ranks[k]:
            raise InputError(f"input '{self.input_names[k]}': expected {self.input_ranks[k]} dimensions, "
                             f"got {len(shape)}")
        nbytes = self.input_dtypes[k].itemsize
        for d in shape:
            nbytes *= d
        if any(d > self.max_dim for d in shape) or nbytes > MAX_INPUT_BYTES:
            raise InputError(f"input '{self.input_names[k]}': shape {tuple(shape)} is too large (a dim may be at "
                             f"most {self.max_dim}, an input at most {MAX_INPUT_BYTES} bytes)")

    def _prepare(self, shapes):
        self._shapes = None
        if self._caller is not None:  # the model's shapes change now: until they are all set, no fast calls
            self._caller.set_shapes(None, None)
        for k, shape in enumerate(shapes):
            self._check_shape(k, shape)
            dims = (ctypes.c_int64 * max(1, len(shape)))(*shape)
            if self._set_input_shape(self._ctx, k, dims, len(shape)) != 0:
                raise InputError(self._error())
        for k in self._value_inputs:
            if self._set_input_data(self._ctx, k, self._in_ptrs[k]) != 0:
                raise InputError(self._error())
        specs = []
        for k, dtype in enumerate(self.output_dtypes):
            dims = (ctypes.c_int64 * max(1, self.output_ranks[k]))()
            if self._output_shape(self._ctx, k, dims) != 0:
                raise ExporterError(self._error())
            specs.append((tuple(dims[:self.output_ranks[k]]), dtype))
        self._out_buffers = [np.empty(shape, dtype) for shape, dtype in specs]
        for k, o in enumerate(self._out_buffers):
            self._out_ptrs[k] = o.ctypes.data
        self._shapes = shapes
        if self._caller is not None:
            self._caller.set_shapes(shapes, tuple(shape for shape, _ in specs))


def load(model: onnx.ModelProto, name: str = "model") -> NativeModel:
    """Compile (or take from the cache) and load `model`."""
    result = compile_models({name: model}, jobs=1)[name]
    if isinstance(result, Exception):
        raise result
    return NativeModel(result, name)


__all__ = ["NativeModel", "Profile", "ProfileRow", "compile_models", "fastcall_module", "load",
           "runtime_library"]
