"""Generated programs under AddressSanitizer + UndefinedBehaviorSanitizer (issues 10.3, 16): every
example and .onnx models with convolutions, pooling, RNNs, gathers and dynamic axes, each at two sizes of
every dynamic axis, a batch of 0 and a bad input; the runtime's unit tests (ctest); the C API's NULL and
huge-shape cases. Skipped with a reason where the compiler cannot build sanitized programs."""
from __future__ import annotations

import argparse
import os
import subprocess

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from exporter.check import _input_specs
from tests.hardening import sanitize
from tests.hardening.conftest import ROOT, SAN_ENV, SANITIZE, cxx, sanitizers_work
from tests.helpers import assert_same, run_onnxruntime


@pytest.fixture(scope="module")
def compiler():
    c = cxx()
    if c is None or not sanitizers_work(c):
        pytest.skip(f"{c or 'no C++ compiler'}: cannot build and run -fsanitize=address,undefined programs here")
    return c


def _vi(name, shape, dtype=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, shape)


def _w(name, *shape, seed=0):
    return numpy_helper.from_array(np.random.default_rng(seed).standard_normal(shape).astype(np.float32) * 0.3, name)


def _model(nodes, inputs, outputs, inits):
    return helper.make_model(helper.make_graph(nodes, "g", inputs, outputs, inits),
                             opset_imports=[helper.make_opsetid("", 17)])


def onnx_models():
    conv = _model([helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
                   helper.make_node("Relu", ["c"], ["r"]),
                   helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
                   helper.make_node("AveragePool", ["p"], ["a"], kernel_shape=[2, 2], ceil_mode=1),
                   helper.make_node("GlobalAveragePool", ["a"], ["g"]), helper.make_node("Flatten", ["g"], ["y"])],
                  [_vi("x", ["N", 3, "H", "W"])], [_vi("y", ["N", 4])], [_w("w", 4, 3, 3, 3), _w("b", 4)])
    rnn = _model([helper.make_node("LSTM", ["x", "W", "R", "B"], ["h", "h_last"], hidden_size=5),
                  helper.make_node("Squeeze", ["h_last", "axes"], ["s"]),
                  helper.make_node("GRU", ["x", "Wg", "Rg"], ["", "g_last"], hidden_size=3, linear_before_reset=1)],
                 [_vi("x", ["T", "N", 6])], [_vi("h", ["T", 1, "N", 5]), _vi("s", ["N", 5]), _vi("g_last", [1, "N", 3])],
                 [_w("W", 1, 20, 6), _w("R", 1, 20, 5, seed=1), _w("B", 1, 40, seed=2), _w("Wg", 1, 9, 6, seed=3),
                  _w("Rg", 1, 9, 3, seed=4), numpy_helper.from_array(np.array([0], np.int64), "axes")])
    gather = _model([helper.make_node("Gather", ["emb", "idx"], ["e"]),
                     helper.make_node("ReduceMean", ["e"], ["m"], axes=[1], keepdims=0),
                     helper.make_node("MatMul", ["m", "proj"], ["y"]),
                     helper.make_node("GatherElements", ["idx", "zeros"], ["first"], axis=1)],
                    [_vi("idx", ["N", "L"], TensorProto.INT64)], [_vi("y", ["N", 3]), _vi("e", ["N", "L", 4]),
                                                                   _vi("first", ["N", "L"], TensorProto.INT64)],
                    [_w("emb", 10, 4), _w("proj", 4, 3, seed=5)])
    # GatherElements with a constant index of the wrong extent would read out of bounds: index 0 everywhere,
    # broadcast by a (1, 1) index tensor against (N, L) is not allowed, so the index has the input's shape
    gather.graph.node[-1].input[1] = "idx_zero"
    gather.graph.node.insert(0, helper.make_node("Mul", ["idx", "zero"], ["idx_zero"]))
    gather.graph.initializer.append(numpy_helper.from_array(np.array(0, np.int64), "zero"))
    return {"conv_pool": conv, "rnn": rnn, "gather": gather}


