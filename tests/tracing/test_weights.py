"""Weights as traced constants: arrays the traced function reads are named initializers, `E[ids]` traces,
weight-only expressions fold at trace time, and the user's module is always restored."""
import sys
import textwrap
import types

import numpy as np
import onnxruntime as ort
import pytest

from exporter import ops, trace
from exporter.errors import TracingError


def _module(source: str, name: str = "weights_test_model"):
    """A real module (functions with their own __globals__ and __module__), like an imported model.py."""
    module = types.ModuleType(name)
    module.__file__ = f"/tmp/{name}.py"
    sys.modules[name] = module
    exec(compile(textwrap.dedent(source), module.__file__, "exec"), module.__dict__)
    return module


def _run(model, feeds):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def _initializers(model):
    return {t.name: tuple(t.dims) for t in model.graph.initializer}


def test_embedding_as_plain_indexing_traces_to_a_gather_on_a_named_table():
    m = _module("""
        import numpy as np
        E = np.arange(40, dtype=np.float32).reshape(10, 4)
        W1 = np.linspace(-1, 1, 12).astype(np.float32).reshape(4, 3)
        def model(ids):
            return np.tanh(E[ids] @ W1)
    """)
    ids = np.array([[1, 7], [0, 9]], np.int64)
    model = trace(m.model, (ids,))
    assert [n.op_type for n in model.graph.node] == ["Gather", "MatMul", "Tanh"]
    assert _initializers(model) == {"E": (10, 4), "W1": (4, 3)}
    np.testing.assert_allclose(_run(model, {"ids": ids})[0], m.model(ids), rtol=1e-6)
    assert type(m.E) is np.ndarray and type(m.W1) is np.ndarray  # restored


def test_unused_arrays_are_not_exported_and_gather_keeps_working():
    m = _module("""
        import numpy as np
        from exporter import ops
        E = np.ones((6, 2), np.float32)
        UNUSED = np.zeros((100, 100), np.float32)
        NOT_NAMED = np.zeros(3)
        def model(ids):
            if False:
                return UNUSED
            return ops.gather(E, ids) * 2
    """)
    model = trace(m.model, (np.array([0, 5]),))
    assert "UNUSED" not in _initializers(model) and "E" in _initializers(model)
    np.testing.assert_allclose(_run(model, {"ids": np.array([0, 5])})[0], np.full((2, 2), 2.0))


def test_weight_only_expressions_fold_and_behave_like_arrays():
    m = _module("""
        import numpy as np
        W = np.arange(6, dtype=np.float32).reshape(2, 3)
        SCALE = np.array(0.5, np.float32)
        def model(x):
            assert W.shape == (2, 3) and len(W) == 2 and W.dtype == np.float32 and W.ndim == 2
            assert W.nbytes == 24 and isinstance(W.tolist(), list)
            rows = [r for r in W]                     # iteration, as NumPy does
            k = int(W[0, 1]) + W.shape[1]             # Python ints from a weight
            if W.sum() > 0:                           # a branch on a weight is a trace-time constant
                x = x * float(SCALE)
            return x @ (W.T * 2 + rows[1][:, None][0]) + k
    """)
    x = np.ones((4, 3), np.float32)
    model = trace(m.model, (x,))
    # W.T * 2 + ... folded at trace time: one MatMul, one Mul, one Add left
    assert sorted(n.op_type for n in model.graph.node) == ["Add", "MatMul", "Mul"]
    np.testing.assert_allclose(_run(model, {"x": x})[0], m.model(x), rtol=1e-6)


def test_module_restored_after_a_tracing_error():
    m = _module("""
        import numpy as np
        E = np.ones((4, 2), np.float32)
        def helper(v):
            return v + E
        def model(x):
            y = helper(x)
            if y.sum() > 0:           # data-dependent branch: a tracing error
                return y
            return -y
    """)
    before = dict(m.__dict__)
    with pytest.raises(TracingError):
        trace(m.model, (np.ones((4, 2), np.float32),))
    assert m.E is before["E"] and type(m.E) is np.ndarray


def test_closures_defaults_and_called_functions_of_the_module():
    m = _module("""
        import numpy as np
        TABLE = np.arange(12, dtype=np.float32).reshape(6, 2)
        def lookup(ids):
            return TABLE[ids]
        def make():
            bias = np.full(2, 3.0, np.float32)
            def model(ids, scale=np.array([2.0, 4.0], np.float32), *, shift=np.float32(1.0)):
                return lookup(ids) * scale + bias
            return model
        model = make()
    """)
    ids = np.array([5, 0], np.int64)
    model = trace(m.model, (ids,))
    assert {"TABLE", "scale", "bias"} <= set(_initializers(model))
    np.testing.assert_allclose(_run(model, {"ids": ids})[0], m.model(ids))
    assert type(m.model.__defaults__[0]) is np.ndarray
    assert type(m.model.__closure__[0].cell_contents) is np.ndarray
    assert type(m.TABLE) is np.ndarray


def test_dynamic_axes_with_constants():
    m = _module("""
        import numpy as np
        E = np.arange(20, dtype=np.float32).reshape(5, 4)
        def model(ids):
            return E[ids].sum(axis=-1) + E.shape[0]
    """)
    ids = np.array([[1, 2, 3]], np.int64)
    model = trace(m.model, (ids,), dynamic_axes={"ids": {1: "n"}})
    other = np.array([[4, 0, 1, 2, 3, 4, 4]], np.int64)
    np.testing.assert_allclose(_run(model, {"ids": other})[0], m.model(other))


def test_nodes_record_the_model_line():
    m = _module("""
        import numpy as np
        def model(x):
            y = np.exp(x)
            return y * 2
    """, name="weights_test_lines")
    model = trace(m.model, (np.ones(3, np.float32),))
    docs = {n.op_type: n.doc_string for n in model.graph.node}
    assert docs["Exp"] == "/tmp/weights_test_lines.py:4 (in model)"
    assert docs["Mul"] == "/tmp/weights_test_lines.py:5 (in model)"


def test_nn_block_parameters_are_named():
    from exporter import nn
    net = nn.Sequential(nn.Dense(4, activation="relu"), nn.Dense(2))
    net.initialize()
    x = np.ones((1, 3), np.float32)
    net(x)
    model = trace(net.forward, (x,))
    assert {"0.weight", "0.bias", "1.weight", "1.bias"} <= set(_initializers(model))
    np.testing.assert_allclose(_run(model, {"x": x})[0], net(x), rtol=1e-6)
