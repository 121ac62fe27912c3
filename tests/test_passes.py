"""Graph passes (exporter/passes.py), one test at least per pass: each says whether it changed the graph,
reaches a fixed point, keeps the model valid and its outputs unchanged in ONNX Runtime."""
import numpy as np
import onnx
from onnx import TensorProto, helper

from exporter import trace
from exporter.passes import (deduplicate_initializers, eliminate_common_subexpressions, eliminate_dead_nodes,
                             fold_constants, optimize, remove_identities)
from tests.helpers import assert_same, run_onnxruntime


def ops_of(model):
    return [n.op_type for n in model.graph.node]


def manual_layer_norm(x):
    mu = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)  # computes the same ReduceMean of x again inside
    return (x - mu) / np.sqrt(var + 1e-5)


def test_mean_and_var_share_one_reduce_mean():
    x = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    model = trace(manual_layer_norm, (x,))
    # mean(x) once (shared by mu and var's centering), mean of the squares once
    assert ops_of(model).count("ReduceMean") == 2 and ops_of(model).count("Sub") == 1, ops_of(model)
    assert_same(manual_layer_norm(x), run_onnxruntime(model, [x]))


def graph_model(nodes, outputs, inputs=("x",), initializers=()):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(i, TensorProto.FLOAT, [2, 3]) for i in inputs],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, [2, 3]) for o in outputs],
                              [onnx.numpy_helper.from_array(a, n) for n, a in initializers])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])


X = np.random.default_rng(7).standard_normal((2, 3)).astype(np.float32)


def check_pass(pass_, model):
    """Run `pass_` on `model`: it reports a change, the result is valid and computes the same outputs, and
    a second run changes nothing. Returns the model."""
    before = run_onnxruntime(model, [X])
    assert pass_(model), f"{pass_.__name__} did not report a change"
    onnx.checker.check_model(model, full_check=True)
    assert_same(before, run_onnxruntime(model, [X]))
    assert not pass_(model), f"{pass_.__name__} is not at a fixed point after one run"
    return model


def test_eliminate_dead_nodes_drops_unread_nodes_and_initializers():
    w = np.ones((2, 3), np.float32)
    model = check_pass(eliminate_dead_nodes, graph_model([
        helper.make_node("Relu", ["x"], ["a"]),
        helper.make_node("Mul", ["x", "w_dead"], ["dead"]),   # read by nothing
        helper.make_node("Add", ["a", "w"], ["y"]),
    ], ["y"], initializers=[("w", w), ("w_dead", w), ("w_never", w)]))
    assert ops_of(model) == ["Relu", "Add"] and [t.name for t in model.graph.initializer] == ["w"]


def test_deduplicate_initializers_keeps_one_copy():
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    model = check_pass(deduplicate_initializers, graph_model([
        helper.make_node("Add", ["x", "w1"], ["a"]),
        helper.make_node("Mul", ["a", "w2"], ["y"]),          # w2 == w1
    ], ["y"], initializers=[("w1", w), ("w2", w.copy()), ("w3", w + 1)]))
    assert [t.name for t in model.graph.initializer] == ["w1", "w3"]
    assert list(model.graph.node[1].input) == ["a", "w1"]


def test_remove_identities_bypasses_chains_but_keeps_output_names():
    model = check_pass(remove_identities, graph_model([
        helper.make_node("Identity", ["x"], ["i1"]),
        helper.make_node("Identity", ["i1"], ["i2"]),
        helper.make_node("Relu", ["i2"], ["r"]),
        helper.make_node("Dropout", ["r"], ["d"]),             # inference: a pass-through
        helper.make_node("Identity", ["d"], ["y"]),            # a graph output: its name stays
    ], ["y"]))
    assert "Identity" not in ops_of(model)[:-1] and "Dropout" not in ops_of(model)
    assert model.graph.output[0].name == "y" and list(model.graph.node[0].input) == ["x"]


def test_fold_constants_computes_constant_subgraphs_once():
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    model = check_pass(fold_constants, graph_model([
        helper.make_node("Exp", ["w"], ["ew"]),                # constant: computed at export time
        helper.make_node("Transpose", ["ew"], ["ewt"]),
        helper.make_node("Transpose", ["ewt"], ["ew2"]),
        helper.make_node("Add", ["x", "ew2"], ["y"]),
        helper.make_node("RandomUniformLike", ["w"], ["r"]),   # never folded: a new value per run
    ], ["y"], initializers=[("w", w)]))
    assert ops_of(model) == ["Add", "RandomUniformLike"]


