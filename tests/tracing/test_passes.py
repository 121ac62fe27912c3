"""Graph passes: common-subexpression elimination, and one Shape per named dynamic dim."""
import numpy as np
import onnx
from onnx import TensorProto, helper

from exporter import trace
from exporter.passes import eliminate_common_subexpressions, optimize
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


def graph_model(nodes, outputs, inputs=("x",)):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(i, TensorProto.FLOAT, [2, 3]) for i in inputs],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, [2, 3]) for o in outputs])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])


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
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    model, _ = load_or_trace(os.path.join(root, "examples", "transformer.py"))
    count = len(model.graph.node)
    optimize(model)
    assert len(model.graph.node) == count
    assert ops_of(model).count("Shape") == 2  # batch and seq, read once each


def test_passes_keep_names_that_subgraphs_read():
    """Renames reach only the graph's own nodes: an Identity, a duplicate initializer or a node whose output
    a subgraph (at any depth) reads by name stays, and the model still runs."""
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
    assert ops_of(optimized) == ["Identity", "If"] and {t.name for t in optimized.graph.initializer} == {"w1", "w2"}
    x = np.random.default_rng(1).standard_normal((2, 3)).astype(np.float32)
    for c in (True, False):
        assert_same(run_onnxruntime(model, [x, np.array(c)]), run_onnxruntime(optimized, [x, np.array(c)]))
