"""The runtime's own C++ unit tests (tests/cpp/test_kernels.cpp), built by the top-level CMakeLists.txt
and run with ctest."""
import os
import subprocess

from exporter.native.build import find_cmake

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_runtime_kernels_ctest(tmp_path):
    cmake = find_cmake()
    ctest = os.path.join(os.path.dirname(cmake), "ctest")
    build = tmp_path / "build"
    for cmd in ([cmake, "-S", ROOT, "-B", str(build), "-DCMAKE_BUILD_TYPE=Release"],
                [cmake, "--build", str(build), "--parallel", "2"],
                [ctest, "--test-dir", str(build), "--output-on-failure"]):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
