"""Control flow (If, Loop, Scan) on the native backend: hand-built ONNX models, each checked three ways
(a hand-written NumPy reference, ONNX Runtime, the compiled native code), and the cases the backend must
refuse, refused with a message that names the node and the reason."""
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from exporter.errors import UnsupportedError
from exporter.native.project import render
from tests.helpers import assert_same, run_onnxruntime

F, I64, B = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL
rng = np.random.default_rng(11)


def vi(name, elem, shape=None):
    return helper.make_tensor_value_info(name, elem, shape)


def const(name, array):
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(array)))


def model(nodes, inputs, outputs, inits=(), opset=17):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def body(nodes, inputs, outputs, name="body", inits=()):
    return helper.make_graph(nodes, name, inputs, outputs, list(inits))


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


# ---- If ----------------------------------------------------------------------------------------------

def if_outer_scope():
    """Branches read outer values (an input, an intermediate, an initializer), hold a Constant node and an
    initializer of their own, and return two outputs; else returns (an Identity of) an outer value."""
    w = f32(3, 4)
    then = body([const("two", np.float32(2)), helper.make_node("Mul", ["x", "two"], ["t0"]),
                 helper.make_node("Add", ["t0", "w"], ["t1"]), helper.make_node("Add", ["t1", "b_then"], ["a"]),
                 helper.make_node("ReduceSum", ["a"], ["s"], keepdims=0)],
                [], [vi("a", F), vi("s", F)], "then", [numpy_helper.from_array(np.float32([1, 2, 3, 4]), "b_then")])
    other = body([helper.make_node("ReduceMax", ["h"], ["m"], keepdims=0), helper.make_node("Identity", ["h"], ["h2"])],
                 [], [vi("h2", F), vi("m", F)], "else")
    nodes = [helper.make_node("Tanh", ["x"], ["h"]),
             helper.make_node("If", ["c"], ["a_out", "s_out"], then_branch=then, else_branch=other),
             helper.make_node("Mul", ["a_out", "x"], ["y"])]
    m = model(nodes, [vi("c", B, []), vi("x", F, [3, 4])], [vi("y", F), vi("s_out", F)],
              [numpy_helper.from_array(w, "w")])

    def ref(c, x):
        if c:
            a = x * 2 + w + np.float32([1, 2, 3, 4])
            return a * x, a.sum(dtype=np.float32)
        return np.tanh(x) * x, np.tanh(x).max()
    return m, ref, [[np.array(True), f32(3, 4)], [np.array(False), f32(3, 4)]]


def if_computed_condition():
    """The condition comes from data (a reduction), the output is a graph output of both branches."""
    then = body([helper.make_node("Relu", ["x"], ["r"])], [], [vi("r", F)], "then")
    other = body([helper.make_node("Neg", ["x"], ["r2"])], [], [vi("r2", F)], "else")
    nodes = [helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0), const("zero", np.float32(0)),
             helper.make_node("Greater", ["s", "zero"], ["c"]),
             helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)]
    m = model(nodes, [vi("x", F, [5])], [vi("y", F)])

    def ref(x):
        return np.maximum(x, 0) if x.sum() > 0 else -x
    return m, ref, [[np.abs(f32(5))], [-np.abs(f32(5))]]


# ---- Loop --------------------------------------------------------------------------------------------

def _loop_body(nodes, carried, scans=(), cond_out="cond_out", extra_inputs=None):
    inputs = [vi("i", I64, []), vi("cond_in", B, [])] + [vi(n + "_in", F, None) for n in carried]
    outputs = [vi(cond_out, B, [])] + [vi(n + "_out", F, None) for n in carried] + [vi(n, t, None) for n, t in scans]
    return body(nodes, inputs, outputs)


