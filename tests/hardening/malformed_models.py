"""Broken and hostile .onnx files (issues 10.4, 12, 16.2): each must give one `error:` line, exit 2 and
nothing written, for `export` and `check`. `write_all(dir)` returns {case: path}."""
from __future__ import annotations

import os

import numpy as np
from onnx import TensorProto, helper, numpy_helper


def _model(nodes, inputs, outputs, inits=(), opset=17, **kw):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], **kw)


def _vi(name, shape, dtype=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, shape)


def _relu(opset=17, in_shape=("N", 4), out_shape=("N", 4)):
    return _model([helper.make_node("Relu", ["x"], ["y"])], [_vi("x", list(in_shape))], [_vi("y", list(out_shape))],
                  opset=opset)


def _save(model, path):
    # bypass onnx.save's own checks: these files are broken on purpose
    with open(path, "wb") as f:
        f.write(model.SerializeToString())


def write_all(directory) -> dict:
    d = str(directory)
    cases = {}

    def put(name, model=None, data=None):
        path = os.path.join(d, f"{name}.onnx")
        if model is not None:
            _save(model, path)
        else:
            with open(path, "wb") as f:
                f.write(data)
        cases[name] = path

    good = _relu().SerializeToString()
    put("empty-file", data=b"")
    put("random-bytes", data=np.random.default_rng(0).bytes(4096))
    put("truncated", data=good[: len(good) // 2])
    put("dangling-input", _model([helper.make_node("Add", ["x", "ghost"], ["y"])], [_vi("x", [2])], [_vi("y", [2])]))
    put("cycle", _model([helper.make_node("Relu", ["b"], ["a"]), helper.make_node("Relu", ["a"], ["b"]),
                         helper.make_node("Add", ["x", "b"], ["y"])], [_vi("x", [2])], [_vi("y", [2])]))
    w = numpy_helper.from_array(np.zeros((2, 3), np.float32), "w")
    w.raw_data = b"\0" * 4096
    put("raw-data-too-long", _model([helper.make_node("MatMul", ["x", "w"], ["y"])], [_vi("x", [1, 2])],
                                    [_vi("y", [1, 3])], [w]))
    w2 = numpy_helper.from_array(np.zeros((2, 3), np.float32), "w")
    w2.raw_data = b"\0" * 8
    put("raw-data-too-short", _model([helper.make_node("MatMul", ["x", "w"], ["y"])], [_vi("x", [1, 2])],
                                     [_vi("y", [1, 3])], [w2]))
    unknown = _model([helper.make_node("Frobnicate", ["x"], ["y"], domain="com.example")], [_vi("x", [2])],
                     [_vi("y", [2])])
    unknown.opset_import.append(helper.make_opsetid("com.example", 1))
    put("unknown-domain", unknown)
    put("opset-99", _relu(opset=99))
    put("negative-dim", _relu(in_shape=(-3, 4), out_shape=(-3, 4)))
    put("huge-dim", _relu(in_shape=(2**62, 4), out_shape=(2**62, 4)))
    put("huge-output-dim", _relu(in_shape=("N", 4), out_shape=("N", 2**40)))
    put("output-contradicts", _relu(in_shape=(2, 4), out_shape=(2, 5)))
    put("duplicate-outputs", _model([helper.make_node("Relu", ["x"], ["y"])], [_vi("x", [2])],
                                    [_vi("y", [2]), _vi("y", [2])]))
    put("empty-graph", _model([], [], []))
    put("no-inputs", _model([helper.make_node("Constant", [], ["y"], value=numpy_helper.from_array(
        np.ones(2, np.float32)))], [], [_vi("y", [2])]))
    put("matmul-mismatch", _model([helper.make_node("MatMul", ["x", "w"], ["y"])], [_vi("x", [3, 4])],
                                  [_vi("y", [3, 6])], [numpy_helper.from_array(np.ones((5, 6), np.float32), "w")]))
    for name, location in (("external-data-escape", "../../etc/passwd"), ("external-data-absolute", "/etc/passwd")):
        t = numpy_helper.from_array(np.ones((2, 2), np.float32), "w")
        t.ClearField("raw_data")
        t.data_location = TensorProto.EXTERNAL
        for key, value in (("location", location), ("offset", "0"), ("length", "16")):
            entry = t.external_data.add()
            entry.key, entry.value = key, value
        put(name, _model([helper.make_node("MatMul", ["x", "w"], ["y"])], [_vi("x", [2, 2])], [_vi("y", [2, 2])], [t]))
    return cases
