"""Models quantised by ONNX Runtime's own quantiser (onnxruntime.quantization) compile natively and agree with
ONNX Runtime: dynamic quantisation (DynamicQuantizeLinear, MatMulInteger, ConvInteger), static QOperator
(QLinearConv, QLinearMatMul) and static QDQ (QuantizeLinear/DequantizeLinear around float ops, whose
constant weights are dequantised at export time)."""
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from exporter.native.ir import Graph
from tests.helpers import run_onnxruntime

quantization = pytest.importorskip("onnxruntime.quantization")
rng = np.random.default_rng(21)


def float_model():
    """Conv(3->8, 3x3, pad 1) -> Relu -> Conv(8->8, 3x3, stride 2) -> Relu -> Reshape -> MatMul(128 -> 10)."""
    inits = [numpy_helper.from_array(rng.uniform(-0.5, 0.5, (8, 3, 3, 3)).astype(np.float32), "w1"),
             numpy_helper.from_array(rng.uniform(-0.1, 0.1, 8).astype(np.float32), "b1"),
             numpy_helper.from_array(rng.uniform(-0.3, 0.3, (8, 8, 3, 3)).astype(np.float32), "w2"),
             numpy_helper.from_array(rng.uniform(-0.1, 0.1, 8).astype(np.float32), "b2"),
             numpy_helper.from_array(np.array([1, 128], np.int64), "flat"),
             numpy_helper.from_array(rng.uniform(-0.2, 0.2, (128, 10)).astype(np.float32), "w3")]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c2"], ["r2"]),
             helper.make_node("Reshape", ["r2", "flat"], ["f"]),
             helper.make_node("MatMul", ["f", "w3"], ["y"])]
    graph = helper.make_graph(nodes, "cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


class _Calibration(quantization.CalibrationDataReader):
    def __init__(self):
        self._data = iter([{"x": rng.uniform(-1, 1, (1, 3, 8, 8)).astype(np.float32)} for _ in range(8)])

    def get_next(self):
        return next(self._data, None)


def _quantised(kind, tmp_path):
    import onnx
    src, dst = str(tmp_path / "float.onnx"), str(tmp_path / f"{kind}.onnx")
    onnx.save(float_model(), src)
    if kind == "dynamic":
        quantization.quantize_dynamic(src, dst, weight_type=quantization.QuantType.QUInt8)
    else:
        fmt = quantization.QuantFormat.QDQ if kind == "qdq" else quantization.QuantFormat.QOperator
        quantization.quantize_static(src, dst, _Calibration(), quant_format=fmt,
                                     activation_type=quantization.QuantType.QUInt8,
                                     weight_type=quantization.QuantType.QUInt8)
    return onnx.load(dst)


@pytest.mark.parametrize("kind, ops", [("dynamic", {"DynamicQuantizeLinear", "ConvInteger", "MatMulInteger"}),
                                       ("qoperator", {"QLinearConv", "QLinearMatMul"}),
                                       ("qdq", {"QuantizeLinear", "DequantizeLinear"})])
def test_quantised_model_matches_onnxruntime(kind, ops, tmp_path):
    from exporter.native.library import NativeModel, compile_models
    model = _quantised(kind, tmp_path)
    assert ops <= {n.op_type for n in model.graph.node}, "the quantiser wrote other ops than this test expects"
    graph_ops = {n.op for n in Graph(model).nodes}
    assert "DequantizeLinear" not in graph_ops or kind != "qdq" or "Conv" in graph_ops
    lib = compile_models({kind: model}, jobs=1)[kind]
    if isinstance(lib, Exception):
        raise lib
    native = NativeModel(lib, kind)
    for _ in range(3):
        x = rng.uniform(-1, 1, (1, 3, 8, 8)).astype(np.float32)
        want = run_onnxruntime(model, [x])[0]
        got = native(x)[0]
        # the same integers, but ONNX Runtime requantises in float where ONNX's reference (and this backend)
        # multiplies in double, and runs QDQ models in integers where this backend runs them in float: a tie
        # may round the other way, one step of the last quantisation (at most ~0.5% of the outputs' range)
        step = float(np.ptp(want)) / 255 if kind != "dynamic" else 1e-5
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=2 * step + 1e-5, err_msg=kind)
