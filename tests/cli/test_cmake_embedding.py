"""Embedding generated models in a user's CMake project, the two ways a user would: add_subdirectory of
two models in one program, and find_package after `cmake --install`. Also: --name, the static-only
options and the shared library's exported symbols (the C API only)."""
import os
import shutil
import subprocess

import numpy as np
import pytest

import exporter
from exporter.native.build import find_cmake

APP = r'''
#include <stdio.h>
#include "alpha.h"
#include "beta.h"
/* alpha: 2 * tanh(x) over a dynamic batch; beta: x @ ones(3, 2) + 1 */
int main(void) {
    float x[2 * 3] = {0.f, 0.5f, 1.f, -1.f, 2.f, 0.25f}, a[2 * 3], b[2 * 2];
    alpha_ctx* m = alpha_create();
    beta_ctx* n = beta_create();
    int64_t shape[2] = {2, 3};
    const void* in[1] = {x};
    void* out_a[1] = {a};
    void* out_b[1] = {b};
    if (alpha_set_input_shape(m, 0, shape, 2) || alpha_run(m, in, out_a)) { puts(alpha_last_error(m)); return 1; }
    if (beta_run(n, in, out_b)) { puts(beta_last_error(n)); return 1; }
    for (int i = 0; i < 6; ++i) printf("%.6f ", a[i]);
    for (int i = 0; i < 4; ++i) printf("%.6f ", b[i]);
    printf("\n%s\n", alpha_dim_name(0));
    alpha_destroy(m);
    beta_destroy(n);
    return 0;
}
'''
X = np.array([[0, 0.5, 1], [-1, 2, 0.25]], np.float32)
EXPECTED = np.concatenate([(2 * np.tanh(X)).ravel(), (X @ np.ones((3, 2), np.float32) + 1).ravel()])


def _models(root):
    """Two small models exported under their own names (their targets and C APIs must not collide)."""
    ones = np.ones((3, 2), np.float32)
    exporter.export(lambda x: 2 * np.tanh(x), (X,), to="cpp", path=root / "alpha", name="alpha",
                    dynamic_axes={"x": {0: "batch"}})
    exporter.export(lambda x: x @ ones + 1, (X,), to="cpp", path=root / "beta", name="beta")


def _cmake(*args, cwd=None):
    proc = subprocess.run([find_cmake(), *args], capture_output=True, text=True, cwd=cwd)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def _check_app(path):
    lines = subprocess.run([str(path)], capture_output=True, text=True, check=True).stdout.splitlines()
    np.testing.assert_allclose(np.array(lines[0].split(), float), EXPECTED, rtol=1e-5, atol=1e-6)
    assert lines[1] == "batch"


def test_parent_project_adds_two_models_as_subdirectories(tmp_path):
    _models(tmp_path)
    (tmp_path / "app.c").write_text(APP)
    (tmp_path / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.18)\nproject(app C CXX)\n"
        "add_subdirectory(alpha)\nadd_subdirectory(beta)\n"
        "add_executable(app app.c)\ntarget_link_libraries(app PRIVATE exporter::alpha exporter::beta)\n")
    build = tmp_path / "build"
    _cmake("-S", str(tmp_path), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release")
    _cmake("--build", str(build), "--parallel", "2")
    _check_app(build / "app")
    for model in ("alpha", "beta"):
        assert (build / model / model).exists() and (build / model / f"lib{model}.so").exists()
    # the shared library exports the C API and nothing else (no exporter_rt:: templates, no weights)
    nm = shutil.which("nm")
    if nm:
        out = subprocess.run([nm, "-D", "--defined-only", str(build / "alpha" / "libalpha.so")],
                             capture_output=True, text=True, check=True).stdout
        symbols = {line.split()[-1] for line in out.splitlines() if line.strip()}
        assert symbols and all(s.startswith("alpha_") for s in symbols), sorted(symbols)
        assert "alpha_weights" not in symbols and "alpha_run" in symbols


def test_find_package_after_install_static_only(tmp_path):
    _models(tmp_path)
    prefix = tmp_path / "prefix"
    for model in ("alpha", "beta"):
        build = tmp_path / model / "build"
        _cmake("-S", str(tmp_path / model), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
               "-DEXPORTER_BUILD_PROGRAM=OFF", "-DEXPORTER_BUILD_SHARED=OFF")
        _cmake("--build", str(build), "--parallel", "2")
        assert not (build / model).exists() and not (build / f"lib{model}.so").exists()
        _cmake("--install", str(build), "--prefix", str(prefix))
    libdir = next(p for p in (prefix / "lib", prefix / "lib64") if p.is_dir())
    assert (libdir / "cmake" / "alpha" / "alphaConfig.cmake").exists() and (prefix / "include" / "beta.h").exists()
    consumer = tmp_path / "consumer"
    consumer.mkdir()
    (consumer / "app.c").write_text(APP)
    (consumer / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.18)\nproject(consumer C CXX)\n"
        "find_package(alpha REQUIRED)\nfind_package(beta REQUIRED)\n"
        "add_executable(app app.c)\ntarget_link_libraries(app PRIVATE exporter::alpha exporter::beta_static)\n")
    shutil.rmtree(tmp_path / "alpha")  # the installed package must not need the generated sources
    build = consumer / "build"
    _cmake("-S", str(consumer), "-B", str(build), f"-DCMAKE_PREFIX_PATH={prefix}")
    _cmake("--build", str(build), "--parallel", "2")
    _check_app(build / "app")


def test_name_must_be_a_c_identifier(tmp_path):
    with pytest.raises(exporter.ExporterError, match="not a C identifier"):
        exporter.export(lambda x: x, (X,), to="cpp", path=tmp_path / "p", name="my-model")
    with pytest.raises(exporter.ExporterError, match="reserved"):
        exporter.export(lambda x: x, (X,), to="cpp", path=tmp_path / "p", name="exporter_rt")
    assert not (tmp_path / "p").exists()