def loop_trip_count_only():
    """M arrives at run time, no condition, one carried value, no scan outputs."""
    b = _loop_body([helper.make_node("Identity", ["cond_in"], ["cond_out"]), const("k", np.float32(0.9)),
                    helper.make_node("Mul", ["x_in", "k"], ["t"]), helper.make_node("Add", ["t", "x0"], ["x_out"])],
                   ["x"])
    m = model([helper.make_node("Loop", ["m", "", "x0"], ["x_final"], body=b)],
              [vi("m", I64, []), vi("x0", F, [2, 3])], [vi("x_final", F)])

    def ref(trip, x0):
        x = x0.copy()
        for _ in range(int(trip)):
            x = x * np.float32(0.9) + x0
        return x
    return m, ref, [[np.array(4, np.int64), f32(2, 3)], [np.array(0, np.int64), f32(2, 3)],
                    [np.array(1, np.int64), f32(2, 3)]]


def loop_condition_only():
    """A while loop: no M, the body decides when to stop (doubling until the sum passes a limit)."""
    b = _loop_body([helper.make_node("Add", ["x_in", "x_in"], ["x_out"]),
                    helper.make_node("ReduceSum", ["x_out"], ["s"], keepdims=0),
                    helper.make_node("Less", ["s", "limit"], ["cond_out"])], ["x"])
    m = model([helper.make_node("Loop", ["", "c0", "x0"], ["x_final"], body=b)],
              [vi("c0", B, []), vi("x0", F, [4]), vi("limit", F, [])], [vi("x_final", F)])

    def ref(c0, x0, limit):
        x, c = x0.copy(), bool(c0)
        while c:
            x = x + x
            c = x.sum() < limit
        return x
    x0 = np.abs(f32(4)) + 0.1
    return m, ref, [[np.array(True), x0, np.array(100, np.float32)], [np.array(False), x0, np.array(100, np.float32)]]


def loop_trip_count_and_condition():
    """Both M and a condition: stops at whichever comes first; the iteration number is read."""
    b = _loop_body([helper.make_node("Cast", ["i"], ["fi"], to=F), helper.make_node("Add", ["x_in", "fi"], ["x_out"]),
                    const("three", np.int64(3)), helper.make_node("Less", ["i", "three"], ["cond_out"])], ["x"])
    m = model([helper.make_node("Loop", ["m", "c0", "x0"], ["x_final"], body=b)],
              [vi("m", I64, []), vi("c0", B, []), vi("x0", F, [3])], [vi("x_final", F)])

    def ref(trip, c0, x0):
        x, c, i = x0.copy(), bool(c0), 0
        while i < trip and c:
            x = x + np.float32(i)
            c = i < 3
            i += 1
        return x
    return m, ref, [[np.array(10, np.int64), np.array(True), f32(3)], [np.array(2, np.int64), np.array(True), f32(3)]]


def loop_scan_outputs():
    """A constant trip count, two carried values and two scan outputs (float and int64)."""
    b = _loop_body([helper.make_node("Identity", ["cond_in"], ["cond_out"]),
                    helper.make_node("Mul", ["h_in", "w"], ["p"]), helper.make_node("Tanh", ["p"], ["h_out"]),
                    helper.make_node("Add", ["acc_in", "h_out"], ["acc_out"]),
                    helper.make_node("Mul", ["i", "i"], ["sq"]),
                    helper.make_node("Identity", ["h_out"], ["h_scan"])],
                   ["h", "acc"], [("h_scan", F), ("sq", I64)])
    w = f32(2, 3)
    loop = helper.make_node("Loop", ["m", "", "h0", "acc0"], ["h", "acc", "hs", "sqs"], body=b)
    m = model([const("m", np.int64(5)), loop],
              [vi("h0", F, [2, 3]), vi("acc0", F, [2, 3])], [vi("h", F), vi("acc", F), vi("hs", F), vi("sqs", I64)],
              [numpy_helper.from_array(w, "w")])

    def ref(h0, acc0):
        h, acc, hs, sqs = h0, acc0, [], []
        for i in range(5):
            h = np.tanh(h * w)
            acc = acc + h
            hs.append(h)
            sqs.append(i * i)
        return h, acc, np.stack(hs), np.array(sqs, np.int64)
    return m, ref, [[f32(2, 3), f32(2, 3)]]


