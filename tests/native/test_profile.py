"""The profile from the C API and Python: <name>_profile_enable / _profile_step / _profile_report through
NativeModel.profile and Hybrid.profile. Every step is listed with its kind and fused ONNX nodes, shares sum
to 1, FLOPs are counted for Conv/ConvTranspose/MatMul steps and scale with a dynamic batch, and a model
with profiling off computes the same outputs."""
import ctypes

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import exporter
from exporter.native.library import load


def profiled_model():
    """x [batch, 2, 8, 8] -> Conv+Relu -> ConvTranspose -> Flatten -> MatMul+Add -> Softmax, with the
    multiply-adds per batch item known: Conv 4*8*8*2*3*3, ConvTranspose 8*8*4*3*2*2, MatMul 768*10."""
    rng = np.random.default_rng(7)

    def const(name, shape):
        return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["x", "cw"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], name="conv"),
        helper.make_node("Relu", ["c"], ["r"], name="act"),
        helper.make_node("ConvTranspose", ["r", "tw"], ["u"], kernel_shape=[2, 2], strides=[2, 2], name="up"),
        helper.make_node("Flatten", ["u"], ["f"], name="flat"),
        helper.make_node("MatMul", ["f", "w"], ["h"], name="dense"),
        helper.make_node("Add", ["h", "b"], ["z"], name="bias"),
        helper.make_node("Softmax", ["z"], ["y"], name="probs"),
    ]
    graph = helper.make_graph(
        nodes, "profiled", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 10])],
        [const("cw", (4, 2, 3, 3)), const("tw", (4, 3, 2, 2)), const("w", (768, 10)), const("b", (10,))])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


# FLOPs (2 per multiply-add) per batch item of the steps that count them, by their first node
FLOPS_PER_ITEM = {"conv": 2 * 4 * 8 * 8 * 2 * 3 * 3, "up": 2 * 8 * 8 * 4 * 3 * 2 * 2, "dense": 2 * 768 * 10}


@pytest.fixture(scope="module")
def model():
    return load(profiled_model(), "prof")


def _x(batch):
    return np.random.default_rng(batch).standard_normal((batch, 2, 8, 8)).astype(np.float32)


def test_profile_lists_every_step_with_kinds_nodes_shares_and_flops(model):
    prof = model.profile(_x(3), repeat=5)
    assert prof.runs == 5 and len(prof.rows) == model._num_steps()
    assert sorted(r.step for r in prof.rows) == list(range(len(prof.rows)))
    assert [r.seconds for r in prof.rows] == sorted((r.seconds for r in prof.rows), reverse=True)
    assert abs(sum(r.share for r in prof.rows) - 1) < 1e-9 and abs(sum(r.seconds for r in prof.rows) - prof.seconds) < 1e-12
    by_node = {r.nodes[0][1]: r for r in prof.rows}
    assert by_node["conv"].nodes == (("Conv", "conv"), ("Relu", "act")) and by_node["conv"].kind == "conv"
    assert by_node["dense"].nodes == (("MatMul", "dense"), ("Add", "bias")) and by_node["dense"].kind == "matmul"
    assert by_node["up"].kind == "conv_transpose" and by_node["probs"].kind == "softmax"
    for first, per_item in FLOPS_PER_ITEM.items():
        assert by_node[first].flops == 3 * per_item and by_node[first].gflops > 0
    assert by_node["probs"].flops is None and by_node["probs"].gflops is None
    table = str(prof)
    assert table.startswith("profile of prof: 5 run(s)")
    assert "Conv 'conv'; Relu 'act'" in table and "MatMul 'dense'; Add 'bias'" in table
    lines = table.splitlines()
    assert len(lines) == 2 + len(prof.rows) + 1 and lines[-1].split()[0] == "total"
    assert lines[-1].split()[2] == "100.00%"


def test_flop_counts_follow_the_dynamic_batch(model):
    small = {r.nodes[0][1]: r.flops for r in model.profile(_x(2), repeat=2).rows}
    large = {r.nodes[0][1]: r.flops for r in model.profile(_x(5), repeat=2).rows}
    for first, per_item in FLOPS_PER_ITEM.items():
        assert (small[first], large[first]) == (2 * per_item, 5 * per_item)


def test_profiling_changes_no_output_and_stops_after(model):
    x = _x(4)
    plain = model(x)[0]
    model.profile(x, repeat=3)
    assert np.array_equal(model(x)[0], plain)
    model._profile_enable(model._ctx, 1)
    try:
        assert np.array_equal(model(x)[0], plain)
    finally:
        model._profile_enable(model._ctx, 0)
    # off again: the record stays as it was (one run), later runs add nothing
    model(x)
    assert model._read_profile().runs == 1


def test_c_api_report_is_written_like_snprintf_and_bad_steps_are_refused(model):
    model.profile(_x(2), repeat=2)
    length = ctypes.c_size_t()
    assert model._profile_report(model._ctx, None, 0, ctypes.byref(length)) == 0
    full = ctypes.create_string_buffer(length.value + 1)
    assert model._profile_report(model._ctx, full, len(full), None) == 0 and len(full.value) == length.value
    small = ctypes.create_string_buffer(b"\xff" * 20)
    assert model._profile_report(model._ctx, small, 20, ctypes.byref(length)) == 0
    assert small.raw[19] == 0 and small.value == full.value[:19] and length.value == len(full.value)
    assert model._profile_report(None, full, len(full), None) == 1
    assert model._profile_report(model._ctx, None, 5, None) == 1
    from exporter.native.library import _ProfileRecord
    rec = _ProfileRecord()
    assert model._profile_step(model._ctx, model._num_steps(), ctypes.byref(rec)) == 1
    assert model._profile_step(model._ctx, -1, ctypes.byref(rec)) == 1
    assert model._profile_step(model._ctx, 0, None) == 1
    assert model._profile_enable(None, 1) == 1


def test_a_context_with_no_runs_recorded_says_so(model):
    model._profile_enable(model._ctx, 1)
    model._profile_enable(model._ctx, 0)
    prof = model._read_profile()
    assert prof.runs == 0 and "no runs recorded" in str(prof)
    with pytest.raises(exporter.ExporterError, match="repeat must be at least 1"):
        model.profile(_x(1), repeat=0)


def test_hybridized_function_profiles_its_compiled_form():
    w = np.random.default_rng(1).standard_normal((16, 8)).astype(np.float32)

    def layer(x):
        return np.tanh(np.maximum(x @ w, 0))

    fast = exporter.hybridize(layer, dynamic_axes={"x": {0: "batch"}})
    prof = fast.profile(np.ones((4, 16), np.float32), repeat=3)  # compiles at this call
    assert fast.traces == 1 and prof.runs == 3
    matmul = next(r for r in prof.rows if r.kind == "matmul")
    assert matmul.flops == 2 * 4 * 16 * 8 and matmul.nodes[0][0] == "MatMul"
    with pytest.raises(exporter.ExporterError, match="backend='native'"):
        exporter.hybridize(layer, backend="onnxruntime").profile(np.ones((4, 16), np.float32))
