"""exporter.cond / while_loop / fori_loop / scan: plain Python on NumPy arrays, ONNX If / Loop when traced.

Each traced model is checked with onnx.checker (full_check), run in ONNX Runtime and compared with the
same function run eagerly in NumPy, on the example inputs and on fresh ones (another size along dynamic
axes). A few are also compiled by the native backend (xfail until it implements If/Loop).
"""
import os
import re

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

import exporter
from exporter import TracingError, UnsupportedError, trace
from exporter.loader import load_or_trace
from exporter.passes import optimize
from tests.helpers import assert_same, run_onnxruntime

HERE = re.escape(__file__)
RNG = np.random.default_rng(0)
W = RNG.standard_normal((4, 4)).astype(np.float32) * 0.5  # a module weight the bodies close over
B = RNG.standard_normal(4).astype(np.float32)


def f32(*shape, seed=1, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


def ops_of(graph) -> list[str]:
    return [n.op_type for n in getattr(graph, "graph", graph).node]


def body_of(model, op_type, attr="body"):
    node = next(n for n in model.graph.node if n.op_type == op_type)
    return next(a.g for a in node.attribute if a.name == attr)


def check_onnxruntime(fn, inputs, dynamic=None, fresh=None):
    """Trace, check, and compare ONNX Runtime with NumPy eager on `inputs` and on `fresh` inputs."""
    model = trace(fn, inputs, dynamic_axes=dynamic)
    onnx.checker.check_model(model, full_check=True)
    assert_same(fn(*inputs), run_onnxruntime(model, inputs), where=f"{fn.__name__} (example)")
    for k, other in enumerate(fresh or []):
        assert_same(fn(*other), run_onnxruntime(model, other), where=f"{fn.__name__} (fresh {k})")
    return model


# ---------------------------------------------------------------------------------------------------
# Models


def clip_by_norm(g):
    norm = np.linalg.norm(g)
    return exporter.cond(norm > 1.0, lambda g: g / norm, lambda g: g, g)


def doubling(x):
    def body(carry):
        i, v = carry
        return i + 1, v * 2
    return exporter.while_loop(lambda c: (c[0] < 10) & (c[1].sum() < 100), body, (0, x))


def power_series(x):
    return exporter.fori_loop(1, 5, lambda i, acc: acc + x ** i.astype(np.float32) / i.astype(np.float32), x * 0)


def rnn(xs):
    def cell(h, x):
        h = np.tanh(h @ W + x + B)
        return h, h.sum(axis=-1)
    return exporter.scan(cell, np.zeros(xs.shape[1:], np.float32), xs)


def scan_with_cond(xs):
    def step(carry, x):
        h = np.tanh(carry @ W + x)
        y = exporter.cond(h.sum() > 0, lambda: h * 2, lambda: -h)
        return h, y
    return exporter.scan(step, np.zeros(4, np.float32), xs)


def pytree_carry(x):
    def body(i, c):
        return {"acc": c["acc"] + x * i.astype(np.float32), "steps": (c["steps"][0] + 1,)}
    out = exporter.fori_loop(0, 3, body, {"steps": (0,), "acc": np.zeros_like(x)})
    return out["acc"], out["steps"][0]


def scan_without_xs(x):
    def step(c, _):
        return c * 0.5 + x, None
    carry, ys = exporter.scan(step, x, None, length=4)
    assert ys is None
    return carry


def fori_to_dynamic_size(x):
    return exporter.fori_loop(0, x.shape[0], lambda i, acc: acc + np.take(x, i, axis=0), np.zeros(x.shape[1:],
                                                                                                   np.float32))


def while_counts(x):
    """A traced condition on the data alone: how many halvings bring the largest value under 1."""
    def body(c):
        return c[0] + 1, c[1] * 0.5
    n, _ = exporter.while_loop(lambda c: np.max(np.abs(c[1])) > 1.0, body, (np.int64(0), x))
    return n


def nested_loops(x):
    def outer(i, acc):
        inner = exporter.fori_loop(0, 2, lambda j, a: a + x * j.astype(np.float32), acc)
        return exporter.cond(i > 1, lambda: inner * 0.5, lambda: inner)
    return exporter.fori_loop(0, 3, outer, x)


# ---------------------------------------------------------------------------------------------------
# Eager: plain Python semantics


def test_eager_matches_plain_python():
    g = np.float32([3, 4])
    np.testing.assert_allclose(clip_by_norm(g), g / 5)
    np.testing.assert_array_equal(clip_by_norm(g / 10), g / 10)
    i, v = doubling(np.ones(3, np.float32))
    assert (int(i), v.tolist()) == (6, [64.0] * 3)  # 3 * 2**6 = 192 >= 100 stops it
    x = f32(3)
    expected = x * 0
    for k in range(1, 5):
        expected = expected + x ** np.float32(k) / np.float32(k)
    np.testing.assert_allclose(power_series(x), expected, rtol=1e-6)
    carry, ys = exporter.scan(lambda c, x: (c + x, c * x), np.int64(0), np.arange(1, 4))
    assert int(carry) == 6 and ys.tolist() == [0, 2, 9]


def test_eager_python_scalars_become_0d_arrays():
    i, total = exporter.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1] + 0.5), (0, 0.0))
    assert (i.dtype, i.shape, total.dtype) == (np.int64, (), np.float64)
    assert exporter.fori_loop(0, 4, lambda i, v: v + i, 0) == 6


