"""A ResNet-18-shaped ONNX model (random weights, BatchNormalization kept as separate nodes, as PyTorch
exports it) for the benchmarks: `resnet18(batch)` returns the ModelProto; input "x" [batch, 3, 224, 224]."""
import numpy as np
from onnx import TensorProto, helper, numpy_helper


def resnet18(batch: int = 1, classes: int = 1000, seed: int = 0):
    rng = np.random.default_rng(seed)
    nodes, inits = [], []

    def const(name, array):
        inits.append(numpy_helper.from_array(np.asarray(array, np.float32), name))
        return name

    def conv_bn(x, cin, cout, k, stride, name, relu=True):
        w = const(f"{name}_w", rng.standard_normal((cout, cin, k, k)) * np.sqrt(2 / (cin * k * k)))
        nodes.append(helper.make_node("Conv", [x, w], [f"{name}_c"], kernel_shape=[k, k], strides=[stride, stride],
                                      pads=[k // 2] * 4, name=f"{name}_conv"))
        bn = [const(f"{name}_{p}", v) for p, v in (("g", rng.uniform(0.5, 1.5, cout)), ("b", rng.normal(0, 0.1, cout)),
                                                   ("m", rng.normal(0, 0.1, cout)), ("v", rng.uniform(0.5, 1.5, cout)))]
        nodes.append(helper.make_node("BatchNormalization", [f"{name}_c"] + bn, [f"{name}_bn"], name=f"{name}_bn"))
        if not relu:
            return f"{name}_bn"
        nodes.append(helper.make_node("Relu", [f"{name}_bn"], [f"{name}_r"], name=f"{name}_relu"))
        return f"{name}_r"

    h = conv_bn("x", 3, 64, 7, 2, "stem")
    nodes.append(helper.make_node("MaxPool", [h], ["pool"], kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4))
    h, cin = "pool", 64
    for stage, cout in enumerate((64, 128, 256, 512)):
        for block in range(2):
            stride = 2 if stage > 0 and block == 0 else 1
            name = f"l{stage + 1}_{block}"
            out = conv_bn(h, cin, cout, 3, stride, f"{name}_a")
            out = conv_bn(out, cout, cout, 3, 1, f"{name}_b", relu=False)
            skip = conv_bn(h, cin, cout, 1, stride, f"{name}_down", relu=False) if stride != 1 or cin != cout else h
            nodes.append(helper.make_node("Add", [out, skip], [f"{name}_sum"], name=f"{name}_add"))
            nodes.append(helper.make_node("Relu", [f"{name}_sum"], [f"{name}_out"], name=f"{name}_relu"))
            h, cin = f"{name}_out", cout
    nodes.append(helper.make_node("GlobalAveragePool", [h], ["gap"]))
    nodes.append(helper.make_node("Flatten", ["gap"], ["flat"]))
    fc_w = const("fc_w", rng.standard_normal((classes, 512)) * np.sqrt(1 / 512))
    fc_b = const("fc_b", np.zeros(classes))
    nodes.append(helper.make_node("Gemm", ["flat", fc_w, fc_b], ["y"], transB=1, name="fc"))
    graph = helper.make_graph(nodes, "resnet18", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, 224, 224])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, classes])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
