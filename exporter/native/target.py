"""What the native code is built for: the instruction set (a -march value) and the GEMM kernel it selects.

The runtime picks its micro-kernel from the compiler's target macros (runtime_c/gemm_driver.h: AVX-512
12x32, AVX2+FMA 6x16, portable C++ otherwise), so a Target is a -march value plus what to expect from it.
The pre-packed weight layout (panels of PANEL_BYTES columns, PACK_ROWS-row A panels) is the same for
every target, so one exported weights blob serves them all; gemm_driver.h static_asserts that each
micro-kernel's tile divides it.

    >>> get("x86-64-v3").march, get("x86-64-v3").gemm_isa
    ('x86-64-v3', 'avx2')
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass

from ..errors import ExporterError

# Pre-packed operand layouts; must equal kPanelBytes / kPackRows in runtime_c/exporter_runtime.h
# (tests/native/test_packing.py compares them and the packed bytes against the runtime's own packers).
PANEL_BYTES = 128
PACK_ROWS = 12


@dataclass(frozen=True)
class Target:
    name: str
    march: str          # the -march value; "" for the compiler's default (baseline x86-64: portable kernels)
    gemm_isa: str       # the micro-kernel gemm_driver.h selects ("native": whatever this CPU has)
    description: str


TARGETS = {t.name: t for t in (
    Target("native", "native", "native", "this machine's CPU (-march=native; the fastest kernels it has)"),
    Target("x86-64-v4", "x86-64-v4", "avx512", "x86-64 CPUs with AVX-512 (Skylake-X, Zen 4 and later)"),
    Target("x86-64-v3", "x86-64-v3", "avx2", "x86-64 CPUs with AVX2 and FMA (Haswell, Zen 1 and later)"),
    Target("portable", "", "portable", "any CPU the compiler targets by default (portable C++ kernels)"),
)}
DEFAULT = "native"


def cmake_compiler() -> str:
    """The C++ compiler (command, possibly with flags) CMake builds exported projects with: $CXX, else the first
    c++ (or g++) on PATH; "" when there is none."""
    return os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++") or ""


def vector_isa(target: Target) -> str:
    """The micro-kernels `target` gets: "avx512", "avx2" or "portable"; for "native", what the C++ compiler's
    -march=native enables on this machine (export-time choices such as Winograd's depend on it)."""
    return _native_isa(cmake_compiler()) if target.gemm_isa == "native" else target.gemm_isa


@functools.lru_cache(maxsize=None)
def _native_isa(cxx: str) -> str:
    try:
        macros = subprocess.run([*cxx.split(), "-march=native", "-dM", "-E", "-x", "c++", os.devnull],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError, ValueError):
        return "portable"
    if "__AVX512F__" in macros:
        return "avx512"
    return "avx2" if "__AVX2__" in macros and "__FMA__" in macros else "portable"


def get(name: str | None) -> Target:
    """The Target called `name` (None: the default); ExporterError naming the choices otherwise."""
    name = name or DEFAULT
    if name not in TARGETS:
        raise ExporterError(f"unknown target '{name}'; choose one of: " +
                            ", ".join(f"{t.name} ({t.description})" for t in TARGETS.values()))
    return TARGETS[name]