def loop_trip_from_input_shape():
    """M = x.shape[0] along a dynamic axis: the scan output's size follows the input's."""
    b = _loop_body([helper.make_node("Identity", ["cond_in"], ["cond_out"]),
                    helper.make_node("Gather", ["x", "i"], ["row"], axis=0),
                    helper.make_node("Add", ["s_in", "row"], ["s_out"]),
                    helper.make_node("Mul", ["s_out", "row"], ["y"])], ["s"], [("y", F)])
    nodes = [helper.make_node("Shape", ["x"], ["shape"]), const("zero", np.int64(0)),
             helper.make_node("Gather", ["shape", "zero"], ["n"], axis=0),
             helper.make_node("Loop", ["n", "", "s0"], ["s", "ys"], body=b)]
    m = model(nodes, [vi("x", F, ["n", 4]), vi("s0", F, [4])], [vi("s", F), vi("ys", F)])

    def ref(x, s0):
        s, ys = s0, []
        for row in x:
            s = s + row
            ys.append(s * row)
        return s, np.stack(ys).reshape(len(x), 4)
    return m, ref, [[f32(3, 4), f32(4)], [f32(6, 4), f32(4)], [f32(1, 4), f32(4)]]


def if_nested_in_loop():
    """An If inside a Loop body: its condition comes from the iteration number, its branches read a value
    of the Loop body (h_in) and one of the main graph two scopes up (a)."""
    then = body([helper.make_node("Add", ["h_in", "a"], ["t"])], [], [vi("t", F)], "then")
    other = body([const("half", np.float32(0.5)), helper.make_node("Mul", ["h_in", "half"], ["e"])], [],
                 [vi("e", F)], "else")
    b = _loop_body([helper.make_node("Identity", ["cond_in"], ["cond_out"]), const("two", np.int64(2)),
                    helper.make_node("Mod", ["i", "two"], ["r"]), const("zero", np.int64(0)),
                    helper.make_node("Equal", ["r", "zero"], ["even"]),
                    helper.make_node("If", ["even"], ["h_out"], then_branch=then, else_branch=other),
                    helper.make_node("Identity", ["h_out"], ["h_scan"])], ["h"], [("h_scan", F)])
    nodes = [helper.make_node("Abs", ["x"], ["a"]), const("m", np.int64(4)),
             helper.make_node("Loop", ["m", "", "h0"], ["h", "hs"], body=b)]
    m = model(nodes, [vi("x", F, [2, 2]), vi("h0", F, [2, 2])], [vi("h", F), vi("hs", F)])

    def ref(x, h0):
        h, hs = h0, []
        for i in range(4):
            h = h + np.abs(x) if i % 2 == 0 else h * np.float32(0.5)
            hs.append(h)
        return h, np.stack(hs)
    return m, ref, [[f32(2, 2), f32(2, 2)]]


# ---- Scan --------------------------------------------------------------------------------------------