def test_eager_empty_scan_stacks_nothing():
    carry, ys = exporter.scan(lambda c, x: (c + x.sum(), x * 2), np.float32(0), np.zeros((0, 3), np.float32))
    assert carry == 0 and ys.shape == (0, 3) and ys.dtype == np.float32


def test_eager_cond_runs_one_branch():
    ran = []
    exporter.cond(True, lambda: ran.append("true"), lambda: ran.append("false"))
    assert ran == ["true"]


# ---------------------------------------------------------------------------------------------------
# Traced: ONNX structure, checker, ONNX Runtime parity


def test_cond_is_an_if_with_input_free_branches():
    model = check_onnxruntime(clip_by_norm, (np.float32([3, 4]),), fresh=[(np.float32([0.3, 0.4]),)])
    assert ops_of(model.graph)[-1] == "If"
    for attr in ("then_branch", "else_branch"):
        branch = body_of(model, "If", attr)
        assert not branch.input and ops_of(branch)[-1] == "Identity"


def test_cond_where_example_and_probe_take_different_branches():
    """[-3, 2, 2] sums to 1; the probe (the example resized along n to 10 values) sums to 0."""
    def model(x):
        return exporter.cond(x.sum() > 0, lambda: np.cumsum(x), lambda: x * 2) + 1
    check_onnxruntime(model, (np.float32([-3, 2, 2]),), {"x": {0: "n"}},
                      fresh=[(np.float32([-3, 2, 2, -3]),), (np.float32([1, 2, 3, 4, 5]),)])

def test_while_loop_is_a_loop_without_trip_count():
    model = check_onnxruntime(doubling, (np.ones(3, np.float32),), fresh=[(np.full(3, 0.01, np.float32),)])
    loop = next(n for n in model.graph.node if n.op_type == "Loop")
    assert loop.input[0] == "" and loop.input[1]  # M empty, cond computed by cond_fn(init)
    body = body_of(model, "Loop")
    assert [i.type.tensor_type.elem_type for i in body.input[:2]] == [onnx.TensorProto.INT64, onnx.TensorProto.BOOL]
    assert len(body.output) == 1 + 2


def test_while_loop_condition_on_data():
    check_onnxruntime(while_counts, (f32(5, scale=10),),
                      fresh=[(f32(5, seed=2, scale=0.1),), (f32(5, seed=3, scale=1e4),)])


def test_while_loop_whose_trip_count_depends_on_a_dynamic_size():
    """The example (3 ones: 6 doublings) and the resized probe (more ones: fewer) stop at other iterations."""
    check_onnxruntime(doubling, (np.ones(3, np.float32),), {"x": {0: "n"}},
                      fresh=[(np.ones(20, np.float32),), (np.ones(1, np.float32),), (np.ones(0, np.float32),)])


def test_fori_loop_is_a_loop_with_constant_trip_count():
    model = check_onnxruntime(power_series, (f32(3),), fresh=[(f32(3, seed=4),)])
    loop = next(n for n in model.graph.node if n.op_type == "Loop")
    trip = next(t for t in model.graph.initializer if t.name == loop.input[0])
    assert numpy_helper.to_array(trip) == 4 and trip.data_type == onnx.TensorProto.INT64


def test_fori_loop_to_a_dynamic_size():
    check_onnxruntime(fori_to_dynamic_size, (f32(3, 2),), {"x": {0: "n"}}, fresh=[(f32(7, 2),), (f32(0, 2),)])


def test_fori_loop_to_a_traced_bound():
    def model(x, n):
        return exporter.fori_loop(1, n, lambda i, v: v * 2 + i.astype(np.float32), x)
    check_onnxruntime(model, (f32(3), np.asarray(4)), fresh=[(f32(3), np.asarray(0)), (f32(3), np.asarray(9))])


