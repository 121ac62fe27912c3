"""Export-time fusion: BatchNormalization folded into Conv (exporter/passes.py) and bias / residual Add /
activation applied in the Conv, Gemm and MatMul epilogues (exporter/native/codegen.py). Each model is
checked against ONNX Runtime on the unfused graph, and the generated code must show the fusion."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from exporter.native.library import load
from exporter.native.project import render
from exporter.passes import fold_batch_norm, fold_conv_scale, scale_shift_batch_norm
from tests.helpers import assert_same, run_onnxruntime

rng = np.random.default_rng(7)


def _model(nodes, inputs, outputs, inits):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outputs],
                              [numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _resnet_block():
    """conv+BN+relu, conv+BN, a 1x1 downsample conv computed after it, residual Add, ReLU."""
    c = 8
    inits = {"w1": rng.standard_normal((c, 4, 3, 3)), "w2": rng.standard_normal((c, c, 3, 3)),
             "wd": rng.standard_normal((c, 4, 1, 1)), "bd": rng.standard_normal(c)}
    for k in ("1", "2"):
        inits.update({f"g{k}": rng.uniform(0.5, 2, c), f"b{k}": rng.standard_normal(c),
                      f"m{k}": rng.standard_normal(c), f"v{k}": rng.uniform(0.5, 2, c)})
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
             helper.make_node("BatchNormalization", ["c1", "g1", "b1", "m1", "v1"], ["n1"], name="bn1"),
             helper.make_node("Relu", ["n1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "w2"], ["c2"], pads=[1, 1, 1, 1], name="conv2"),
             helper.make_node("BatchNormalization", ["c2", "g2", "b2", "m2", "v2"], ["n2"], epsilon=1e-3, name="bn2"),
             helper.make_node("Conv", ["x", "wd", "bd"], ["d"], name="down"),
             helper.make_node("Add", ["n2", "d"], ["s"], name="add"),
             helper.make_node("Relu", ["s"], ["y"], name="relu2")]
    return _model(nodes, [("x", [2, 4, 9, 9])], ["y"], inits)


def test_fold_batch_norm_removes_bn_and_keeps_values():
    model = _resnet_block()
    folded = onnx.ModelProto.FromString(model.SerializeToString())
    assert fold_batch_norm(folded)
    assert [n.op_type for n in folded.graph.node].count("BatchNormalization") == 0
    x = rng.standard_normal((2, 4, 9, 9)).astype(np.float32)
    assert_same(run_onnxruntime(model, [x]), run_onnxruntime(folded, [x]), rtol=1e-4)


def test_fold_batch_norm_reads_constant_of_shape_fills():
    """Weights and statistics filled by ConstantOfShape (how the onnx wheel's model-zoo files stay small)
    fold as initializers do."""
    model = _resnet_block()
    fills = {"w1": 0.02, "g1": 1.5, "v1": 0.8}
    graph = model.graph
    kept = [t for t in graph.initializer if t.name not in fills]
    shapes = {t.name: list(t.dims) for t in graph.initializer}
    del graph.initializer[:]
    graph.initializer.extend(kept)
    for name, value in fills.items():
        graph.initializer.append(numpy_helper.from_array(np.array(shapes[name], np.int64), f"{name}_shape"))
        graph.node.insert(0, helper.make_node("ConstantOfShape", [f"{name}_shape"], [name],
                                              value=numpy_helper.from_array(np.array([value], np.float32))))
    folded = onnx.ModelProto.FromString(model.SerializeToString())
    assert fold_batch_norm(folded)
    ops = [n.op_type for n in folded.graph.node]
    assert "BatchNormalization" not in ops and "ConstantOfShape" not in ops
    x = rng.standard_normal((2, 4, 9, 9)).astype(np.float32)
    assert_same(run_onnxruntime(model, [x]), run_onnxruntime(folded, [x]), rtol=1e-4)


def _pre_activation_block(rank_known=True):
    """DenseNet's pre-activation: Concat -> BatchNormalization -> ReLU -> Conv; x's rank reaches the BN only
    through an Unsqueeze of a ConstantOfShape fill and the Concat (ONNX shape inference gives up on such fills)."""
    c = 6
    inits = {"g": rng.uniform(0.5, 2, c), "b": rng.standard_normal(c), "m": rng.standard_normal(c),
             "v": rng.uniform(0.5, 2, c), "w": rng.standard_normal((4, c, 3, 3))}
    nodes = [helper.make_node("ConstantOfShape", ["fill_shape"], ["fill"],
                              value=numpy_helper.from_array(np.array([0.5], np.float32))),
             helper.make_node("Unsqueeze", ["fill"], ["fill4"], axes=[2, 3]),
             helper.make_node("Mul", ["x", "fill4"], ["xs"]),
             helper.make_node("Concat", ["xs", "x"], ["cat"], axis=1),
             helper.make_node("BatchNormalization", ["cat", "g", "b", "m", "v"], ["n"], epsilon=1e-3, name="bn"),
             helper.make_node("Relu", ["n"], ["r"]),
             helper.make_node("Conv", ["r", "w"], ["y"], pads=[1, 1, 1, 1])]
    model = _model(nodes, [("x", [2, 3, 5, 5] if rank_known else None)], ["y"], inits)
    model.opset_import[0].version = 11
    model.graph.initializer.append(numpy_helper.from_array(np.array([2, 3], np.int64), "fill_shape"))
    return model


def test_unfoldable_batch_norm_becomes_a_scale_and_shift():
    model = _pre_activation_block()
    rewritten = onnx.ModelProto.FromString(model.SerializeToString())
    assert not fold_batch_norm(rewritten)  # its input is a Concat, not a Conv
    assert scale_shift_batch_norm(rewritten)
    assert [n.op_type for n in rewritten.graph.node].count("BatchNormalization") == 0
    shift = next(t for t in rewritten.graph.initializer if t.name == "bn_shift")
    assert list(shift.dims) == [6, 1, 1]  # broadcasts over axis 1 of a rank-4 input
    x = rng.standard_normal((2, 3, 5, 5)).astype(np.float32)
    want = run_onnxruntime(model, [x])
    assert_same(want, run_onnxruntime(rewritten, [x]), rtol=1e-4)
    # natively: one multiply-add per element, fused with the ReLU, no square root or division
    source = "\n".join(render(model, "pre")[0]["pre.cpp"].splitlines())
    assert "std::sqrt" not in source and "bn_scale" in source
    assert_same(want, load(model, "pre")(x), rtol=1e-4)


def test_batch_norm_of_unknown_rank_is_left_alone():
    model = _pre_activation_block(rank_known=False)
    assert not scale_shift_batch_norm(model)
    assert [n.op_type for n in model.graph.node].count("BatchNormalization") == 1


def _conv_mul_add(factor_shape, bias=True):
    """Conv -> Mul by a constant -> Add per channel -> ReLU (a norm's affine part spelled out, as in the onnx wheel's
    Inception-v2)."""
    c = 6
    inits = {"w": rng.standard_normal((c, 4, 3, 3)), "s": rng.uniform(-2, 2, factor_shape), "t": rng.standard_normal((c, 1, 1))}
    if bias:
        inits["b"] = rng.standard_normal(c)
    nodes = [helper.make_node("Conv", ["x", "w", "b"] if bias else ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Mul", ["s", "c"], ["m"], name="mul"),
             helper.make_node("Add", ["m", "t"], ["a"], name="add"),
             helper.make_node("Relu", ["a"], ["y"], name="relu")]
    return _model(nodes, [("x", [2, 4, 6, 6])], ["y"], inits)


@pytest.mark.parametrize("factor_shape, bias", [((6, 1, 1), True), ((1, 6, 1, 1), False), ((1,), True)])
def test_per_channel_mul_folds_into_the_conv(factor_shape, bias):
    model = _conv_mul_add(factor_shape, bias)
    folded = onnx.ModelProto.FromString(model.SerializeToString())
    assert fold_conv_scale(folded)
    assert [n.op_type for n in folded.graph.node] == ["Conv", "Add", "Relu"]
    x = rng.standard_normal((2, 4, 6, 6)).astype(np.float32)
    want = run_onnxruntime(model, [x])
    assert_same(want, run_onnxruntime(folded, [x]), rtol=1e-4)
    # natively one step: the conv's epilogue adds the shift and applies the ReLU
    assert render(model, "cma")[1].steps == 1
    assert_same(want, load(model, "cma")(x), rtol=1e-4)


@pytest.mark.parametrize("factor_shape", [(6,), (6, 6, 1), (2, 6, 1, 1)])
def test_mul_that_is_not_per_channel_stays(factor_shape):
    # (6,) scales columns, (6, 6, 1) rows of each channel, (2, 6, 1, 1) each image: not the conv's weights
    model = _conv_mul_add(factor_shape)
    assert not fold_conv_scale(model)
    assert [n.op_type for n in model.graph.node] == ["Conv", "Mul", "Add", "Relu"]


def test_bn_not_folded_when_conv_output_is_shared():
    model = _resnet_block()
    model.graph.output.append(helper.make_tensor_value_info("c1", TensorProto.FLOAT, None))
    assert fold_batch_norm(model)  # bn2 folds
    assert [n.name for n in model.graph.node if n.op_type == "BatchNormalization"] == ["bn1"]


def test_resnet_block_fuses_into_convolutions():
    model = _resnet_block()
    files, facts = render(model, "block")
    code = files["block.cpp"]
    # conv1(+bn1, relu1), conv2(+bn2), down(+add, relu2): three steps, no elementwise loop left
    assert facts.steps == 3, code
    assert code.count("conv2d_ex") == 3 and "ep.residual" in code and code.count("Act::Relu") == 2
    x = rng.standard_normal((2, 4, 9, 9)).astype(np.float32)
    assert_same(run_onnxruntime(model, [x]), load(model, "block")(x), rtol=1e-4)


@pytest.mark.parametrize("act", ["Relu", "Sigmoid", "LeakyRelu", "Clip", "HardSwish"])
def test_gemm_and_matmul_epilogues(act):
    inits = {"w": rng.standard_normal((16, 40)), "b": rng.standard_normal(40), "wt": rng.standard_normal((24, 40)),
             "lo": np.array(-0.5), "hi": np.array(0.7)}
    act_inputs = ["s", "lo", "hi"] if act == "Clip" else ["s"]
    nodes = [helper.make_node("MatMul", ["x", "w"], ["p"]), helper.make_node("Add", ["p", "b"], ["s"]),
             helper.make_node(act, act_inputs, ["h"]),
             helper.make_node("Gemm", ["h", "wt"], ["g"], transB=1, alpha=0.5),  # wt is [N, K]: transB
             helper.make_node("Add", ["g", "r"], ["y"])]                        # r: a residual input
    model = _model(nodes, [("x", [5, 16]), ("r", [5, 24])], ["y"], inits)
    files, facts = render(model, "mm")
    code = files["mm.cpp"]
    assert facts.steps == 2 and f"Act::{act}" in code and "ep.residual" in code and "ep.alpha" in code, code
    x, r = rng.standard_normal((5, 16)).astype(np.float32), rng.standard_normal((5, 24)).astype(np.float32)
    assert_same(run_onnxruntime(model, [x, r]), load(model, "mm")(x, r), rtol=1e-4)


def test_sum_of_two_is_a_residual_add():
    """ResNet-50 of the onnx wheel spells its residual connections Sum(conv, shortcut): fused like Add."""
    inits = {"w": rng.standard_normal((4, 4, 3, 3))}
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Sum", ["c", "x"], ["s"]),
             helper.make_node("Relu", ["s"], ["y"])]
    model = _model(nodes, [("x", [1, 4, 6, 6])], ["y"], inits)
    files, facts = render(model, "sum")
    assert facts.steps == 1 and "ep.residual" in files["sum.cpp"]
    x = rng.standard_normal((1, 4, 6, 6)).astype(np.float32)
    assert_same(run_onnxruntime(model, [x]), load(model, "sum")(x), rtol=1e-4)


def test_residual_computed_later_is_not_fused():
    """Add(conv_a, conv_b) where conv_b runs after conv_a: only conv_b may take the Add."""
    inits = {"wa": rng.standard_normal((4, 3, 1, 1)), "wb": rng.standard_normal((4, 3, 1, 1))}
    nodes = [helper.make_node("Conv", ["x", "wa"], ["a"]), helper.make_node("Conv", ["x", "wb"], ["b"]),
             helper.make_node("Add", ["a", "b"], ["y"])]
    model = _model(nodes, [("x", [1, 3, 5, 5])], ["y"], inits)
    files, facts = render(model, "late")
    assert facts.steps == 2
    x = rng.standard_normal((1, 3, 5, 5)).astype(np.float32)
    assert_same(run_onnxruntime(model, [x]), load(model, "late")(x), rtol=1e-4)


def _conv_pool(x_shape, m, k, stride, pad, pool, act="Relu", bn=False, indices=False):
    """Conv (+BN) (+activation) -> MaxPool; pool = (kernel, stride, pad, ceil_mode)."""
    c = x_shape[1]
    inits = {"w": rng.standard_normal((m, c, k, k)) / np.sqrt(c * k * k), "b": rng.standard_normal(m)}
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[k, k], strides=[stride] * 2, pads=[pad] * 4)]
    last = "c"
    if bn:
        inits.update({"g": rng.uniform(0.5, 2, m), "be": rng.standard_normal(m), "mu": rng.standard_normal(m),
                      "v": rng.uniform(0.5, 2, m)})
        nodes.append(helper.make_node("BatchNormalization", ["c", "g", "be", "mu", "v"], ["n"]))
        last = "n"
    if act:
        nodes.append(helper.make_node(act, [last], ["a"]))
        last = "a"
    pk, ps, pp, ceil = pool
    nodes.append(helper.make_node("MaxPool", [last], ["y", "i"] if indices else ["y"], kernel_shape=[pk, pk],
                                  strides=[ps, ps], pads=[pp] * 4, ceil_mode=ceil))
    return _model(nodes, [("x", list(x_shape))], ["y"] + (["i"] if indices else []), inits)


@pytest.mark.parametrize("x_shape, m, k, stride, pad, pool, act, bn", [
    ((1, 3, 129, 129), 32, 3, 1, 0, (3, 2, 0, 0), "Relu", False),   # few input channels, bands overlap
    ((1, 3, 80, 77), 24, 7, 1, 3, (3, 2, 1, 1), "Relu", True),      # 7x7 (BN folded), padded ceil_mode pool
    ((2, 16, 64, 66), 32, 3, 1, 1, (2, 2, 0, 0), None, False),      # stride 1 (Winograd or direct), batch 2, no act
    ((1, 8, 90, 96), 24, 3, 1, 1, (3, 1, 1, 0), "LeakyRelu", False),  # a stride-1 pool: every row in two bands
])
def test_conv_max_pool_fuses(x_shape, m, k, stride, pad, pool, act, bn):
    """A large convolution's MaxPool runs in its step, on each band of rows as it is computed."""
    model = _conv_pool(x_shape, m, k, stride, pad, pool, act, bn)
    files, facts = render(model, "cp")
    assert facts.steps == 1 and "conv2d_max_pool" in files["cp.cpp"], files["cp.cpp"]
    x = rng.standard_normal(x_shape).astype(np.float32)
    assert_same(run_onnxruntime(model, [x]), load(model, "cp")(x), rtol=1e-4)


@pytest.mark.parametrize("why", ["small", "heavy weights", "indices", "shared", "strided"])
def test_conv_max_pool_not_fused(why):
    x_shape, m = ((1, 16, 20, 20), 16) if why == "small" else ((1, 256, 40, 40), 256) if why == "heavy weights" \
        else ((1, 3, 129, 129), 32)
    # strided: a stem (3x3/2 over 3 channels, SqueezeNet's), slower fused (nn.Conv.POOL_FUSION_BYTES)
    model = _conv_pool(x_shape, m, 3, 2 if why == "strided" else 1, 1 if m >= 16 else 0, (3, 2, 0, 0),
                       indices=why == "indices")
    if why == "shared":  # the activation is also a result: it must be written whole
        model.graph.output.append(helper.make_tensor_value_info("a", TensorProto.FLOAT, None))
    files, facts = render(model, "cp")
    assert "conv2d_max_pool" not in files["cp.cpp"] and facts.steps == 2
    if why in ("small", "shared", "strided"):
        x = rng.standard_normal(x_shape).astype(np.float32)
        assert_same(run_onnxruntime(model, [x]), load(model, "cp")(x), rtol=1e-4)


def _fire(batch=1, extra=None, chain=False, output_concat=False, twice=False):
    """SqueezeNet's fire module (squeeze 1x1, expand 1x1 and 3x3, Concat along channels) then a 1x1 conv, with
    variations: `extra` an op also reading a part, `chain` a DenseNet-style Concat of the Concat and a pool branch,
    `output_concat` the Concat also a result, `twice` the same part concatenated twice."""
    inits = {"ws": rng.standard_normal((4, 6, 1, 1)), "we1": rng.standard_normal((5, 4, 1, 1)),
             "we3": rng.standard_normal((3, 4, 3, 3)), "wn": rng.standard_normal((2, 8, 1, 1)),
             "wc": rng.standard_normal((2, 14, 1, 1))}
    nodes = [helper.make_node("Conv", ["x", "ws"], ["s"]), helper.make_node("Relu", ["s"], ["sr"]),
             helper.make_node("Conv", ["sr", "we1"], ["e1"]), helper.make_node("Relu", ["e1"], ["e1r"]),
             helper.make_node("Conv", ["sr", "we3"], ["e3"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["e3"], ["e3r"]),
             helper.make_node("Concat", ["e1r", "e3r", "e1r"] if twice else ["e1r", "e3r"], ["cat"], axis=1)]
    outputs = ["y"]
    if chain:  # cat (8 channels) and a pool of x (6 channels): the second Concat's parts are a Concat and a pool
        nodes += [helper.make_node("MaxPool", ["x"], ["p"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
                  helper.make_node("Concat", ["cat", "p"], ["cat2"], axis=1), helper.make_node("Conv", ["cat2", "wc"], ["y"])]
    else:
        nodes.append(helper.make_node("Conv", ["cat", "wn"] if not twice else ["cat", "wt"], ["y"]))
        if twice:
            inits["wt"] = rng.standard_normal((2, 13, 1, 1))
    if extra:
        nodes.append(helper.make_node("Sigmoid", ["e3r"], ["z"]))
        outputs.append("z")
    if output_concat:
        outputs.append("cat")
    return _model(nodes, [("x", [batch, 6, 7, 8])], outputs, inits)


@pytest.mark.parametrize("variant, in_place", [
    ({}, 1), ({"extra": True}, 1), ({"chain": True}, 1), ({"batch": 2}, 0), ({"output_concat": True}, 0),
    ({"twice": True}, 0)])
def test_concat_in_place(variant, in_place):
    """A channel Concat at batch 1 copies nothing: its parts are written into their blocks of its output by their
    producers (parts still read as themselves); not at batch 2 (blocks not contiguous), nor when the Concat is a
    result or a part appears twice. In a chain, the Concat of a Concat copies that part (its producer is no step)."""
    model = _fire(**variant)
    files, facts = render(model, "fire")
    # one step per node, less the 3 ReLUs in conv epilogues and the Concats run in place
    assert facts.steps == len(model.graph.node) - 3 - in_place, files["fire.cpp"]
    x = rng.standard_normal((variant.get("batch", 1), 6, 7, 8)).astype(np.float32)
    assert_same(run_onnxruntime(model, [x]), load(model, "fire")(x), rtol=1e-4)