def scan_forward():
    """Two states, two scan inputs along axis 0, an outer-scope weight, two scan outputs."""
    w = f32(3)
    b = body([helper.make_node("Add", ["s_in", "x_t"], ["s_out"]), helper.make_node("Mul", ["p_in", "u_t"], ["p_out"]),
              helper.make_node("Mul", ["s_out", "w"], ["y_t"]), helper.make_node("Add", ["p_out", "s_out"], ["z_t"])],
             [vi("s_in", F, None), vi("p_in", F, None), vi("x_t", F, None), vi("u_t", F, None)],
             [vi("s_out", F, None), vi("p_out", F, None), vi("y_t", F, None), vi("z_t", F, None)])
    m = model([helper.make_node("Scan", ["s0", "p0", "x", "u"], ["s", "p", "y", "z"], body=b, num_scan_inputs=2)],
              [vi("s0", F, [3]), vi("p0", F, [3]), vi("x", F, ["t", 3]), vi("u", F, ["t", 3])],
              [vi("s", F), vi("p", F), vi("y", F), vi("z", F)], [numpy_helper.from_array(w, "w")], opset=16)

    def ref(s0, p0, x, u):
        s, p, ys, zs = s0, p0, [], []
        for xt, ut in zip(x, u):
            s, p = s + xt, p * ut
            ys.append(s * w)
            zs.append(p + s)
        return s, p, np.stack(ys).reshape(len(x), 3), np.stack(zs).reshape(len(x), 3)
    return m, ref, [[f32(3), f32(3), f32(4, 3), f32(4, 3)], [f32(3), f32(3), f32(7, 3), f32(7, 3)]]


def scan_reverse_axes():
    """scan_input_axes=1 read backwards, scan outputs along axis 1 (one reversed) and along axis 0."""
    b = body([helper.make_node("Add", ["s_in", "x_t"], ["s_out"]), helper.make_node("Neg", ["s_out"], ["n_t"]),
              helper.make_node("Identity", ["s_out"], ["c_t"])],
             [vi("s_in", F, None), vi("x_t", F, None)], [vi("s_out", F, None), vi("n_t", F, None), vi("c_t", F, None)])
    m = model([helper.make_node("Scan", ["s0", "x"], ["s", "n", "c"], body=b, num_scan_inputs=1,
                                scan_input_axes=[1], scan_input_directions=[1],
                                scan_output_axes=[1, 0], scan_output_directions=[1, 0])],
              [vi("s0", F, [2, 3]), vi("x", F, [2, "t", 3])], [vi("s", F), vi("n", F), vi("c", F)])

    def ref(s0, x):
        s, ns, cs = s0, [], []
        for k in reversed(range(x.shape[1])):
            s = s + x[:, k]
            ns.append(-s)
            cs.append(s)
        n = np.stack(ns[::-1], axis=1)   # output direction reverse: iteration k lands at L-1-k
        return s, n.reshape(2, x.shape[1], 3), np.stack(cs).reshape(x.shape[1], 2, 3)
    return m, ref, [[f32(2, 3), f32(2, 5, 3)], [f32(2, 3), f32(2, 2, 3)]]


def scan_rnn():
    """An RNN as a Scan over time: MatMuls (with a fused bias and tanh) on weights of the outer graph,
    batch and time both dynamic; the state is also returned per step."""
    wx, wh, b = f32(4, 6) * 0.5, f32(6, 6) * 0.5, f32(6)
    bd = body([helper.make_node("MatMul", ["x_t", "wx"], ["a"]), helper.make_node("MatMul", ["h_in", "wh"], ["c"]),
               helper.make_node("Add", ["a", "c"], ["s"]), helper.make_node("Add", ["s", "b"], ["sb"]),
               helper.make_node("Tanh", ["sb"], ["h_out"]), helper.make_node("Identity", ["h_out"], ["h_t"])],
              [vi("h_in", F, None), vi("x_t", F, None)], [vi("h_out", F, None), vi("h_t", F, None)])
    m = model([helper.make_node("Scan", ["h0", "x"], ["h", "hs"], body=bd, num_scan_inputs=1)],
              [vi("h0", F, ["batch", 6]), vi("x", F, ["time", "batch", 4])], [vi("h", F), vi("hs", F)],
              [numpy_helper.from_array(v, k) for k, v in (("wx", wx), ("wh", wh), ("b", b))], opset=16)

    def ref(h0, x):
        h, hs = h0, []
        for xt in x:
            h = np.tanh(xt @ wx + h @ wh + b)
            hs.append(h)
        return h, np.array(hs, np.float32).reshape(len(x), len(h0), 6)
    ref.ort_skips = {2}  # ONNX Runtime's Scan fails on a zero-length sequence ("Invalid dim0_offset of 0")
    return m, ref, [[f32(2, 6), f32(5, 2, 4)], [f32(3, 6), f32(1, 3, 4)], [f32(1, 6), f32(0, 1, 4)]]