def test_scan_over_a_dict_of_sequences():
    def model(a, b):
        def step(c, x):
            c = c + x["a"] * x["b"]
            return c, {"running": c, "twice": x["a"] * 2}
        total, ys = exporter.scan(step, np.zeros(2, np.float32), {"a": a, "b": b})
        return total, ys["running"], ys["twice"]
    check_onnxruntime(model, (f32(4, 2), f32(4, 2, seed=2)), {"a": {0: "t"}, "b": {0: "t"}},
                      fresh=[(f32(7, 2, seed=3), f32(7, 2, seed=4))])

def test_scan_is_a_loop_with_scan_outputs():
    model = check_onnxruntime(rnn, (f32(6, 4),), fresh=[(f32(6, 4, seed=5),)])
    body = body_of(model, "Loop")
    assert ops_of(body)[0] == "Gather" and body.node[0].input[0] == model.graph.input[0].name  # xs: outer scope
    assert len(body.output) == 1 + 1 + 1  # cond, carry, y


def test_scan_over_a_dynamic_axis():
    check_onnxruntime(rnn, (f32(6, 2, 4),), {"xs": {0: "time", 1: "batch"}},
                      fresh=[(f32(9, 3, 4, seed=6),), (f32(1, 1, 4, seed=7),)])


def test_scan_without_xs():
    check_onnxruntime(scan_without_xs, (f32(3),))


def test_cond_inside_scan():
    model = check_onnxruntime(scan_with_cond, (f32(5, 4),), fresh=[(f32(5, 4, seed=8),)])
    assert "If" in ops_of(body_of(model, "Loop"))


def test_nested_loops_and_cond():
    check_onnxruntime(nested_loops, (f32(3),), fresh=[(f32(3, seed=9),)])


def test_while_loop_inside_scan():
    """A data-dependent inner loop per step: halve each row until its largest value is under 1."""
    def model(xs):
        def step(total, row):
            n, row = exporter.while_loop(lambda c: np.max(np.abs(c[1])) > 1.0,
                                         lambda c: (c[0] + 1, c[1] * 0.5), (np.int64(0), row))
            return total + n, row
        return exporter.scan(step, np.int64(0), xs)
    check_onnxruntime(model, (f32(4, 3, scale=20),), {"xs": {0: "t"}}, fresh=[(f32(6, 3, seed=2, scale=100),)])


def test_namedtuple_carry():
    from collections import namedtuple
    State = namedtuple("State", "step value")

    def model(x):
        out = exporter.fori_loop(0, 3, lambda i, s: State(s.step + 1, s.value * x), State(np.int64(0), x))
        assert isinstance(out, State)
        return out.value, out.step
    check_onnxruntime(model, (f32(3),))

def test_pytree_carries():
    check_onnxruntime(pytree_carry, (f32(2, 3),))


def test_closures_over_outer_traced_values_and_weights():
    def model(x, y):
        scale = y.sum()  # an outer traced value read inside the bodies
        return exporter.fori_loop(0, 3, lambda i, h: np.tanh(h @ W) * scale + y, x)
    model_ = check_onnxruntime(model, (f32(2, 4), f32(2, 4, seed=2)), fresh=[(f32(2, 4, seed=3), f32(2, 4, seed=4))])
    body = body_of(model_, "Loop")
    weights = {t.name for t in model_.graph.initializer}
    assert any(i in weights for n in body.node for i in n.input)  # W: an initializer of the main graph


def test_concrete_loop_inside_a_trace_is_folded():
    """Nothing traced inside: the loop runs at trace time like any Python loop."""
    def model(x):
        table = exporter.fori_loop(0, 4, lambda i, t: t * 2, np.ones(3, np.float32))
        return x + table
    model_ = check_onnxruntime(model, (f32(3),))
    assert "Loop" not in ops_of(model_.graph)


def test_concrete_carry_closing_over_traced_values_is_a_loop():
    def model(x):
        return exporter.fori_loop(0, 3, lambda i, acc: acc + x, np.zeros(3, np.float32))
    model_ = check_onnxruntime(model, (f32(3),))
    assert ops_of(model_.graph).count("Loop") == 1 and "Add" not in ops_of(model_.graph)


def test_concrete_pred_picks_the_branch_at_trace_time():
    def model(x):
        return exporter.cond(x.ndim == 2, lambda v: v.sum(axis=1), lambda v: v, x)
    assert "If" not in ops_of(check_onnxruntime(model, (f32(2, 3),)).graph)


