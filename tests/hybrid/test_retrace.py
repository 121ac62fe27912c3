"""hybridize as jax.jit/tf.function: decorator form, tracing at the first call, one compiled form per input
signature (bounded cache, a warning when a function keeps retracing), dynamic_axes for one form."""
import logging

import numpy as np
import pytest

import exporter
from exporter.errors import InputError


def counting(fn):
    """fn plus a count of how often it was traced (each trace calls the Python function once)."""
    calls = []

    def wrapper(x):
        calls.append(x.shape)
        return fn(x)
    wrapper.calls = calls
    return wrapper


@pytest.mark.parametrize("backend", ["native", "onnxruntime"])
def test_example_inputs_do_not_freeze_the_shape(backend):
    w = np.arange(12, dtype=np.float32).reshape(4, 3)
    fast = exporter.hybridize(lambda x: np.tanh(x @ w), (np.ones((4, 4), np.float32),), backend=backend)
    assert fast.traces == 1  # compiled eagerly
    x9 = np.random.default_rng(0).standard_normal((9, 4)).astype(np.float32)
    np.testing.assert_allclose(fast(x9), np.tanh(x9 @ w), rtol=1e-5, atol=1e-6)
    assert fast.traces == 2
    fast(np.ones((4, 4), np.float32))
    fast(x9)
    assert fast.traces == 2  # both forms cached


def test_decorator_traces_at_first_call_and_per_new_signature():
    @exporter.hybridize
    @counting
    def f(x):
        return x * 2 + 1

    assert f.traces == 0 and f.model is None
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(f(x), x * 2 + 1)
    assert f.traces == 1
    f(x + 1)                                  # same signature: no trace
    assert f.traces == 1
    np.testing.assert_array_equal(f(x.astype(np.int64)), x.astype(np.int64) * 2 + 1)   # new dtype
    np.testing.assert_array_equal(f(x.ravel()), x.ravel() * 2 + 1)                       # new rank
    assert f.traces == 3 and len(f.__wrapped__.calls) == 3 and f.__name__ == "wrapper"


def test_decorator_with_options_and_dynamic_axes_compiles_once():
    @exporter.hybridize(backend="onnxruntime", dynamic_axes={"x": {0: "batch"}})
    def g(x):
        return x.sum(axis=1)

    for batch in (1, 4, 9):
        np.testing.assert_allclose(g(np.ones((batch, 3), np.float32)), np.full(batch, 3.0))
    assert g.traces == 1
    g(np.ones((2, 5), np.float32))            # axis 1 is static: a new form
    assert g.traces == 2
    with pytest.raises(ValueError, match="input 'x': axis 0 is dynamic, but the input has rank 0"):
        g(np.float32(1))


def test_native_dynamic_axes_one_library_for_all_sizes():
    fast = exporter.hybridize(lambda x: x[:, 1:] * 2, dynamic_axes={"x": {0: "batch"}})
    for batch in (3, 1, 7):
        x = np.arange(batch * 4, dtype=np.float32).reshape(batch, 4)
        np.testing.assert_array_equal(fast(x), x[:, 1:] * 2)
    assert fast.traces == 1


def test_cache_is_bounded_and_retracing_warns_once(caplog):
    fast = exporter.hybridize(lambda x: x + 1, backend="onnxruntime", max_traces=3)
    with caplog.at_level(logging.WARNING, logger="exporter"):
        for n in range(1, 8):
            fast(np.ones(n, np.float32))
    assert fast.traces == 7 and len(fast._cache) == 3
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "traced 5 times" in warnings[0] and "dynamic_axes=" in warnings[0]
    assert "\n" not in warnings[0]
    fast(np.ones(1, np.float32))              # evicted: traced again
    assert fast.traces == 8


def test_input_errors_name_the_input():
    fast = exporter.hybridize(lambda x, y: x + y, backend="onnxruntime")
    with pytest.raises(ValueError, match=r"takes 2 input\(s\) \(x, y\), got 1"):
        fast(np.ones(2, np.float32))
    with pytest.raises(ValueError, match="input 'y': dtype float16 is not supported"):
        fast(np.ones(2, np.float32), np.ones(2, np.float16))
    assert fast.traces == 0
    with pytest.raises(InputError):
        fast(np.ones(2, np.float32), np.array(["a", "b"]))


@pytest.mark.parametrize("backend", ["native", "onnxruntime"])
def test_repeated_calls_with_one_array_follow_its_contents_shape_and_dtype(backend):
    """The per-call fast path keys on the previous call's dtypes and shapes: an array changed in place (its
    values, or its shape through .shape), a list, a byte-swapped dtype (refused) all get their own answer."""
    fast = exporter.hybridize(lambda x: x * 2 + 1, backend=backend)
    x = np.arange(6, dtype=np.float32)
    np.testing.assert_array_equal(fast(x), x * 2 + 1)
    x[:] = 7
    np.testing.assert_array_equal(fast(x), np.full(6, 15, np.float32))
    x.shape = (2, 3)
    assert fast(x).shape == (2, 3) and fast.traces == 2
    np.testing.assert_array_equal(fast([[1.0, 2.0, 3.0]] * 2), np.array([[3, 5, 7]] * 2))
    np.testing.assert_array_equal(fast(x), np.full((2, 3), 15, np.float32))
    with pytest.raises(InputError, match="dtype >f4"):
        fast(np.arange(6, dtype=">f4").reshape(2, 3))
    with pytest.raises(InputError):
        fast()