def _inputs(model, sizes, rng):
    arrays = []
    for name, dtype, dims in _input_specs(model):
        shape = tuple(sizes[d] if isinstance(d, str) else d for d in dims)
        arrays.append(rng.integers(0, 10, shape).astype(dtype) if dtype.kind == "i"
                      else rng.standard_normal(shape).astype(dtype))
    return arrays


def _example(stem):
    from exporter.cli import load_onnx_or_trace
    args = argparse.Namespace(model=os.path.join(ROOT, "examples", f"{stem}.py"), entry=None, inputs=None, dynamic=None)
    return load_onnx_or_trace(args)


CASES = ["mlp", "cnn", "transformer", "conv_pool", "rnn", "gather"]


@pytest.mark.parametrize("case", CASES)
def test_model_under_sanitizers(compiler, case, tmp_path):
    if case in onnx_models():
        model, reference = onnx_models()[case], None
    else:
        model, spec = _example(case)
        reference = spec.fn
    exe = sanitize.build(compiler, model, case)
    dims = sorted({d for _, _, ds in _input_specs(model) for d in ds if isinstance(d, str)})
    rng = np.random.default_rng(0)
    # two sizes of every dynamic axis (each dim moves on its own, then all together), and 0 where allowed
    small = {d: {"H": 8, "W": 9}.get(d, 2) for d in dims}
    large = {d: {"H": 13, "W": 12}.get(d, 5) for d in dims}
    envs = [small] + [{**small, d: large[d]} for d in dims] + [large]
    if case in ("mlp", "cnn", "conv_pool", "gather"):
        envs.append({**small, **{d: 0 for d in dims if d in ("batch", "N")}})
    for k, env in enumerate(envs):
        inputs = _inputs(model, env, rng)
        paths = []
        for j, x in enumerate(inputs):
            paths.append(str(tmp_path / f"in{k}_{j}.npy"))
            np.save(paths[-1], x)
        out = tmp_path / f"out{k}"
        proc = sanitize.run(exe, "--out", str(out), *paths)
        assert proc.returncode == 0, f"{case} {env}: {proc.stderr}"
        got = [np.load(out / f"output_{j}.npy") for j in range(len(model.graph.output))]
        if 0 in env.values():
            continue  # an empty batch: no crash and no report is the point (ORT/NumPy disagree on empty reshapes)
        expected = reference(*inputs) if reference else run_onnxruntime(model, inputs)
        assert_same(expected, got, rtol=1e-4, where=f"{case} {env}")
    # a bad input: wrong dtype, then a truncated file
    bad = tmp_path / "bad.npy"
    np.save(bad, np.ones((2, 2), np.float64 if _input_specs(model)[0][1] != np.float64 else np.float32))
    proc = sanitize.run(exe, "--out", str(tmp_path / "never"), str(bad), *paths[1:])
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    bad.write_bytes((tmp_path / "in0_0.npy").read_bytes()[:-3])  # the first size: it has data to cut
    proc = sanitize.run(exe, "--out", str(tmp_path / "never"), str(bad), *paths[1:])
    assert proc.returncode == 2 and "truncated" in proc.stderr, proc.stderr
    assert not (tmp_path / "never").exists()
    if case == "gather":  # an index past the table: the run fails cleanly, nothing is read out of bounds
        np.save(bad, np.full((2, 3), 10, np.int64))
        proc = sanitize.run(exe, "--out", str(tmp_path / "never"), str(bad))
        assert proc.returncode == 2 and "out of range" in proc.stderr, proc.stderr
        assert not (tmp_path / "never").exists()