def test_output_read_inside_a_body_survives_renaming():
    """The optimizer renames `y` to output_0 at its producer: the branch reading it is renamed too."""
    def model(x):
        y = x * 2
        return y, exporter.cond(x.sum() > 0, lambda: y + 1, lambda: y - 1)
    check_onnxruntime(model, (f32(3),), fresh=[(-np.abs(f32(3)),)])


def test_deduplicated_initializer_is_renamed_inside_bodies():
    one = numpy_helper.from_array(np.ones(2, np.float32), "a")
    same = numpy_helper.from_array(np.ones(2, np.float32), "b")
    branch = helper.make_graph([helper.make_node("Add", ["x", "b"], ["r"])], "branch", [],
                               [helper.make_tensor_value_info("r", onnx.TensorProto.FLOAT, [2])])
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "a"], ["s"]), helper.make_node("ReduceSum", ["s"], ["t"], keepdims=0),
         helper.make_node("Greater", ["t", "zero"], ["p"]),
         helper.make_node("If", ["p"], ["out"], then_branch=branch, else_branch=branch)], "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("out", onnx.TensorProto.FLOAT, [2])],
        [one, same, numpy_helper.from_array(np.float32(0), "zero")])
    model = optimize(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)]))
    assert [t.name for t in model.graph.initializer if t.name in "ab"] == ["a"]
    onnx.checker.check_model(model, full_check=True)
    assert_same([np.float32([2, 3])], run_onnxruntime(model, [np.float32([1, 2])]))


def test_verifier_checks_values_inside_bodies():
    """trace() cross-checks every value's dtype with ONNX shape inference, in bodies too."""
    from exporter.tracing.trace import _verify
    model = trace(rnn, (f32(3, 4),))
    tanh = next(n.output[0] for n in body_of(model, "Loop").node if n.op_type == "Tanh")

    class Claims:
        value_dtypes = {tanh: np.dtype(np.float64)}
    with pytest.raises(AssertionError, match=r"Tanh node .* produces float32, NumPy gives float64"):
        _verify(model, Claims())


def test_and_of_traced_conditions_suggests_ampersand():
    with pytest.raises(TracingError, match=r"(?s)truth value.*combine traced conditions with & and \|"):
        trace(lambda x: exporter.while_loop(lambda v: v.sum() < 10 and v.max() < 5, lambda v: v * 2, x),
              (np.ones(3, np.float32),))

def test_hybridize_on_onnxruntime():
    fast = exporter.hybridize(scan_with_cond, (f32(5, 4),), backend="onnxruntime", dynamic_axes={"xs": {0: "T"}})
    for xs in (f32(5, 4, seed=11), f32(8, 4, seed=12)):
        assert_same(scan_with_cond(xs), fast(xs))
    assert isinstance(fast(f32(2, 4)), tuple) and fast.traces == 1


# ---------------------------------------------------------------------------------------------------
# The examples: each exports from its model.py and matches NumPy in ONNX Runtime

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "examples")


def example(stem):
    model, spec = load_or_trace(os.path.join(EXAMPLES, f"{stem}.py"))
    onnx.checker.check_model(model, full_check=True)
    return model, spec.fn


def test_example_clip_cond_both_branches():
    model, fn = example("clip_cond")
    assert "If" in ops_of(model)
    for grad in (f32(10) * 5, f32(10) * 0.01, f32(3), np.zeros(1, np.float32)):
        assert_same(fn(grad), run_onnxruntime(model, [grad]), where=f"norm {np.linalg.norm(grad)}")


def test_example_greedy_decode_stops_at_end_or_max_length():
    model, fn = example("greedy_decode")
    assert "Loop" in ops_of(model)
    lengths = set()
    for seed in range(8):
        for start in (0, 3, 7):  # start == END: the loop runs zero times
            inputs = [np.random.default_rng(seed).standard_normal(32).astype(np.float32), np.asarray(start)]
            expected = fn(*inputs)
            assert_same(expected, run_onnxruntime(model, inputs), where=f"seed {seed} start {start}")
            lengths.add(int(expected[1]))
    assert 0 in lengths and 12 in lengths and len(lengths) > 3  # stopped by END, by MAX_LEN and in between


def test_example_rnn_scan_over_dynamic_time_and_batch():
    model, fn = example("rnn_scan")
    assert "Loop" in ops_of(model)
    for shape in ((5, 2, 8), (1, 1, 8), (11, 3, 8)):
        xs = f32(*shape, seed=shape[0])
        assert_same(fn(xs), run_onnxruntime(model, [xs]), where=str(shape))


# ---------------------------------------------------------------------------------------------------
# Errors: what, the user's line, why, how to fix