def loop_in_loop():
    """A Loop inside a Loop: the inner one reads the outer iteration's carried value and number."""
    inner = body([helper.make_node("Identity", ["icond_in"], ["icond_out"]),
                  helper.make_node("Cast", ["oi"], ["oif"], to=F), helper.make_node("Cast", ["j"], ["jf"], to=F),
                  helper.make_node("Mul", ["oif", "jf"], ["p"]), helper.make_node("Add", ["acc_in", "p"], ["t"]),
                  helper.make_node("Add", ["t", "x_in"], ["acc_out"])],
                 [vi("j", I64, []), vi("icond_in", B, []), vi("acc_in", F, None)],
                 [vi("icond_out", B, []), vi("acc_out", F, None)], "inner")
    outer = _loop_body([helper.make_node("Identity", ["cond_in"], ["cond_out"]),
                        helper.make_node("Identity", ["i"], ["oi"]), const("three", np.int64(3)),
                        helper.make_node("Loop", ["three", "", "x_in"], ["x_out"], body=inner)], ["x"])
    m = model([helper.make_node("Loop", ["m", "", "x0"], ["x"], body=outer)],
              [vi("m", I64, []), vi("x0", F, [3])], [vi("x", F)])

    def ref(trip, x0):
        x = x0
        for i in range(int(trip)):
            acc = x
            for j in range(3):
                acc = acc + np.float32(i * j) + x
            x = acc
        return x
    return m, ref, [[np.array(3, np.int64), f32(3)], [np.array(-2, np.int64), f32(3)]]


def scan_in_if():
    """A Scan in one branch of an If, an elementwise op in the other; the If reads the Scan's input from
    the outer graph."""
    sb = body([helper.make_node("Add", ["s_in", "x_t"], ["s_out"]), helper.make_node("Identity", ["s_out"], ["y_t"])],
              [vi("s_in", F, None), vi("x_t", F, None)], [vi("s_out", F, None), vi("y_t", F, None)])
    then = body([helper.make_node("Scan", ["s0", "x"], ["s", "ys"], body=sb, num_scan_inputs=1)], [],
                [vi("s", F), vi("ys", F)], "then")
    other = body([helper.make_node("ReduceSum", ["x", "zero"], ["s2"], keepdims=0),
                  helper.make_node("Neg", ["x"], ["ys2"])], [], [vi("s2", F), vi("ys2", F)], "else",
                 [numpy_helper.from_array(np.int64([0]), "zero")])
    m = model([helper.make_node("Add", ["s_init", "s_init"], ["s0"]),
               helper.make_node("If", ["c"], ["s_out", "ys_out"], then_branch=then, else_branch=other)],
              [vi("c", B, []), vi("s_init", F, [4]), vi("x", F, [5, 4])], [vi("s_out", F), vi("ys_out", F)])

    def ref(c, s_init, x):
        if c:
            return s_init * 2 + x.sum(0), np.cumsum(x, axis=0) + s_init * 2
        return x.sum(0), -x
    return m, ref, [[np.array(True), f32(4), f32(5, 4)], [np.array(False), f32(4), f32(5, 4)]]


