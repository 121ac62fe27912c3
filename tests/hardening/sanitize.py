"""ASan+UBSan builds of generated models, separate from (and as cached as) the normal builds.

The runtime (every runtime_c/*.cpp) is compiled once per compiler and source hash into
`$EXPORTER_CACHE_DIR/asan-runtime-<hash>/`; each model is then one compiler call (its generated source,
main.cpp, the .incbin weights and that library) cached under `asan-<name>-<hash>/`. The default builds
are untouched: these flags never reach them.
"""
from __future__ import annotations

import hashlib
import os
import subprocess

from exporter.native.build import Locked, cache_root, run_tool, touch_entry
from exporter.native.project import data_dir, render, runtime_files, write_files
from tests.hardening.conftest import SAN_ENV, SANITIZE

BASE = ["-std=c++17", "-O1", *SANITIZE]


def flags(cxx: str) -> list[str]:
    """BASE plus -march=native and -pthread where the compiler takes them (as the normal builds do)."""
    from exporter.native.library import compiler_flags
    return BASE + [f for f in ("-march=native", "-pthread") if f in compiler_flags(cxx)]


def _digest(cxx: str, *parts: bytes) -> str:
    h = hashlib.sha256(" ".join([cxx, *flags(cxx)]).encode())
    for p in parts:
        h.update(p + b"\0")
    return h.hexdigest()[:16]


def runtime(cxx: str) -> str:
    src = data_dir("runtime_c")
    key = _digest(cxx, *[(src / f).read_bytes() for f in runtime_files()])
    directory = os.path.join(cache_root(), f"asan-runtime-{key}")
    lib = os.path.join(directory, "libexporter_rt_asan.a")
    os.makedirs(directory, exist_ok=True)
    with Locked(directory + ".lock"):
        if not os.path.exists(lib):
            objs = []
            for f in [f for f in runtime_files() if f.endswith(".cpp")]:
                objs.append(os.path.join(directory, f + ".o"))
                run_tool([cxx, *flags(cxx), "-c", str(src / f), "-o", objs[-1]], directory, f"compiling {f} with sanitizers")
            run_tool(["ar", "rcs", lib + ".tmp", *objs], directory, "archiving")
            os.replace(lib + ".tmp", lib)
    # used now: eviction spares entries used in the last RECENT_SECONDS, and the library is linked after this
    # returns (untouched, a runtime built at the start of the suite was evicted under a later model's link)
    touch_entry(directory)
    return lib


def build(cxx: str, model, name: str) -> str:
    """The sanitized program for `model` (a path inside the cache)."""
    rt = runtime(cxx)
    files, facts = render(model, name)
    key = _digest(cxx, rt.encode(), *[rel.encode() + (c if isinstance(c, bytes) else c.encode())
                                      for rel, c in sorted(files.items())])
    directory = os.path.join(cache_root(), f"asan-{facts.name}-{key}")
    exe = os.path.join(directory, "program")
    if os.path.exists(exe):
        touch_entry(directory)
        return exe
    with Locked(directory + ".lock"):
        if not os.path.exists(exe):
            write_files(files, directory)
            run_tool([cxx, *flags(cxx), "-I", directory, "-I", os.path.join(directory, "runtime"),
                      f"-DEXPORTER_WEIGHTS_FILE=\"{os.path.join(directory, 'weights.bin')}\"",
                      f"{facts.name}.cpp", "main.cpp", "weights.S", rt, "-o", exe + ".tmp"], directory,
                     f"compiling {facts.name} with sanitizers")
            os.replace(exe + ".tmp", exe)
    return exe


def ctest_build(cxx: str, root: str, variant: str) -> str:
    """The runtime's unit tests (top-level CMakeLists.txt) for one runtime `variant` (native, portable)
    configured with sanitizers at -O1, in a cached build directory keyed by the sources and the checkout's
    path (a CMake build tree belongs to one source directory, so two clones must not share it): CMake then
    rebuilds only what changed."""
    from exporter.native.build import find_cmake
    # every file the build reads: the runtime's sources and headers (dtypes.inc too) and every test
    # program and header under tests/cpp (one per kernel family, globbed by CMakeLists.txt)
    files = [os.path.join(root, "CMakeLists.txt")] + [os.path.join(root, d, f) for d in ("exporter/runtime_c", "tests/cpp")
                                                      for f in sorted(os.listdir(os.path.join(root, d)))
                                                      if f.endswith((".cpp", ".h", ".inc"))]
    key = _digest(cxx, os.path.abspath(root).encode(), *[open(f, "rb").read() for f in files])
    build = os.path.join(cache_root(), f"asan-ctest-{variant}-{key}")
    cmake = find_cmake()
    flags_text = " ".join(SANITIZE)
    with Locked(build + ".lock"):
        # -O1 as for the sanitized models (and as ASan recommends): -O2 doubled this build's compile time
        run_tool([cmake, "-S", root, "-B", build, "-DCMAKE_BUILD_TYPE=RelWithDebInfo", "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g",
                  f"-DEXPORTER_TEST_VARIANTS={variant}", f"-DCMAKE_CXX_COMPILER={cxx}",
                  f"-DCMAKE_CXX_FLAGS={flags_text}", f"-DCMAKE_EXE_LINKER_FLAGS={flags_text}"], root,
                 f"configuring the runtime tests ({variant}) with sanitizers")
        run_tool([cmake, "--build", build, "--parallel", "2"], root, f"building the runtime tests ({variant}) with sanitizers")
    touch_entry(build)  # ctest runs it after this returns: recently used, it is not evicted meanwhile
    return build


def run(exe: str, *args, cwd=None):
    proc = subprocess.run([exe, *args], capture_output=True, text=True, cwd=cwd, timeout=300,
                          env={**os.environ, **SAN_ENV, "OMP_NUM_THREADS": "2"})
    reports = [ln for ln in proc.stderr.splitlines() if "runtime error" in ln or "Sanitizer" in ln]
    assert not reports and proc.returncode not in (98, 99), f"{exe} {args}: sanitizer report:\n{proc.stderr[-4000:]}"
    return proc
