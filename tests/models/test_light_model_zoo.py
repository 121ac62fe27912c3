"""The nine model-zoo CNNs shipped inside the onnx wheel (onnx/backend/test/data/light: IR version 3,
opset 9, every initializer also listed as a graph input, weights written as ConstantOfShape) build
natively and match their reference outputs, with inputs made as onnx's backend test runner makes them.

Those weights are one repeated value, so every reference output is a uniform softmax: a check of the
graph import, not of the arithmetic. The same architectures with random weights are therefore also
compared with ONNX Runtime.
"""
import os
import subprocess

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

LIGHT = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")
MODELS = ["bvlc_alexnet", "densenet121", "inception_v1", "inception_v2", "resnet50", "shufflenet", "squeezenet",
          "vgg19", "zfnet512"]
RTOL, ATOL = 1e-3, 1e-4


def _model(stem):
    return onnx.load(os.path.join(LIGHT, f"light_{stem}.onnx"))


def _true_inputs(model):
    initialized = {t.name for t in model.graph.initializer}
    return [vi for vi in model.graph.input if vi.name not in initialized]


def _runner_input(vi):
    """onnx.backend.test.runner's generate_dummy_data(random=False): arange(n) / n in the input's shape."""
    shape = tuple(d.dim_value if d.HasField("dim_value") else 1 for d in vi.type.tensor_type.shape.dim)
    n = int(np.prod(shape))
    return (np.arange(n).reshape(shape) / n).astype(np.float32)


@pytest.fixture(scope="module")
def built():
    from exporter.native.library import compile_models
    return compile_models({stem: _model(stem) for stem in MODELS}, jobs=2)


@pytest.mark.parametrize("stem", MODELS)
def test_light_model_matches_reference_output(stem, built):
    from exporter.native.library import NativeModel
    lib = built[stem]
    if isinstance(lib, Exception):
        raise lib
    model = _model(stem)
    native = NativeModel(lib, stem)
    inputs = _true_inputs(model)
    assert native.input_names == [vi.name for vi in inputs]  # weights listed as inputs are not inputs
    got = native(*[_runner_input(vi) for vi in inputs])
    expected = numpy_helper.to_array(onnx.load_tensor(os.path.join(LIGHT, f"light_{stem}_output_0.pb")))
    assert got[0].shape == expected.shape
    np.testing.assert_allclose(got[0], expected, rtol=RTOL, atol=ATOL)


def _with_random_weights(model, seed):
    """Each ConstantOfShape weight becomes a random initializer (He-scaled for rank >= 2, in [0.5, 1.5] for
    per-channel vectors, which keeps batch-norm variances positive)."""
    rng = np.random.default_rng(seed)
    model = onnx.ModelProto.FromString(model.SerializeToString())
    shapes = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    kept = []
    for node in model.graph.node:
        if node.op_type == "ConstantOfShape" and node.input[0] in shapes:
            shape = tuple(int(d) for d in shapes[node.input[0]])
            if len(shape) >= 2:
                w = rng.standard_normal(shape) * np.sqrt(2.0 / max(1, int(np.prod(shape[1:]))))
            else:
                w = rng.uniform(0.5, 1.5, shape)
            model.graph.initializer.append(numpy_helper.from_array(w.astype(np.float32), node.output[0]))
        else:
            kept.append(node)
    del model.graph.node[:]
    model.graph.node.extend(kept)
    model.ir_version = max(model.ir_version, 4)  # initializers need not be graph inputs from IR 4 on
    return model


RANDOM = ["inception_v1", "shufflenet", "squeezenet"]
RANDOM_SLOW = ["densenet121", "inception_v2", "resnet50"]


@pytest.mark.parametrize("stem", RANDOM + [pytest.param(s, marks=pytest.mark.slow) for s in RANDOM_SLOW])
def test_light_architecture_with_random_weights_matches_onnxruntime(stem):
    import onnxruntime as ort

    from exporter.native.library import load
    model = _with_random_weights(_model(stem), seed=len(stem))
    x = np.random.default_rng(0).standard_normal(_runner_input(_true_inputs(model)[0]).shape).astype(np.float32)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    expected = session.run(None, {_true_inputs(model)[0].name: x})[0]
    assert float(expected.max()) > 2.0 / expected.size  # not a uniform softmax: the weights matter
    got = load(model, f"random_{stem}")(x)[0]
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)


def test_cli_exports_a_light_model_to_a_program(tmp_path):
    """`exporter export light_squeezenet.onnx --to exe`, then the program on the runner's input."""
    from tests.cli.test_export_onnx import exporter
    exe = tmp_path / "squeezenet"
    result = exporter("export", os.path.join(LIGHT, "light_squeezenet.onnx"), "--to", "exe", "-o", str(exe))
    assert result.returncode == 0, result.stderr
    model = _model("squeezenet")
    (vi,) = _true_inputs(model)
    np.save(tmp_path / "x.npy", _runner_input(vi))
    help_text = subprocess.run([str(exe), "--help"], capture_output=True, text=True).stdout
    assert "__SHAPE" not in help_text and vi.name in help_text
    run = subprocess.run([str(exe), "--out", str(tmp_path), str(tmp_path / "x.npy")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    expected = numpy_helper.to_array(onnx.load_tensor(os.path.join(LIGHT, "light_squeezenet_output_0.pb")))
    np.testing.assert_allclose(np.load(tmp_path / "output_0.npy"), expected, rtol=RTOL, atol=ATOL)