def expect(fn, pattern, inputs=(np.ones(3, np.float32),), cls=TracingError):
    with pytest.raises(cls) as info:
        trace(fn, inputs)
    message = str(info.value)
    assert re.search(pattern, message, re.S), message
    return message


def carry_changes_dtype(x):
    return exporter.fori_loop(0, 3, lambda i, acc: acc + x.astype(np.float64), np.zeros(3, np.float32))


def carry_changes_shape(x):
    return exporter.while_loop(lambda c: c.sum() < 10, lambda c: np.concatenate([c, c]), x)


def branches_differ(x):
    return exporter.cond(x.sum() > 0, lambda: (x, x), lambda: x)


def branches_differ_in_dtype(x):
    return exporter.cond(x.sum() > 0, lambda: x, lambda: x.astype(np.int64))


def pred_not_scalar(x):
    return exporter.cond(x > 0, lambda: x, lambda: -x)


def scan_returns_one_value(xs):
    return exporter.scan(lambda c, x: c + x, np.float32(0), xs)


def test_carry_dtype_change_is_named():
    message = expect(carry_changes_dtype, r"<lambda> \(" + HERE + r":\d+\) returned the carry as float64\[3\], but "
                     r"it is float32\[3\]; a loop's carry keeps one structure, dtype and shape.*fix: give the initial "
                     r"value the dtype and shape the body returns")
    assert re.search(HERE + r":\d+: in carry_changes_dtype: return exporter.fori_loop", message), message


def test_carry_shape_change_is_named():
    message = expect(carry_changes_shape, r"returned the carry as float32\[6\], but it is float32\[3\]")
    assert re.search(HERE + r":\d+: in carry_changes_shape: return exporter.while_loop", message), message


def test_carry_shape_change_is_an_error_eagerly_too():
    with pytest.raises(TracingError, match=r"returned the carry as float32\[6\], but it is float32\[3\]"):
        carry_changes_shape(np.ones(3, np.float32))


def test_branches_with_different_structures():
    message = expect(branches_differ, r"returned \*, but true_fn's result is \(\*, \*\); an ONNX If gives one result "
                     r"whichever branch runs.*fix: return the same tuple/list/dict structure")
    assert re.search(HERE + r":\d+: in branches_differ: return exporter.cond", message), message


def test_branches_with_different_dtypes():
    expect(branches_differ_in_dtype, r"returned true_fn's result as int64\[3\], but it is float32\[3\]")


def test_pred_must_be_a_scalar_bool():
    message = expect(pred_not_scalar, r"exporter.cond's pred must be a scalar bool, got bool of shape \(3,\).*"
                     r"fix: compare to get a bool.*np.any / np.all")
    assert re.search(HERE + r":\d+: in pred_not_scalar: return exporter.cond", message), message


def test_scan_body_must_return_a_pair():
    expect(scan_returns_one_value,
           r"scan's f <lambda> .* returned Tracer, not a pair \(carry, y\).*fix: return carry, y",
           inputs=(np.ones((3, 2), np.float32),))


def test_fori_loop_bounds_are_integers():
    expect(lambda x: exporter.fori_loop(0, 2.5, lambda i, v: v, x), r"fori_loop's upper bound must be a scalar "
           r"integer, got float64 of shape \(\).*fix: pass an int, x.shape\[i\] or a 0-d integer array")


def test_scan_ys_keep_one_shape():
    """Eagerly a step could make a y of another shape (traced, shapes cannot depend on the step)."""
    with pytest.raises(TracingError, match=r"returned the scanned output y as float32\[2\], but it is float32\[1\]"):
        exporter.scan(lambda c, x: (c + 1, np.ones(c + 1, np.float32)), 0, np.zeros((3, 2)))

def test_non_array_carry():
    with pytest.raises(TracingError, match=r"while_loop's init_val\[1\] is str; control-flow values must be arrays"):
        exporter.while_loop(lambda c: False, lambda c: c, (0, "text"))


# ---------------------------------------------------------------------------------------------------
# Three ways: NumPy eager, ONNX Runtime, native (the native backend's If/Loop is on branch cf-native)

@pytest.mark.parametrize("fn, inputs", [
    (clip_by_norm, (np.float32([3, 4]),)),
    (doubling, (np.ones(3, np.float32),)),
    (scan_with_cond, (f32(5, 4),)),
], ids=["cond", "while_loop", "scan_with_cond"])
def test_three_way(fn, inputs):
    expected = fn(*inputs)
    assert_same(expected, exporter.hybridize(fn, inputs, backend="onnxruntime")(*inputs), where="onnxruntime")
    assert_same(expected, exporter.hybridize(fn, inputs, backend="native")(*inputs), where="native")