C_API_PROGRAM = r'''
#include <stdio.h>
#include <stdint.h>
#include "cnn.h"
#define CHECK(label, expr) printf("%s %d\n", label, (int)(expr))
static float x[2 * 1 * 28 * 28], y[2 * 10];
int main(void) {
    cnn_ctx* m = cnn_create();
    int64_t shape[4] = {2, 1, 28, 28}, buf[4];
    const void* in[1] = {x};
    void* out[1] = {y};
    const void* in_null[1] = {NULL};
    void* out_null[1] = {NULL};
    CHECK("set_shape_null_ctx", cnn_set_input_shape(NULL, 0, shape, 4));
    CHECK("set_shape_null_shape", cnn_set_input_shape(m, 0, NULL, 4));
    CHECK("run_null_ctx", cnn_run(NULL, in, out));
    CHECK("run_before_shape", cnn_run(m, in, out));
    CHECK("set_shape_ok", cnn_set_input_shape(m, 0, shape, 4));
    CHECK("run_null_inputs", cnn_run(m, NULL, out));
    CHECK("run_null_outputs", cnn_run(m, in, NULL));
    CHECK("run_null_input_buffer", cnn_run(m, in_null, out));
    CHECK("run_null_output_buffer", cnn_run(m, in, out_null));
    CHECK("input_shape_null_ctx", cnn_input_shape(NULL, 0, buf));
    CHECK("input_shape_null_shape", cnn_input_shape(m, 0, NULL));
    CHECK("output_shape_null_ctx", cnn_output_shape(NULL, 0, buf));
    CHECK("output_shape_null_shape", cnn_output_shape(m, 0, NULL));
    CHECK("output_shape_bad_k", cnn_output_shape(m, 7, buf));
    CHECK("last_error_null", cnn_last_error(NULL) != NULL);
    CHECK("name_bad_k", cnn_input_name(-1) == NULL && cnn_output_name(9) == NULL);
    CHECK("set_max_dim_null", cnn_set_max_dim(NULL, 4));
    int64_t huge[4] = {(int64_t)1 << 61, 1, 28, 28}, negative[4] = {-1, 1, 28, 28}, over[4] = {0, 1, 28, 28};
    CHECK("batch_2_61", cnn_set_input_shape(m, 0, huge, 4));
    printf("error %s\n", cnn_last_error(m));
    CHECK("batch_negative", cnn_set_input_shape(m, 0, negative, 4));
    over[0] = cnn_max_dim(m) + 1;
    CHECK("batch_over_max", cnn_set_input_shape(m, 0, over, 4));
    CHECK("set_max_dim_0", cnn_set_max_dim(m, 0));
    CHECK("set_max_dim_raise", cnn_set_max_dim(m, cnn_max_dim(m) + 1));
    CHECK("set_max_dim_8", cnn_set_max_dim(m, 8));
    over[0] = 9;
    CHECK("batch_9_over_8", cnn_set_input_shape(m, 0, over, 4));
    over[0] = 0;
    CHECK("batch_0_shape", cnn_set_input_shape(m, 0, over, 4));
    CHECK("batch_0_run", cnn_run(m, in, out));
    CHECK("batch_0_output_shape", cnn_output_shape(m, 0, buf) == 0 && buf[0] == 0 && buf[1] == 10);
    CHECK("set_shape_again", cnn_set_input_shape(m, 0, shape, 4));
    CHECK("run_ok", cnn_run(m, in, out));
    cnn_destroy(m);
    cnn_destroy(NULL);
    return 0;
}
'''


