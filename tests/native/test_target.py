"""exporter/native/target.py: the vector ISA an export is built for, which export-time choices (Winograd or the
direct kernel, nn.winograd_tile) depend on."""
import subprocess

import pytest

from exporter.native.library import find_compiler
from exporter.native.ops.nn import winograd_tile
from exporter.native.project import data_dir
from exporter.native.target import TARGETS, get, vector_isa

PROGRAM = '#include <cstdio>\n#include "gemm_driver.h"\nint main() { std::puts(EXPORTER_GEMM_ISA); }\n'


def test_named_targets_give_their_own_isa():
    assert [vector_isa(get(name)) for name in ("x86-64-v4", "x86-64-v3", "portable")] == ["avx512", "avx2", "portable"]


def test_native_isa_is_the_one_the_runtime_compiles_to(tmp_path):
    # what Python expects of -march=native must be what gemm_driver.h selects under it
    src = tmp_path / "isa.cpp"
    src.write_text(PROGRAM)
    exe = tmp_path / "isa"
    subprocess.run([find_compiler(), "-std=c++17", "-march=native", "-I", str(data_dir("runtime_c")), str(src),
                    "-o", str(exe)], check=True)
    printed = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.strip()
    assert vector_isa(TARGETS["native"]) == printed


def conv(c, m, hw, n=1, k=3, stride=1):
    return {"n": n, "c": c, "m": m, "oh": hw, "ow": hw, "kh": k, "kw": k, "sh": stride, "sw": stride, "dh": 1, "dw": 1,
            "groups": 1}


@pytest.mark.parametrize("shape, avx2, avx512", [
    (conv(64, 64, 56), 2, 2),     # wide layers: Winograd on both
    (conv(256, 256, 14), 2, 2),
    (conv(32, 64, 56), 2, 2),
    (conv(64, 256, 28), 2, 2),    # 4x fan-out from 64 channels
    (conv(16, 64, 55), 2, 0),     # 16 input channels: the direct kernel with AVX-512
    (conv(32, 128, 27), 2, 0),    # 32 channels fanning out 4x
    (conv(512, 512, 7), 2, 0),    # 7x7: Winograd's larger weights stream from memory
    (conv(48, 192, 13), 0, 0),    # small plane, 4x fan-out: direct on both
    (conv(16, 16, 56), 0, 0),     # 16 output channels
    (conv(3, 64, 224), 0, 0),     # stems
    (conv(64, 64, 56, stride=2), 0, 0),
    (conv(64, 64, 56, k=5), 0, 0),
])
def test_winograd_choice_per_isa(shape, avx2, avx512):
    assert winograd_tile(shape, "float32", True, "avx2") == avx2
    assert winograd_tile(shape, "float32", True, "avx512") == avx512
    assert winograd_tile(shape, "float32", False, "avx512") == 0  # weights computed at run time: never