def if_known_condition():
    """A condition from shapes (Size(x) == 4) is known at export time: only its branch is generated, so the
    other may give another shape; the branch reads a constant of the outer graph through a Split."""
    then = body([helper.make_node("Split", ["dims", "halves"], ["rows", "cols"]),
                 helper.make_node("Concat", ["rows", "cols"], ["shape"], axis=0),
                 helper.make_node("Reshape", ["x", "shape"], ["a"])], [], [vi("a", F)], "then")
    other = body([helper.make_node("Reshape", ["x", "flat"], ["b"])], [], [vi("b", F)], "else")
    nodes = [helper.make_node("Size", ["x"], ["n"]), const("four", np.int64(4)),
             helper.make_node("Equal", ["n", "four"], ["c"]),
             helper.make_node("If", ["c"], ["y0"], then_branch=then, else_branch=other),
             helper.make_node("Relu", ["y0"], ["y"])]
    m = model(nodes, [vi("x", F, [2, 2])], [vi("y", F)],
              [numpy_helper.from_array(np.int64(v), k) for k, v in (("dims", [1, 4]), ("halves", [1, 1]),
                                                                    ("flat", [-1]))])

    def ref(x):
        return np.maximum(x.reshape(1, 4), 0)
    return m, ref, [[f32(2, 2)]]


def loop_body_condition_without_input():
    """M without a condition input, but the body returns a condition that turns false: like ONNX Runtime,
    the loop stops there (the spec's pseudo-code calls that output ignored; ONNX Runtime reads it)."""
    b = _loop_body([const("two", np.int64(2)), helper.make_node("Less", ["i", "two"], ["cond_out"]),
                    const("k", np.float32(1.5)), helper.make_node("Add", ["x_in", "k"], ["x_out"])], ["x"])
    m = model([helper.make_node("Loop", ["m", "", "x0"], ["x_final"], body=b)],
              [vi("m", I64, []), vi("x0", F, [2])], [vi("x_final", F)])

    def ref(trip, x0):
        x, i, c = x0, 0, True
        while i < trip and c:
            x, c, i = x + np.float32(1.5), i < 2, i + 1
        return x
    return m, ref, [[np.array(5, np.int64), f32(2)], [np.array(2, np.int64), f32(2)]]


def scan_reverse_axis0():
    """Directions on axis 0 (read in place): the second input read backwards, the first output written
    backwards; a state returned as is by the body (no Identity)."""
    b = body([helper.make_node("Mul", ["x_t", "u_t"], ["y_t"]), helper.make_node("Add", ["s_in", "y_t"], ["z_t"])],
             [vi("s_in", F, None), vi("x_t", F, None), vi("u_t", F, None)],
             [vi("s_in", F, None), vi("y_t", F, None), vi("z_t", F, None)])
    m = model([helper.make_node("Scan", ["s0", "x", "u"], ["s", "y", "z"], body=b, num_scan_inputs=2,
                                scan_input_directions=[0, 1], scan_output_directions=[1, 0])],
              [vi("s0", F, [2]), vi("x", F, [4, 2]), vi("u", F, [4, 2])], [vi("s", F), vi("y", F), vi("z", F)])

    def ref(s0, x, u):
        y = x * u[::-1]
        return s0, y[::-1], s0 + y
    ref.ort_skips = {0}  # ONNX Runtime returns zeros for a state the body returns as is (an input as an output)
    return m, ref, [[f32(2), f32(4, 2), f32(4, 2)]]


CASES = {f.__name__: f for f in (
    if_outer_scope, if_computed_condition, if_known_condition, loop_trip_count_only, loop_condition_only,
    loop_body_condition_without_input, loop_trip_count_and_condition, loop_scan_outputs, loop_trip_from_input_shape,
    if_nested_in_loop, scan_forward, scan_reverse_axes, scan_reverse_axis0, scan_rnn, loop_in_loop, scan_in_if)}


@pytest.fixture(scope="module")
def built():
    from exporter.native.library import compile_models
    cases = {name: fn() for name, fn in CASES.items()}
    libs = compile_models({name: m for name, (m, _, _) in cases.items()}, jobs=1)
    return cases, libs