def test_c_api_null_pointers_huge_shapes_and_batch_0(compiler, tmp_path):
    model, _ = _example("cnn")
    exe = sanitize.build(compiler, model, "cnn")  # also leaves the generated sources and runtime library
    directory = os.path.dirname(exe)
    (tmp_path / "use.c").write_text(C_API_PROGRAM)
    cc = compiler.replace("clang++", "clang").replace("g++", "gcc").replace("c++", "cc")
    obj = tmp_path / "use.o"
    proc = subprocess.run([cc, "-std=c99", *SANITIZE, "-c", str(tmp_path / "use.c"), "-I", directory, "-o", str(obj)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    prog = tmp_path / "use"
    proc = subprocess.run([compiler, *sanitize.flags(compiler), str(obj), "-I", directory, "-I", os.path.join(directory, "runtime"),
                           f"-DEXPORTER_WEIGHTS_FILE=\"{os.path.join(directory, 'weights.bin')}\"",
                           os.path.join(directory, "cnn.cpp"), os.path.join(directory, "weights.S"),
                           sanitize.runtime(compiler), "-o", str(prog)], capture_output=True, text=True, cwd=directory)
    assert proc.returncode == 0, proc.stderr
    result = sanitize.run(str(prog))
    assert result.returncode == 0, result.stderr
    got = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    want_fail = ["set_shape_null_ctx", "set_shape_null_shape", "run_null_ctx", "run_before_shape", "run_null_inputs",
                 "run_null_outputs", "run_null_input_buffer", "run_null_output_buffer", "input_shape_null_ctx",
                 "input_shape_null_shape", "output_shape_null_ctx", "output_shape_null_shape", "output_shape_bad_k",
                 "set_max_dim_null", "batch_2_61", "batch_negative", "batch_over_max", "set_max_dim_0",
                 "set_max_dim_raise", "batch_9_over_8"]
    assert {k: got[k] for k in want_fail} == {k: "1" for k in want_fail}
    want_ok = {"set_shape_ok": "0", "set_max_dim_8": "0", "batch_0_shape": "0", "batch_0_run": "0",
               "batch_0_output_shape": "1", "set_shape_again": "0", "run_ok": "0", "last_error_null": "1",
               "name_bad_k": "1"}
    assert {k: got[k] for k in want_ok} == want_ok
    assert "over the maximum" in got["error"]


# The native kernels (what this machine's models run) in the default run; the portable ones, also tested
# without sanitizers in tests/cpp/test_runtime_ctest.py, under -m slow (their sanitized build takes ~8 min)
@pytest.mark.parametrize("variant", ["native", pytest.param("portable", marks=pytest.mark.slow)])
def test_runtime_unit_tests_under_sanitizers(compiler, variant):
    from exporter.native.build import find_cmake
    build = sanitize.ctest_build(compiler, ROOT, variant)
    ctest = os.path.join(os.path.dirname(find_cmake()), "ctest")
    proc = subprocess.run([ctest, "--test-dir", build, "--output-on-failure"], capture_output=True, text=True,
                          env={**os.environ, **SAN_ENV})
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "runtime error" not in proc.stdout + proc.stderr and "Sanitizer" not in proc.stdout + proc.stderr
    assert f"_{variant} " in proc.stdout and " tests passed" in proc.stdout, proc.stdout[-2000:]


def test_sizes_only_known_at_run_time_are_checked_before_any_read(compiler, tmp_path):
    # x's K must equal the weight's 5 and z's M the 6 outputs; both are dynamic dims, so export cannot
    # know, and a mismatch would have the GEMM or the fused loop read past an input
    model = _model([helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Add", ["h", "z"], ["y"])],
                   [_vi("x", ["N", "K"]), _vi("z", ["M"])], [_vi("y", ["N", 6])], [_w("w", 5, 6)])
    exe = sanitize.build(compiler, model, "symbolic")
    cases = [((2, 4), (6,), "inner dimensions: 4 vs 5"), ((2, 5), (1,), "broadcast sizes (axis -1): 6 vs 1"),
             ((3, 5), (6,), None)]
    for k, (xs, zs, message) in enumerate(cases):
        x, z = np.ones(xs, np.float32), np.arange(zs[0], dtype=np.float32)
        np.save(tmp_path / "x.npy", x)
        np.save(tmp_path / "z.npy", z)
        proc = sanitize.run(exe, "--out", str(tmp_path / f"o{k}"), str(tmp_path / "x.npy"), str(tmp_path / "z.npy"))
        if message:
            assert proc.returncode == 2 and message in proc.stderr, proc.stderr
            assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / f"o{k}").exists()
        else:
            assert proc.returncode == 0, proc.stderr
            w = numpy_helper.to_array(model.graph.initializer[0])
            np.testing.assert_allclose(np.load(tmp_path / f"o{k}" / "output_0.npy"), x @ w + z, rtol=1e-5)
