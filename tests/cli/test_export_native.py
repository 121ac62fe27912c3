"""`exporter export MODEL --to cpp|exe` end to end: the generated CMake project, the command-line program
(dynamic sizes, bad input, self-sufficiency), the C API from a plain C program, .onnx input."""
import os
import shutil
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from tests.cli.test_export_onnx import ROOT, exporter

MLP = os.path.join(ROOT, "examples", "mlp.py")


def load_example(name):
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    try:
        return __import__(name)
    finally:
        sys.path.pop(0)


@pytest.fixture(scope="module")
def mlp_exe(tmp_path_factory):
    out = tmp_path_factory.mktemp("exe") / "mlp"
    result = exporter("export", MLP, "--to", "exe", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "arena" in result.stdout and "weights" in result.stdout
    return str(out)


def run(exe, *args, cwd=None):
    return subprocess.run([exe, *args], capture_output=True, text=True, cwd=cwd)


def test_exe_matches_numpy_at_several_batch_sizes(mlp_exe, tmp_path):
    mlp = load_example("mlp")
    for batch in (1, 7, 64):
        x = np.random.default_rng(batch).standard_normal((batch, 512)).astype(np.float32)
        np.save(tmp_path / "x.npy", x)
        result = run(mlp_exe, "--out", str(tmp_path), str(tmp_path / "x.npy"))
        assert result.returncode == 0, result.stderr
        y = np.load(tmp_path / "output_0.npy")
        assert y.shape == (batch, 2) and y.dtype == np.float32
        np.testing.assert_allclose(y, mlp.model(x), rtol=1e-5, atol=1e-5)


def test_exe_help_repeat_and_threads(mlp_exe, tmp_path):
    help_text = run(mlp_exe, "--help").stdout
    assert "x float32 [batch, 512]" in help_text and "output_0.npy" in help_text
    assert any(f"; {isa} kernels)" in help_text for isa in ("avx512", "avx2", "portable")), help_text
    np.save(tmp_path / "x.npy", np.ones((2, 512), np.float32))
    result = run(mlp_exe, "--repeat", "20", "--threads", "1", "--out", str(tmp_path), str(tmp_path / "x.npy"))
    assert result.returncode == 0, result.stderr
    assert "20 runs, mean" in result.stderr


def test_exe_for_another_cpu_than_this_one(tmp_path):
    """--arch x86-64-v3 builds the AVX2 kernels (what a fleet of AVX2 servers needs) even on an AVX-512
    machine; the results still match NumPy."""
    out = tmp_path / "mlp_avx2"
    result = exporter("export", MLP, "--to", "exe", "--arch", "x86-64-v3", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "; avx2 kernels)" in run(str(out), "--help").stdout
    x = np.random.default_rng(0).standard_normal((5, 512)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    assert run(str(out), "--out", str(tmp_path), str(tmp_path / "x.npy")).returncode == 0
    np.testing.assert_allclose(np.load(tmp_path / "output_0.npy"), load_example("mlp").model(x), rtol=1e-5, atol=1e-5)
    project = tmp_path / "proj"
    assert exporter("export", MLP, "--to", "cpp", "--arch", "portable", "-o", str(project)).returncode == 0
    assert 'set(EXPORTER_ARCH "" CACHE STRING' in (project / "CMakeLists.txt").read_text()
    bad = exporter("export", MLP, "--to", "exe", "--arch", "pentium", "-o", str(tmp_path / "never"))
    assert bad.returncode == 2 and "invalid choice: 'pentium'" in bad.stderr and not (tmp_path / "never").exists()


@pytest.mark.parametrize("make_input, message", [
    (lambda p: np.save(p, np.ones((2, 512), np.float64)), "expected dtype float32, got float64"),
    (lambda p: np.save(p, np.ones((2, 511), np.float32)), "axis 1 must be 512, got 511"),
    (lambda p: np.save(p, np.ones(512, np.float32)), "expected 2 dimensions, got 1"),
    (lambda p: open(p, "wb").write(np.lib.format.magic(1, 0) + b"\x10\x00{'descr': '<f4',"), "malformed .npy header"),
    (lambda p: open(p, "w").write("hello"), "not a .npy file"),
    (lambda p: None, "cannot open file"),
])
def test_exe_bad_input_is_one_line_exit_2_and_writes_nothing(mlp_exe, tmp_path, make_input, message):
    make_input(tmp_path / "x.npy")
    out = tmp_path / "out"
    out.mkdir()
    result = run(mlp_exe, "--out", str(out), str(tmp_path / "x.npy"))
    assert result.returncode == 2
    assert message in result.stderr and "input 'x'" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert os.listdir(out) == []


def test_exe_wrong_argument_count_and_unknown_flag(mlp_exe, tmp_path):
    result = run(mlp_exe)
    assert result.returncode == 2 and "expected 1 input file(s), got 0" in result.stderr
    result = run(mlp_exe, "--fast", "x.npy")
    assert result.returncode == 2 and "unknown option --fast" in result.stderr


def test_exe_truncated_data(mlp_exe, tmp_path):
    np.save(tmp_path / "x.npy", np.ones((4, 512), np.float32))
    data = (tmp_path / "x.npy").read_bytes()
    (tmp_path / "x.npy").write_bytes(data[:-100])
    result = run(mlp_exe, "--out", str(tmp_path), str(tmp_path / "x.npy"))
    assert result.returncode == 2 and "input 'x'" in result.stderr
    assert not (tmp_path / "output_0.npy").exists()


@pytest.mark.skipif(not shutil.which("ldd"), reason="ldd is Linux-only")
def test_exe_needs_only_system_runtime_libraries(mlp_exe):
    libs = subprocess.run(["ldd", mlp_exe], capture_output=True, text=True).stdout
    names = {line.split()[0].split(".so")[0] for line in libs.strip().splitlines()}
    allowed = {"linux-vdso", "libc", "libm", "libstdc++", "libgcc_s", "/lib64/ld-linux-x86-64",
               "/lib/ld-linux-aarch64", "libpthread", "libdl", "linux-gate"}
    assert names <= allowed, f"unexpected shared libraries: {names - allowed}"
    assert not any("python" in n or "onnxruntime" in n for n in names)


def test_cpp_project_builds_with_plain_cmake_and_c_api_works_from_c(tmp_path):
    out = tmp_path / "mlp_cpp"
    result = exporter("export", MLP, "--to", "cpp", "-o", str(out))
    assert result.returncode == 0, result.stderr
    for name in ("CMakeLists.txt", "mlp.h", "mlp.cpp", "main.cpp", "weights.bin", "weights.S",
                 "runtime/pool.cpp", "runtime/exporter_runtime.h"):
        assert (out / name).exists(), name
    source = (out / "mlp.cpp").read_text()
    assert "MatMul" in source and len(source) < 64000, "weights must not be pasted into the source"  # 657 KB of weights as literals would be > 3 MB
    from exporter.native.build import find_cmake
    cmake = find_cmake()
    build = out / "build"
    for cmd in ([cmake, "-S", str(out), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release"],
                [cmake, "--build", str(build), "--parallel", "2"]):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (build / "libmlp.a").exists() and (build / "libmlp.so").exists() and (build / "mlp").exists()
    # a plain C program against the header and the static library
    (tmp_path / "use.c").write_text(r'''
#include <stdio.h>
#include "mlp.h"
int main(void) {
    static float x[3 * 512], y[3 * 2];
    for (int i = 0; i < 3 * 512; ++i) x[i] = (float)(i % 7) * 0.1f;
    mlp_ctx* m = mlp_create();
    int64_t shape[2] = {3, 512};
    if (mlp_set_input_shape(m, 0, shape, 2) != 0) { printf("error %s\n", mlp_last_error(m)); return 1; }
    const void* in[1] = {x};
    void* out[1] = {y};
    if (mlp_run(m, in, out) != 0) { printf("error %s\n", mlp_last_error(m)); return 1; }
    int64_t oshape[2];
    mlp_output_shape(m, 0, oshape);
    printf("%s %lld %lld", mlp_output_name(0), (long long)oshape[0], (long long)oshape[1]);
    for (int i = 0; i < 6; ++i) printf(" %.6f", y[i]);
    int64_t bad[2] = {3, 100};
    printf("\n%d %s\n", mlp_set_input_shape(m, 0, bad, 2), mlp_last_error(m));
    mlp_destroy(m);
    return 0;
}
''')
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    cxx = shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    obj = tmp_path / "use.o"
    proc = subprocess.run([cc, "-std=c99", "-c", str(tmp_path / "use.c"), "-I", str(out), "-o", str(obj)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    # the C++ runtime is linked by the C++ driver; the program itself is C
    proc = subprocess.run([cxx, str(obj), str(build / "libmlp.a"), "-pthread", "-o", str(tmp_path / "use")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    lines = subprocess.run([str(tmp_path / "use")], capture_output=True, text=True).stdout.splitlines()
    first = lines[0].split()
    assert first[:3] == ["output_0", "3", "2"]
    x = (np.arange(3 * 512) % 7).astype(np.float32).reshape(3, 512) * np.float32(0.1)
    np.testing.assert_allclose(np.array(first[3:], float).reshape(3, 2), load_example("mlp").model(x), atol=1e-5)
    assert lines[1].startswith("1 ") and "axis 1 must be 512, got 100" in lines[1]


def _onnx_file(tmp_path, nodes, inputs, outputs, initializers=(), name="foreign.onnx", opset=17):
    graph = helper.make_graph(nodes, "foreign", inputs, outputs, list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="other-tool")
    path = tmp_path / name
    onnx.save(model, str(path))
    return str(path)


def test_onnx_file_from_another_tool_to_exe(tmp_path):
    w = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    path = _onnx_file(tmp_path, [
        helper.make_node("Gemm", ["x", "w"], ["h"], transB=1, name="fc"),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("Softmax", ["r"], ["prob"], axis=-1),
    ], [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["N", 6])],
        [onnx.numpy_helper.from_array(w, "w")])
    exe = tmp_path / "foreign"
    result = exporter("export", path, "--to", "exe", "-o", str(exe))
    assert result.returncode == 0, result.stderr
    x = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    proc = run(str(exe), "--out", str(tmp_path), str(tmp_path / "x.npy"))
    assert proc.returncode == 0, proc.stderr
    h = np.maximum(x @ w.T, 0)
    expected = np.exp(h - h.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    np.testing.assert_allclose(np.load(tmp_path / "output_0.npy"), expected, rtol=1e-5, atol=1e-6)


def test_unsupported_ops_are_listed_together_and_nothing_is_written(tmp_path):
    path = _onnx_file(tmp_path, [
        helper.make_node("RandomUniformLike", ["x"], ["d"], name="random1"),
        helper.make_node("Multinomial", ["x"], ["nz"], name="sample1"),
        helper.make_node("RandomUniformLike", ["x"], ["d2"], name="random2"),
    ], [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 3])],
        [helper.make_tensor_value_info("d", TensorProto.FLOAT, [3, 3]),
         helper.make_tensor_value_info("nz", TensorProto.INT32, [3, 1]),
         helper.make_tensor_value_info("d2", TensorProto.FLOAT, [3, 3])])
    result = exporter("export", path, "--to", "exe", "-o", str(tmp_path / "prog"))
    assert result.returncode == 2
    assert "RandomUniformLike: 2 node(s)" in result.stderr and "Multinomial: 1 node(s)" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "prog").exists()
    result = exporter("export", path, "--to", "cpp", "-o", str(tmp_path / "proj"))
    assert result.returncode == 2 and not (tmp_path / "proj").exists()


def test_cpp_refuses_to_overwrite_a_foreign_directory(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    result = exporter("export", MLP, "--to", "cpp", "-o", str(tmp_path / "mine"))
    assert result.returncode == 2 and "was not generated by exporter" in result.stderr
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_programs_link_the_cached_runtime_kernels(tmp_path, monkeypatch):
    """exporter compiles the runtime kernels once per compiler and target (runtime-cmake-<hash> in its cache),
    each source when a model first calls it, and each program it builds compiles only its model: two models share
    one set of kernel objects, link only the sources they call, and compile no runtime/*.cpp (the program's .npy
    reader comes from the cache too)."""
    from exporter.native.build import build
    monkeypatch.setenv("EXPORTER_CACHE_DIR", str(tmp_path / "cache"))
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])
    builds = [build(helper.make_model(helper.make_graph([helper.make_node(op, ["x"], ["y"])], op, [x], [y])), op.lower())
              for op in ("Relu", "Sigmoid")]
    runtimes = [d for d in os.listdir(tmp_path / "cache") if d.startswith("runtime-cmake-") and not d.endswith(".lock")]
    assert len(runtimes) == 1, runtimes
    runtime = tmp_path / "cache" / runtimes[0]
    compiled = sorted(f for _, _, files in os.walk(runtime / "build") for f in files if f.endswith(".o"))
    assert compiled == ["npy.cpp.o", "threads.cpp.o"], compiled  # elementwise steps call no kernel source
    for b in builds:
        cache = open(os.path.join(b.directory, "build", "CMakeCache.txt")).read()
        assert f"EXPORTER_RUNTIME_OBJECTS:STRING={runtime}" in cache and f"EXPORTER_RUNTIME_NPY:STRING={runtime}" in cache
        assert "conv.cpp" not in cache
        compiled = [os.path.join(d, f) for d, _, files in os.walk(os.path.join(b.directory, "build")) for f in files
                    if f.endswith(".o") and "runtime" in d]
        assert compiled == [], compiled
        out = subprocess.run([b.executable, "--signature"], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
