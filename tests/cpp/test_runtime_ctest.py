"""The runtime's own C++ unit tests (tests/cpp/test_<family>.cpp, one program per kernel family of
runtime_c/), built by the top-level CMakeLists.txt for the native and the portable kernels (and the AVX2 ones
on an AVX-512 machine) and run with ctest; tests/hardening/test_sanitizers.py runs the same under ASan and
UBSan."""
import os
import subprocess

from exporter.native.build import find_cmake
from exporter.native.target import get as get_target, vector_isa

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_runtime_kernels_ctest(tmp_path):
    families = sorted(f[len("test_"):-len(".cpp")] for f in os.listdir(os.path.join(ROOT, "tests", "cpp"))
                      if f.startswith("test_") and f.endswith(".cpp"))
    cmake = find_cmake()
    ctest = os.path.join(os.path.dirname(cmake), "ctest")
    build = tmp_path / "build"
    for cmd in ([cmake, "-S", ROOT, "-B", str(build), "-DCMAKE_BUILD_TYPE=Release"],
                [cmake, "--build", str(build), "--parallel", "2"],
                [ctest, "--test-dir", str(build), "--output-on-failure"]):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    # every family's program ran, for every variant (a CMake glob that missed one would pass silently); on an
    # AVX-512 machine the AVX2 kernels too (what --arch x86-64-v3 exports run)
    variants = ("native", "portable") + (("avx2",) if vector_isa(get_target("native")) == "avx512" else ())
    for family in families:
        for variant in variants:
            assert f" {family}_{variant} " in proc.stdout, f"no CTest case {family}_{variant}:\n{proc.stdout[-4000:]}"


# runtime_c/ files without a test program of their own, and why
UNTESTED_FAMILIES: dict = {}


def test_every_kernel_family_has_a_test_program():
    families = {f[:-len(".cpp")] for f in os.listdir(os.path.join(ROOT, "exporter", "runtime_c")) if f.endswith(".cpp")}
    tested = {f[len("test_"):-len(".cpp")] for f in os.listdir(os.path.join(ROOT, "tests", "cpp"))
              if f.startswith("test_") and f.endswith(".cpp")}
    missing = sorted(families - tested - set(UNTESTED_FAMILIES))
    assert not missing, f"runtime_c/ families without tests/cpp/test_<family>.cpp: {missing}"