@pytest.mark.parametrize("name", list(CASES))
def test_numpy_vs_onnxruntime_vs_native(name, built):
    from exporter.native.library import NativeModel
    cases, libs = built
    m, ref, data_sets = cases[name]
    if isinstance(libs[name], Exception):
        raise libs[name]
    native = NativeModel(libs[name], name)
    for k, inputs in enumerate(data_sets):
        expected = ref(*inputs)
        if k not in getattr(ref, "ort_skips", ()):
            assert_same(expected, run_onnxruntime(m, inputs), where=f"{name} data set {k}: ONNX Runtime vs NumPy")
        assert_same(expected, native(*inputs), where=f"{name} data set {k}: native vs NumPy")


def test_bodies_render_nested_with_their_own_arena():
    m, _, _ = if_nested_in_loop()
    files, facts = render(m, "nested")
    code = files["nested.cpp"]
    assert facts.steps == 2, code  # |x| and the Loop; the If is one step of the Loop's body
    loop, branch = code.index("for (int64_t loop_index = 0; loop_index < (4) && loop_cond;"), code.index("// If '")
    assert loop < branch < code.index("h_in = loop_next0;"), code  # nested in the iteration, before the swap
    assert "reinterpret_cast<bool*>(scratch_Loop_" in code  # the body's arena is in the Loop's scratch


def test_known_condition_generates_one_branch():
    m, _, _ = if_known_condition()
    code = render(m, "known")[0]["known.cpp"]
    assert "// If '" in code and "else {" not in code, code


def test_trip_count_from_a_shape_is_inlined():
    m, _, _ = loop_trip_from_input_shape()
    code = render(m, "trip")[0]["trip.cpp"]
    assert "loop_index < (d_n) && loop_cond" in code and "fill in run-time shape values" not in code, code


# ---- refusals ----------------------------------------------------------------------------------------

def _refusal(m):
    with pytest.raises(UnsupportedError) as info:
        render(m, "refused")
    return str(info.value)


def test_if_branches_of_different_shapes_are_refused():
    then = body([helper.make_node("Identity", ["x"], ["a"])], [], [vi("a", F)], "then")
    other = body([helper.make_node("Concat", ["x", "x"], ["b"], axis=0)], [], [vi("b", F)], "else")
    m = model([helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other, name="pick")],
              [vi("c", B, []), vi("x", F, [2])], [vi("y", F)])
    message = _refusal(m)
    assert "If (output 0 has shape (2) in then_branch but (4) in else_branch" in message and "pick" in message


def test_loop_carried_value_that_grows_is_refused():
    b = _loop_body([helper.make_node("Identity", ["cond_in"], ["cond_out"]),
                    helper.make_node("Concat", ["x_in", "x_in"], ["x_out"], axis=0)], ["x"])
    m = model([const("m", np.int64(3)), helper.make_node("Loop", ["m", "", "x0"], ["x"], body=b, name="grow")],
              [vi("x0", F, [2])], [vi("x", F)])
    message = _refusal(m)
    assert "loop-carried value 0 ('x0') changes shape from (2) to (4)" in message and "grow" in message


@pytest.mark.parametrize("trip, cond, why", [
    ("m_in", "", "scan outputs with a trip count computed at run time"),
    ("m", "c0", "scan outputs with a run-time condition"),
])
def test_loop_scan_outputs_of_unknown_count_are_refused(trip, cond, why):
    b = _loop_body([helper.make_node("Identity", ["cond_in"], ["cond_out"]),
                    helper.make_node("Identity", ["x_in"], ["x_out"]), helper.make_node("Neg", ["x_in"], ["y"])],
                   ["x"], [("y", F)])
    m = model([const("m", np.int64(3)), helper.make_node("Loop", [trip, cond, "x0"], ["x", "ys"], body=b, name="L")],
              [vi("m_in", I64, []), vi("c0", B, []), vi("x0", F, [2])], [vi("x", F), vi("ys", F)])
    message = _refusal(m)
    assert why in message and "L" in message


