"""exporter.hybridize on both backends: same results and return structure, clear errors, build cache."""
import os

import numpy as np
import pytest

import exporter
from exporter.errors import InputError
from tests.cli.test_export_native import load_example


@pytest.mark.parametrize("backend", ["native", "onnxruntime"])
def test_hybridize_matches_eager_and_keeps_return_structure(backend):
    w = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)

    def two(x, n):
        h = np.tanh(x @ w)
        return h, (n * 2).sum(axis=-1)

    x = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    n = np.arange(10, dtype=np.int64).reshape(5, 2)
    fast = exporter.hybridize(two, (x, n), backend=backend, dynamic_axes={"x": {0: "b"}, "n": {0: "b"}})
    got = fast(x, n)
    assert isinstance(got, tuple) and len(got) == 2
    np.testing.assert_allclose(got[0], np.tanh(x @ w), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got[1], (n * 2).sum(-1))
    x9, n9 = np.ones((9, 4), np.float32), np.ones((9, 2), np.int64)
    assert fast(x9, n9)[0].shape == (9, 3)
    single = exporter.hybridize(lambda x: x * 2, (x,), backend=backend)
    assert isinstance(single(x), np.ndarray)
    # a new dtype or static size is a new signature: traced and compiled again, not refused
    np.testing.assert_allclose(fast(x.astype(np.float64), n)[0], np.tanh(x.astype(np.float64) @ w), rtol=1e-6)
    with pytest.raises(exporter.TracingError, match="matmul"):  # (5, 7) @ (4, 3): the trace says why
        fast(np.ones((5, 7), np.float32), n)
    with pytest.raises(ValueError, match="2 input"):
        fast(x)


def test_native_results_do_not_alias_between_calls():
    fast = exporter.hybridize(lambda x: x + 1, (np.zeros(3, np.float32),))
    a = fast(np.zeros(3, np.float32))
    b = fast(np.ones(3, np.float32))
    np.testing.assert_array_equal(a, [1, 1, 1])
    np.testing.assert_array_equal(b, [2, 2, 2])


def test_native_sees_in_place_changes_of_the_same_array():
    fast = exporter.hybridize(lambda x: x * 3, (np.zeros(2, np.float32),))
    x = np.ones(2, np.float32)
    assert fast(x)[0] == 3
    x[:] = 5
    assert fast(x)[0] == 15


def test_second_hybridize_of_the_same_model_uses_the_cache():
    mlp = load_example("mlp")
    first = exporter.hybridize(mlp.model, mlp.example_inputs)
    mtime = os.path.getmtime(first._runner.path)
    second = exporter.hybridize(mlp.model, mlp.example_inputs)
    assert second._runner.path == first._runner.path and os.path.getmtime(second._runner.path) == mtime
    x = mlp.example_inputs[0]
    np.testing.assert_allclose(second(x), mlp.model(x), rtol=1e-5, atol=1e-6)


def test_input_error_is_a_value_error():
    assert issubclass(InputError, ValueError)
