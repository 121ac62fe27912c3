"""Shape-defining inputs read at run time (exporter/native/runtime_values.py): a graph input used as a
Reshape's shape, a Slice's starts, pads, repeats, axes... One build per model runs at two different values
(outputs of different shapes) and matches ONNX Runtime; values no shape can follow from are refused with
one line naming the input or the node (exit 2 for the program)."""
import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from exporter.errors import ExporterError
from exporter.native.library import NativeModel, compile_models
from tests.helpers import assert_same, run_onnxruntime

F, I64, I32 = TensorProto.FLOAT, TensorProto.INT64, TensorProto.INT32


def model(op, inputs, out_types=(F,), opset=18, **attrs):
    """One `op` node over graph inputs [(name, elem type, shape)] (name "": an optional input left out);
    outputs of unknown shape."""
    outs = [f"y{k}" for k in range(len(out_types))]
    node = helper.make_node(op, [n for n, _, _ in inputs], outs, name=f"{op.lower()}_node", **attrs)
    inputs = [i for i in inputs if i[0]]  # "": an optional input left out
    graph = helper.make_graph([node], op.lower(), [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                              [helper.make_tensor_value_info(o, t, None) for o, t in zip(outs, out_types)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


X = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
X4 = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4) ** 1.5
i64 = lambda *v: np.array(v, np.int64)  # noqa: E731
i32 = lambda v: np.array(v, np.int32)  # noqa: E731 (a scalar)

# name -> (model, [inputs for run 1, inputs for run 2], [(bad inputs, message regex)])
CASES = {
    "reshape": (model("Reshape", [("x", F, [2, 3, 4]), ("shape", I64, [3])]),
                [[X, i64(4, 2, 3)], [X, i64(-1, 2, 0)]],
                [([X, i64(5, -1, 1)], "Reshape node 'reshape_node'.*axis 1"),
                 ([X, i64(-2, 3, 4)], "input 'shape': element 0 is -2")]),
    "reshape_allowzero": (model("Reshape", [("x", F, [2, 3, 4]), ("shape", I64, [4])], allowzero=1),
                          [[X, i64(2, 3, 4, 1)], [X, i64(1, 24, 1, 1)]],
                          [([X, i64(2, 3, 4, 2)], "element counts")]),
    "slice": (model("Slice", [("x", F, [2, 3, 4]), ("starts", I64, [2]), ("ends", I64, [2]), ("axes", I64, [2]),
                              ("steps", I64, [2])]),
              [[X, i64(0, 1), i64(2, 10**12), i64(0, 2), i64(1, 2)],
               [X, i64(-1, 3), i64(-10**18, -4), i64(-1, 1), i64(-1, -2)]],
              [([X, i64(0, 0), i64(1, 1), i64(0, 0), i64(1, 1)], "axes are valid and distinct"),
               ([X, i64(0, 0), i64(1, 1), i64(0, 3), i64(1, 1)], "element 1 is 3"),
               ([X, i64(0, 0), i64(1, 1), i64(0, 1), i64(1, 0)], "element 1 is 0; .*non-zero step")]),
    "pad_axes": (model("Pad", [("x", F, [2, 3, 4]), ("pads", I64, [4]), ("value", F, []), ("axes", I64, [2])],
                       mode="constant"),
                 [[X, i64(1, 0, 2, -1), np.array(7, np.float32), i64(0, -1)], [X, i64(0, 2, 0, 3), np.array(-1, np.float32), i64(2, 1)]],
                 [([X, i64(-3, 0, 0, 0), np.array(0, np.float32), i64(0, 1)], "no valid size for axis 0")]),
    "pad_reflect": (model("Pad", [("x", F, [2, 3, 4]), ("pads", I64, [6])], mode="reflect"),
                    [[X, i64(0, 1, 2, 0, 1, 3)], [X, i64(1, 2, 0, 1, 0, 0)]], []),
    "tile": (model("Tile", [("x", F, [2, 3, 4]), ("repeats", I64, [3])]),
             [[X, i64(1, 2, 1)], [X, i64(3, 1, 0)]],
             [([X, i64(1, -1, 1)], "element 1 is -1")]),
    "expand": (model("Expand", [("x", F, [3, 1]), ("shape", I64, [3])]),
               [[X[0, :, :1], i64(2, 1, 5)], [X[0, :, :1], i64(1, 3, 1)]],
               [([X[0, :, :1], i64(1, 2, 4)], "no valid size for axis 1")]),
    "constantofshape": (model("ConstantOfShape", [("shape", I64, [2])],
                              value=helper.make_tensor("v", F, [1], [2.5])),
                        [[i64(2, 3)], [i64(0, 7)]], [([i64(2, -3)], "element 1 is -3")]),
    "split": (model("Split", [("x", F, [2, 3, 4]), ("split", I64, [2])], out_types=(F, F), axis=2),
              [[X, i64(1, 3)], [X, i64(4, 0)]],
              [([X, i64(2, 3)], "split sizes add up")]),
    "unsqueeze": (model("Unsqueeze", [("x", F, [2, 3, 4]), ("axes", I64, [2])]),
                  [[X, i64(0, 4)], [X, i64(-1, 1)]],
                  [([X, i64(1, 1)], "no valid size"), ([X, i64(0, 5)], "element 1 is 5")]),
    "squeeze": (model("Squeeze", [("x", F, [1, 3, 1]), ("axes", I64, [1])]),
                [[X[:1, :, :1], i64(0)], [X[:1, :, :1], i64(-1)]],
                [([X[:1, :, :1], i64(1)], "no valid size")]),
    "topk": (model("TopK", [("x", F, [2, 3, 4]), ("k", I64, [1])], out_types=(F, I64)),
             [[X, i64(2)], [X, i64(4)]],
             [([X, i64(5)], "no valid size for axis 2")]),
    "range": (model("Range", [("start", I32, []), ("limit", I32, []), ("delta", I32, [])], out_types=(I32,), opset=11),
              [[i32(1), i32(9), i32(3)], [i32(5), i32(-4), i32(-2)]],
              [([i32(1), i32(9), i32(0)], "element 0 is 0")]),
    "onehot": (model("OneHot", [("indices", I64, [4]), ("depth", I64, []), ("values", F, [2])], axis=0),
               [[i64(0, 2, -1, 1), np.array(3), np.array([0, 1], np.float32)],
                [i64(0, 2, -1, 1), np.array(5), np.array([-2, 4], np.float32)]],
               [([i64(0, 1, 2, 3), np.array(0), np.array([0, 1], np.float32)], "element 0 is 0; .*from 1 to")]),
    # a float depth (ONNX allows any numeric type): its integer part, as ONNX Runtime takes it
    "onehot_float": (model("OneHot", [("indices", I64, [4]), ("depth", F, []), ("values", F, [2])], axis=1),
                     [[i64(0, 2, -1, 1), np.array(3.7, np.float32), np.array([0, 1], np.float32)],
                      [i64(0, 2, -1, 1), np.array(6, np.float32), np.array([-2, 4], np.float32)]],
                     [([i64(0, 1, 2, 3), np.array(0.9, np.float32), np.array([0, 1], np.float32)], "element 0 is 0.9; .*integer part"),
                      ([i64(0, 1, 2, 3), np.array(np.nan, np.float32), np.array([0, 1], np.float32)],
                       "element 0 is nan; a finite number"),
                      ([i64(0, 1, 2, 3), np.array(-1e30, np.float32), np.array([0, 1], np.float32)],
                       "element 0 is -1e\\+30; a finite number")]),
    # Reduce* axes: kept as 1 (the rank is fixed) or dropped (which axes remain is known only when read)
    "reduce_sum_keep": (model("ReduceSum", [("x", F, [2, 3, 4]), ("axes", I64, [2])], opset=13),
                        [[X, i64(0, 2)], [X, i64(-1, 1)]],
                        [([X, i64(1, -2)], "axes are valid and distinct|no valid size"),
                         ([X, i64(0, 3)], "element 1 is 3; .*an axis from -3 to 2")]),
    "reduce_max_drop": (model("ReduceMax", [("x", F, [2, 3, 4]), ("axes", I64, [2])], keepdims=0),
                        [[X, i64(2, 0)], [X, i64(1, 2)]],
                        [([X, i64(2, -1)], "axes are valid and distinct|no valid size")]),
    "reduce_logsumexp_all": (model("ReduceLogSumExp", [("x", F, [2, 3, 4]), ("axes", I64, [3])], keepdims=0),
                             [[X / 10, i64(0, 1, 2)], [X / 10, i64(2, -2, 0)]],
                             [([X, i64(0, 1, 1)], "axes are valid and distinct")]),
    # CumSum/CumProd axis: the output's shape does not change, only the sweep
    "cumsum": (model("CumSum", [("x", F, [2, 3, 4]), ("axis", I32, [])], opset=14, reverse=1),
               [[X, i32(1)], [X, i32(-1)]], [([X, i32(3)], "element 0 is 3; .*an axis from -3 to 2")]),
    "cumprod": (model("CumProd", [("x", F, [2, 3, 4]), ("axis", I64, [1])], opset=26, exclusive=1),
                [[X / 20 + 1, i64(0)], [X / 20 + 1, i64(2)]], [([X, i64(-4)], "element 0 is -4")]),
    # Resize's sizes (scales and roi absent): the output sizes, and the scales that follow, are read then
    "resize_sizes": (model("Resize", [("x", F, [1, 2, 3, 4]), ("", F, None), ("", F, None), ("sizes", I64, [4])],
                           mode="linear"),
                     [[X.reshape(1, 2, 3, 4), i64(1, 2, 5, 2)], [X.reshape(1, 2, 3, 4), i64(1, 2, 2, 7)]],
                     [([X.reshape(1, 2, 3, 4), i64(1, 2, -5, 2)], "element 2 is -5")]),
    "resize_keep_ratio": (model("Resize", [("x", F, [2, 3, 4]), ("", F, None), ("", F, None), ("sizes", I64, [2])],
                                mode="nearest", axes=[2, 1], keep_aspect_ratio_policy="not_larger"),
                          [[X, i64(6, 9)], [X, i64(2, 5)]], []),
    # Resize's scales (floats, kept as numbers): floor(size * scale) per axis, the kernel scaled by the number
    "resize_scales": (model("Resize", [("x", F, [1, 2, 3, 4]), ("", F, None), ("scales", F, [4])], mode="cubic"),
                      [[X.reshape(1, 2, 3, 4), np.array([1, 1, 2.5, 0.6], np.float32)],
                       [X.reshape(1, 2, 3, 4), np.array([1, 1, 0.7, 1.75], np.float32)]],
                      [([X.reshape(1, 2, 3, 4), np.array([1, 1, -2, 1], np.float32)], "element 2 is -2; .*positive"),
                       ([X.reshape(1, 2, 3, 4), np.array([1, 1, 0, 1], np.float32)], "element 2 is 0; .*positive"),
                       ([X.reshape(1, 2, 3, 4), np.array([1, np.nan, 1, 1], np.float32)], "element 1 is nan"),
                       ([X.reshape(1, 2, 3, 4), np.array([1, 1, 1, 1e30], np.float32)], "element 3 is 1e\\+30")]),
    "resize_roi": (model("Resize", [("x", F, [1, 1, 4, 4]), ("roi", F, [4]), ("", F, None), ("sizes", I64, [2])],
                         mode="linear", axes=[2, 3], coordinate_transformation_mode="tf_crop_and_resize",
                         extrapolation_value=-1.0),
                   [[X4, np.array([0.4, 0.6, 0.6, 0.8], np.float32),
                     i64(3, 3)],
                    [X4, np.array([0, -0.5, 1, 1.2], np.float32),
                     i64(5, 2)]], []),
    # a float Range: its count from the numbers themselves (as NumPy's arange counts)
    "range_float": (model("Range", [("start", F, []), ("limit", F, []), ("delta", F, [])], opset=11),
                    [[np.array(v, np.float32) for v in (1.5, 7.25, 1.25)], [np.array(v, np.float32) for v in (3, -2, -0.5)]],
                    [([np.array(v, np.float32) for v in (1, 2, 0)], "no valid size for axis 0"),
                     ([np.array(v, np.float32) for v in (1, np.inf, 1)], "element 0 is inf; a finite number")]),
}


def computed(nodes, inputs, constants=(), out_type=F, opset=18):
    """A model whose shape-defining value is computed inside the graph (nodes as (op, inputs, outputs,
    attrs); the last one's output is the graph's) from graph inputs [(name, elem type, shape)]."""
    made = [helper.make_node(op, ins, outs, name=f"{op.lower()}_{k}", **attrs)
            for k, (op, ins, outs, attrs) in enumerate(nodes)]
    graph = helper.make_graph(made, "computed", [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                              [helper.make_tensor_value_info(nodes[-1][2][0], out_type, None)],
                              [onnx.numpy_helper.from_array(v, n) for n, v in constants])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


# Values computed inside the graph from inputs' values and shapes (runtime_values: `computed`): evaluated
# and checked when the values are set, before planning. name -> (model, runs, bad runs, NumPy reference)
COMPUTED = {
    # CenterCropPad's body: pads = Concat((max(shape(x), target) - shape(x)) / 2, the rest)
    "computed_pad": (computed([("Shape", ["x"], ["s"], {}), ("Max", ["s", "target"], ["m"], {}),
                               ("Sub", ["m", "s"], ["amount"], {}), ("Div", ["amount", "two"], ["left"], {}),
                               ("Sub", ["amount", "left"], ["right"], {}),
                               ("Concat", ["left", "right"], ["pads"], {"axis": 0}), ("Pad", ["x", "pads"], ["y"], {})],
                              [("x", F, [2, 3, 4]), ("target", I64, [3])], [("two", i64(2))]),
                     [[X, i64(4, 3, 7)], [X, i64(1, 6, 4)]],
                     [([X, i64(2, 3, 2**40)], "Pad node 'pad_6' reads element 2 of 'pads' as pads")],
                     lambda x, t: np.pad(x, [((max(d, n) - d) // 2, max(d, n) - d - (max(d, n) - d) // 2)
                                             for d, n in zip(x.shape, t)])),
    # an integer Range whose limit is computed: Range(0, 2 * n, 1)
    "computed_range": (computed([("Mul", ["n", "two"], ["limit"], {}), ("Range", ["zero", "limit", "one"], ["y"], {})],
                                [("n", I64, [])], [("two", np.array(2, np.int64)), ("zero", np.array(0, np.int64)),
                                                   ("one", np.array(1, np.int64))], out_type=I64),
                       [[np.array(3)], [np.array(5)]],
                       [([np.array(2**40)], "Range node 'range_1' reads element 0 of 'limit' as limit")],
                       lambda n: np.arange(0, 2 * n, 1)),
    # a float Range over a Cast of an integer input (the window functions' bodies)
    "computed_range_cast": (computed([("Cast", ["n"], ["nf"], {"to": F}), ("Range", ["zero", "nf", "half"], ["y"], {})],
                                     [("n", I32, [])], [("zero", np.array(0, np.float32)),
                                                        ("half", np.array(0.5, np.float32))]),
                            [[i32(3)], [i32(5)]], [],
                            lambda n: np.arange(0, float(n), 0.5, dtype=np.float32)),
    # ConstantOfShape of shape + 1: a size below 0 is refused
    "computed_constantofshape": (computed([("Add", ["shape", "ones"], ["s1"], {}),
                                           ("ConstantOfShape", ["s1"], ["y"], {})],
                                          [("shape", I64, [2])], [("ones", i64(1, 1))]),
                                 [[i64(2, 3)], [i64(0, 6)]],
                                 [([i64(-3, 1)], "reads element 0 of 's1' as shape: a size from 0")],
                                 lambda s: np.zeros(tuple(s + 1), np.float32)),
    # Div of a negative run-time value truncates toward zero, as ONNX's Div: (n - 5) / 2 as a Slice start
    "computed_div_trunc": (computed([("Sub", ["n", "five"], ["d"], {}), ("Div", ["d", "two"], ["start"], {}),
                                     ("Slice", ["x", "start", "end", "axis"], ["y"], {})],
                                    [("x", F, [2, 3, 4]), ("n", I64, [1])],
                                    [("five", i64(5)), ("two", i64(2)), ("end", i64(100)), ("axis", i64(2))]),
                           [[X, i64(2)], [X, i64(8)]], [],
                           lambda x, n: x[..., int(np.trunc((n[0] - 5) / 2)):]),
}
CASES.update({name: (m, runs, bad) for name, (m, runs, bad, _) in COMPUTED.items()})
# every output of reduce_logsumexp_all is a scalar, and CumSum's keep their input's shape: one shape for both runs
SAME_SHAPES = {"reduce_logsumexp_all", "cumsum", "cumprod"}


@pytest.fixture(scope="module")
def libraries():
    return compile_models({**{f"rtshape_{name}": m for name, (m, _, _) in CASES.items()},
                           **{f"rtsize_{name}": m for name, (m, _, _) in DATA_DEPENDENT.items()}}, jobs=2)


@pytest.mark.parametrize("name", sorted(CASES))
def test_two_values_one_build(libraries, name):
    m, runs, bad = CASES[name]
    lib = libraries[f"rtshape_{name}"]
    assert not isinstance(lib, Exception), lib
    native = NativeModel(lib, f"rtshape_{name}")
    shapes = set()
    for inputs in runs + runs[:1]:  # back to the first values: the plan follows them both ways
        expected = run_onnxruntime(m, inputs)
        got = native(*inputs)
        assert_same(expected, got, where=name)
        shapes.add(tuple(g.shape for g in got))
    assert len(shapes) == (1 if name in SAME_SHAPES else 2)
    for inputs, message in bad:
        with pytest.raises(ExporterError, match=message):
            native(*inputs)
    assert_same(run_onnxruntime(m, runs[1]), native(*runs[1]), where=name)  # usable after a refusal


@pytest.mark.parametrize("name", sorted(COMPUTED))
def test_computed_values_match_numpy(libraries, name):
    """Three-way: the NumPy reference, ONNX Runtime (test_two_values_one_build) and the native program."""
    m, runs, _, reference = COMPUTED[name]
    native = NativeModel(libraries[f"rtshape_{name}"], f"rtshape_{name}")
    for inputs in runs:
        np.testing.assert_allclose(native(*inputs)[0], reference(*inputs), rtol=1e-6)


B = TensorProto.BOOL
NMS_BOXES = np.array([[[0, 0, 1, 1], [0, 0.1, 1, 1.1], [1, 1, 0, 0.1], [0, 10, 1, 11], [0, 10.2, 1, 11.2]]],
                     np.float32)
NMS_SCORES = np.array([[[0.9, 0.75, 0.6, 0.95, 0.5], [0.1, 0.2, 0.9, 0.3, 0.3]]], np.float32)


def _corners(b):
    """Center boxes (x, y, w, h) as corners (y1, x1, y2, x2)."""
    x, y, w, h = np.moveaxis(b, -1, 0)
    return np.stack([y - h / 2, x - w / 2, y + h / 2, x + w / 2], -1)


def _nms(boxes, scores, m, iou, score_threshold):
    """NumPy reference: greedy by score (ties by box number), IoU against the kept boxes."""
    def area(b):
        return (max(b[2], b[0]) - min(b[2], b[0])) * (max(b[3], b[1]) - min(b[3], b[1]))

    def overlap(a, b):
        h = min(max(a[0], a[2]), max(b[0], b[2])) - max(min(a[0], a[2]), min(b[0], b[2]))
        w = min(max(a[1], a[3]), max(b[1], b[3])) - max(min(a[1], a[3]), min(b[1], b[3]))
        if h <= 0 or w <= 0:
            return False
        inter = h * w
        return inter / (area(a) + area(b) - inter) > iou
    rows = []
    for b in range(scores.shape[0]):
        for c in range(scores.shape[1]):
            order = sorted((i for i in range(scores.shape[2])
                            if score_threshold is None or scores[b, c, i] > score_threshold),
                           key=lambda i: (-scores[b, c, i], i))
            kept = []
            for i in order:
                if len(kept) < m and not any(overlap(boxes[b, k], boxes[b, i]) for k in kept):
                    kept.append(i)
            rows += [[b, c, i] for i in kept]
    return np.array(rows, np.int64).reshape(-1, 3)
# Output sizes known only once the node ran: name -> (model, input runs, NumPy reference)
DATA_DEPENDENT = {
    "nonzero": (model("NonZero", [("x", F, [2, 3, 4])], out_types=(TensorProto.INT64,), opset=13),
                [[X % 3], [np.zeros_like(X)], [X]], lambda x: np.array(np.nonzero(x))),
    "compress_axis": (model("Compress", [("x", F, [2, 3, 4]), ("c", B, [3])], axis=1),
                      [[X, np.array([1, 0, 1], bool)], [X, np.array([0, 0, 0], bool)]],
                      lambda x, c: np.compress(c, x, axis=1)),
    "compress_flat": (model("Compress", [("x", F, [2, 3, 4]), ("c", B, [5])]),
                      [[X, np.array([0, 1, 1, 0, 1], bool)]], lambda x, c: np.compress(c, x)),
    # boxes as corners (one flipped) or centers; max_output_boxes_per_class, thresholds as inputs
    "nms": (model("NonMaxSuppression", [("boxes", F, [1, 5, 4]), ("scores", F, [1, 2, 5]), ("m", I64, [1]),
                                         ("iou", F, [1]), ("st", F, [1])], out_types=(I64,), opset=11),
            [[NMS_BOXES, NMS_SCORES, i64(3), np.array([0.5], np.float32), np.array([0.0], np.float32)],
             [NMS_BOXES, NMS_SCORES, i64(1), np.array([0.2], np.float32), np.array([0.5], np.float32)]],
            lambda b, s, m, iou, st: _nms(b, s, int(m[0]), float(iou[0]), float(st[0]))),
    "nms_center": (model("NonMaxSuppression", [("boxes", F, [1, 5, 4]), ("scores", F, [1, 2, 5]), ("m", I64, [1]),
                                                ("iou", F, [1])], out_types=(I64,), opset=11, center_point_box=1),
                   [[NMS_BOXES, NMS_SCORES, i64(5), np.array([0.3], np.float32)]],
                   lambda b, s, m, iou: _nms(_corners(b), s, int(m[0]), float(iou[0]), None)),
    # sorted (NumPy's order) and by first occurrence; the four outputs (NumPy's unique gives the same)
    "unique_sorted": (model("Unique", [("x", F, [6])], out_types=(F, TensorProto.INT64, TensorProto.INT64,
                                                                   TensorProto.INT64), opset=11),
                      [[np.array([3, 1, 3, 2, 1, 3], np.float32)], [np.array([5, 5, 5, 5, 5, 5], np.float32)]],
                      lambda x: np.unique(x)),
    "unique_axis": (model("Unique", [("x", F, [4, 2])], out_types=(F, TensorProto.INT64, TensorProto.INT64,
                                                                    TensorProto.INT64), opset=11, axis=0),
                    [[np.array([[1, 2], [0, 5], [1, 2], [0, 4]], np.float32)],
                     [np.array([[1, 2], [1, 2], [1, 2], [1, 2]], np.float32)]],
                    lambda x: np.unique(x, axis=0)),
    "unique_unsorted": (model("Unique", [("x", I64, [6])], out_types=(I64, I64, I64, I64), opset=11, sorted=0),
                        [[i64(3, 1, 3, 2, 1, 3)], [i64(0, 0, 1, 1, 2, 2)]],
                        lambda x: x[np.sort(np.unique(x, return_index=True)[1])]),
}


@pytest.mark.parametrize("name", sorted(DATA_DEPENDENT))
def test_data_dependent_sizes(libraries, name):
    """Three-way (NumPy, ONNX Runtime, native): one build, runs of different output sizes, the actual one reported."""
    m, runs, reference = DATA_DEPENDENT[name]
    native = NativeModel(libraries[f"rtsize_{name}"], f"rtsize_{name}")
    for inputs in runs + runs[:1]:
        got = native(*inputs)
        assert_same(run_onnxruntime(m, inputs), got, where=name)
        np.testing.assert_array_equal(got[0], reference(*inputs))


def test_data_dependent_size_read_by_another_node_is_refused():
    from exporter.native import render
    m = model("NonZero", [("x", F, [2, 3])], out_types=(TensorProto.INT64,), opset=13)
    m.graph.node.append(helper.make_node("Neg", ["y0"], ["z"], name="neg"))
    m.graph.output[0].name = "z"
    with pytest.raises(ExporterError, match="NonZero .*'y0' has a size known only once it ran"):
        render(m, "bad")


def test_small_integer_input_compared_with_a_negative_constant():
    """A small integer input gets element variables (it could define shapes); Equal of them with -1 is not
    folded to False as it is for a dimension: the values may be negative (NegativeLogLikelihoodLoss's expanded
    body masks ignore_index -1 this way)."""
    m = computed([("Equal", ["t", "minus_one"], ["mask"], {}), ("Where", ["mask", "zero", "t"], ["y"], {})],
                 [("t", I64, [2, 3])], [("minus_one", i64(-1)), ("zero", i64(0))], out_type=I64)
    lib = compile_models({"equal_negative": m}, jobs=1)["equal_negative"]
    assert not isinstance(lib, Exception), lib
    t = np.array([[-1, 0, 3], [2, -1, -5]], np.int64)
    got = NativeModel(lib, "equal_negative")(t)[0]
    np.testing.assert_array_equal(got, np.where(t == -1, 0, t))
    assert_same(run_onnxruntime(m, [t]), [got], where="equal_negative")


def test_known_values_still_fold():
    """A shape known at export time (an initializer) is folded: no input reads values at run time."""
    from exporter.native import render
    m2 = model("Reshape", [("x", F, [2, 3, 4])])
    m2.graph.node[0].input.append("shape")
    m2.graph.initializer.append(onnx.numpy_helper.from_array(i64(4, 6), "shape"))
    files, facts = render(m2, "folded")
    assert "set_input_data" in files["folded.h"] and "read_values" not in files["folded.cpp"]
    assert facts.signature["outputs"][0]["shape"] == (4, 6)


def test_known_reduce_axes_still_fold():
    """Reduce axes known at export time keep the static [outer, n, inner] plan: no run-time axes kernel."""
    from exporter.native import render
    m2 = model("ReduceMean", [("x", F, [2, 3, 4])], keepdims=0)
    m2.graph.node[0].input.append("axes")
    m2.graph.initializer.append(onnx.numpy_helper.from_array(i64(0, 2), "axes"))
    files, facts = render(m2, "folded")
    assert "read_values" not in files["folded.cpp"] and "reduce_axes" not in files["folded.cpp"]
    assert facts.signature["outputs"][0]["shape"] == (3,)


@pytest.mark.parametrize("noop, shape", [(0, (1, 1, 1)), (1, (2, 3, 4))])
def test_empty_axes_input(noop, shape):
    """An axes input declared with 0 elements (a size of 0 is an empty axis, not a dynamic one) reduces
    every axis, or none with noop_with_empty_axes: nothing to read at run time."""
    from exporter.native import render
    files, facts = render(model("ReduceSum", [("x", F, [2, 3, 4]), ("axes", I64, [0])], opset=13,
                                noop_with_empty_axes=noop), "empty")
    assert facts.signature["outputs"][0]["shape"] == shape and "read_values" not in files["empty.cpp"]


def test_reduce_axes_longer_than_rank_is_refused():
    from exporter.native import render
    with pytest.raises(ExporterError, match="3 axes to reduce for an input of rank 2"):
        render(model("ReduceSum", [("x", F, [2, 3]), ("axes", I64, [3])], keepdims=0), "bad")


@pytest.mark.parametrize("depth, message", [(0.5, "its depth is 0; it must be at least 1"), (-3, "its depth is -3"),
                                            (np.inf, "one finite number")])
def test_known_onehot_depth_is_checked(depth, message):
    """A depth known at export time (an initializer, possibly a float) is checked then, like a run-time one."""
    from exporter.native import render
    m2 = model("OneHot", [("indices", I64, [4]), ("values", F, [2])], axis=1)
    m2.graph.node[0].input.insert(1, "depth")
    m2.graph.initializer.append(onnx.numpy_helper.from_array(np.array(depth, np.float32), "depth"))
    with pytest.raises(ExporterError, match=message):
        render(m2, "bad")


def _program(tmp_path, m, name, output, output_type=F):
    """`m` exported as a program (its output declared as `output`: a file needs output shapes), and a
    function running it on arrays: (the CompletedProcess, the directory it writes to)."""
    from tests.cli.test_export_onnx import exporter
    m = onnx.ModelProto.FromString(m.SerializeToString())
    del m.graph.output[:]
    m.graph.output.append(helper.make_tensor_value_info(output[0], output_type, output[1]))
    onnx.save(m, tmp_path / f"{name}.onnx")
    exe = tmp_path / name
    result = exporter("export", str(tmp_path / f"{name}.onnx"), "--to", "exe", "-o", str(exe))
    assert result.returncode == 0, result.stderr
    runs = []

    def run(*arrays):
        paths = []
        for k, a in enumerate(arrays):
            paths.append(str(tmp_path / f"in{k}.npy"))
            np.save(paths[-1], a)
        out = tmp_path / f"out{len(runs)}"
        runs.append(out)
        return subprocess.run([str(exe), "--out", str(out)] + paths, capture_output=True, text=True), out
    return run


def _refused(run, out, says="error:"):
    """Exit 2, one line saying `says`, nothing written."""
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and says in run.stderr, run.stderr
    assert not out.exists()


def test_program_reads_values_and_refuses_bad_ones(tmp_path):
    program = _program(tmp_path, CASES["reshape"][0], "reshape", ("y0", ["a", "b", "c"]))
    for shape, ok in ((i64(6, -1, 2), True), (i64(0, 4, 3), True), (i64(7, -1, 1), False), (i64(2, 3, 2**40), False)):
        run, out = program(X, shape)
        if ok:
            assert run.returncode == 0, run.stderr
            got = np.load(out / "output_0.npy")
            np.testing.assert_array_equal(got, X.reshape(*[d if d else X.shape[i] for i, d in enumerate(shape)]))
        else:
            _refused(run, out)


def test_program_refuses_bad_computed_values(tmp_path):
    """A shape value computed in the graph that no size can follow from: exit 2, one line naming the op."""
    program = _program(tmp_path, COMPUTED["computed_pad"][0], "pad", ("y", ["a", "b", "c"]))
    run, out = program(X, i64(4, 3, 7))
    assert run.returncode == 0, run.stderr
    np.testing.assert_array_equal(np.load(out / "output_0.npy"), COMPUTED["computed_pad"][3](X, i64(4, 3, 7)))
    _refused(*program(X, i64(2, 3, 2**40)), says="Pad node")


def test_program_writes_the_actual_size(tmp_path):
    """The program writes a data-dependent output in the size the run reports, not its bound."""
    program = _program(tmp_path, DATA_DEPENDENT["nonzero"][0], "nonzero", ("y0", [3, "n"]), TensorProto.INT64)
    x = X % 5
    run, out = program(x)
    assert run.returncode == 0, run.stderr
    np.testing.assert_array_equal(np.load(out / "output_0.npy"), np.array(np.nonzero(x)))