def test_unsupported_op_in_a_body_is_listed_with_its_path():
    b = _loop_body([helper.make_node("Identity", ["cond_in"], ["cond_out"]),
                    helper.make_node("RandomUniformLike", ["x_in"], ["x_out"], name="random_node")], ["x"])
    m = model([const("m", np.int64(3)), helper.make_node("Loop", ["m", "", "x0"], ["x"], body=b, name="outer_loop")],
              [vi("x0", F, [2])], [vi("x", F)])
    message = _refusal(m)
    assert "RandomUniformLike: 1 node(s), e.g. outer_loop/random_node" in message


def test_scan_opset_8_over_a_batch_is_refused():
    """The opset-8 form runs over a batch of one sequence (ONNX's test_scan_sum, in test_onnx_node_tests);
    a larger batch, or sequence_lens, is refused."""
    b = body([helper.make_node("Add", ["s_in", "x_t"], ["s_out"])], [vi("s_in", F, None), vi("x_t", F, None)],
             [vi("s_out", F, None)])
    m = model([helper.make_node("Scan", ["", "s0", "x"], ["s"], body=b, num_scan_inputs=1, name="old")],
              [vi("s0", F, [2, 2]), vi("x", F, [2, 3, 2])], [vi("s", F)], opset=8)
    assert "Scan (the opset-8 form over a batch of more than one sequence" in _refusal(m)
    m = model([helper.make_node("Scan", ["lens", "s0", "x"], ["s"], body=b, num_scan_inputs=1, name="old")],
              [vi("lens", helper.TensorProto.INT32, [1]), vi("s0", F, [1, 2]), vi("x", F, [1, 3, 2])], [vi("s", F)],
              opset=8)
    assert "Scan (sequence_lens in the opset-8 form" in _refusal(m)


def test_check_runs_an_if_model_through_the_program(tmp_path):
    """The generated program on a model with a rank-0 bool input (the condition) and a rank-0 output:
    `exporter check` draws random conditions, so both branches run against ONNX Runtime."""
    import onnx

    from exporter.check import check_model
    m, _, _ = if_outer_scope()
    inferred = onnx.shape_inference.infer_shapes(m)  # the file loader wants graph outputs with shapes
    for out, typed in zip(m.graph.output, inferred.graph.output):
        out.CopyFrom(typed)
    path = tmp_path / "pick.onnx"
    onnx.save(m, path)
    report = check_model(str(path), samples=4, seed=1)
    assert report.ok, report.text() + str(report.failed)


SANITIZED = ["if_nested_in_loop", "loop_scan_outputs", "loop_in_loop", "scan_reverse_axes", "scan_rnn"]


@pytest.mark.parametrize("name", SANITIZED)
def test_control_flow_under_sanitizers(name, tmp_path):
    """The generated program under ASan + UBSan: nested bodies, double-buffered state, strided scan slices,
    dynamic lengths including 0 (every data set of the case, against its NumPy reference)."""
    from tests.hardening import sanitize
    from tests.hardening.conftest import cxx, sanitizers_work
    compiler = cxx()
    if compiler is None or not sanitizers_work(compiler):
        pytest.skip(f"{compiler or 'no C++ compiler'}: cannot build and run -fsanitize=address,undefined programs here")
    m, ref, data_sets = CASES[name]()
    exe = sanitize.build(compiler, m, name)
    for k, inputs in enumerate(data_sets):
        paths = []
        for j, x in enumerate(inputs):
            paths.append(str(tmp_path / f"in{k}_{j}.npy"))
            np.save(paths[-1], x)
        proc = sanitize.run(exe, "--out", str(tmp_path / f"out{k}"), *paths)
        assert proc.returncode == 0, proc.stderr
        got = [np.load(tmp_path / f"out{k}" / f"output_{j}.npy") for j in range(len(m.graph.output))]
        assert_same(ref(*inputs), got, where=f"{name} data set {k} (sanitized program)")