def test_fold_constants_unsqueezes_by_attribute():
    """Opset-11 Unsqueeze (axes an attribute, negative ones too) of a constant folds: onnx's reference evaluator
    fails on it, and the onnx wheel's Inception-v2 and DenseNet shape every per-channel scale that way."""
    s = np.arange(2, dtype=np.float32) + 1
    model = graph_model([helper.make_node("Unsqueeze", ["s"], ["s3"], axes=[1, -1]),
                         helper.make_node("Reshape", ["s3", "shape"], ["s2"]),
                         helper.make_node("Mul", ["x", "s2"], ["y"])], ["y"],
                        initializers=[("s", s), ("shape", np.array([2, 1], np.int64))])
    model.opset_import[0].version = 11
    assert ops_of(check_pass(fold_constants, model)) == ["Mul"]
    folded = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    assert folded["s3"].shape == (2, 1, 1)


def test_cse_merges_chains_and_respects_attributes():
    model = graph_model([
        helper.make_node("Exp", ["x"], ["a"]),
        helper.make_node("Exp", ["x"], ["b"]),                      # = a
        helper.make_node("Softmax", ["a"], ["c"], axis=0),
        helper.make_node("Softmax", ["b"], ["d"], axis=0),          # = c once b is a
        helper.make_node("Softmax", ["b"], ["e"], axis=1),          # another axis: kept
        helper.make_node("Add", ["c", "d"], ["f"]),
        helper.make_node("Add", ["f", "e"], ["y"]),
    ], ["y"])
    x = np.random.default_rng(1).standard_normal((2, 3)).astype(np.float32)
    before = run_onnxruntime(model, [x])
    assert eliminate_common_subexpressions(model)
    assert ops_of(model) == ["Exp", "Softmax", "Softmax", "Add", "Add"]
    assert list(model.graph.node[3].input) == ["c", "c"]
    onnx.checker.check_model(model, full_check=True)
    assert_same(before, run_onnxruntime(model, [x]))
    assert not eliminate_common_subexpressions(model)  # a fixed point


def test_cse_keeps_graph_outputs_and_random_ops():
    model = graph_model([
        helper.make_node("Relu", ["x"], ["y"]),
        helper.make_node("Relu", ["x"], ["z"]),  # both are outputs: each keeps its own node
        helper.make_node("RandomUniformLike", ["x"], ["r1"], seed=1.0),
        helper.make_node("RandomUniformLike", ["x"], ["r2"], seed=1.0),
    ], ["y", "z", "r1", "r2"])
    assert not eliminate_common_subexpressions(model)
    assert len(model.graph.node) == 4


def test_one_shape_per_named_dynamic_dim():
    def fn(x):
        b, s, _ = x.shape
        h = (x * 2).reshape(b, s, 2, 2)
        return h.reshape(b, s, 4) + (x + 1).reshape(b, s, 4)
    x = np.ones((2, 3, 4), np.float32)
    model = trace(fn, (x,), dynamic_axes={"x": {0: "b", 1: "s"}})
    assert ops_of(model).count("Shape") == 2, ops_of(model)
    assert ops_of(model).count("Concat") == 2, ops_of(model)  # (b, s, 2, 2) and (b, s, 4) once each
    y = np.random.default_rng(2).standard_normal((5, 7, 4)).astype(np.float32)
    assert_same(fn(y), run_onnxruntime(model, [y]))


def test_optimize_reaches_a_fixed_point_on_the_transformer():
    import os
    from exporter.loader import load_or_trace
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    model, _ = load_or_trace(os.path.join(root, "examples", "transformer.py"))
    count = len(model.graph.node)
    optimize(model)
    assert len(model.graph.node) == count
    assert ops_of(model).count("Shape") == 2  # batch and seq, read once each


def test_renames_reach_names_that_subgraphs_read():
    """An Identity bypassed and a duplicate initializer merged are renamed inside subgraphs too (at any depth,
    where a body does not define the name itself), so the model still runs."""
    from onnx import numpy_helper
    inner = helper.make_graph([helper.make_node("Add", ["ident", "w2"], ["r"])], "inner", [],
                              [helper.make_tensor_value_info("r", TensorProto.FLOAT, None)])
    other = helper.make_graph([helper.make_node("Neg", ["w1"], ["r2"])], "other", [],
                              [helper.make_tensor_value_info("r2", TensorProto.FLOAT, None)])
    then = helper.make_graph([helper.make_node("If", ["c"], ["t"], then_branch=inner, else_branch=other)], "then", [],
                             [helper.make_tensor_value_info("t", TensorProto.FLOAT, None)])
    nodes = [helper.make_node("Identity", ["x"], ["ident"]),
             helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)]
    w = np.ones((2, 3), np.float32)
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
                                           helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(w, "w1"), numpy_helper.from_array(w, "w2")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    optimized = optimize(onnx.ModelProto.FromString(model.SerializeToString()))
    assert ops_of(optimized) == ["If"] and {t.name for t in optimized.graph.initializer} == {"w1"}
    x = np.random.default_rng(1).standard_normal((2, 3)).astype(np.float32)
    for c in (True, False):
        assert_same(run_onnxruntime(model, [x, np.array(c)]), run_onnxruntime(optimized, [x, np.array(c)]))
