"""hybridize's native wrapper (exporter/native/library.py NativeModel) bounds shapes before it copies or
calls C (issue 10.1): a broadcast view claiming 2^40 rows is an InputError, not a MemoryError or a crash."""
from __future__ import annotations

import numpy as np
import pytest

import exporter
from exporter.errors import InputError
from tests.cli.test_export_native import load_example


@pytest.fixture(scope="module")
def fast_mlp():
    mlp = load_example("mlp")
    return mlp, exporter.hybridize(mlp.model, mlp.example_inputs, dynamic_axes=mlp.dynamic_axes)


def test_huge_broadcast_view_is_refused_before_any_copy(fast_mlp):
    _, fast = fast_mlp
    huge = np.broadcast_to(np.ones((1, 512), np.float32), (2**40, 512))
    with pytest.raises(InputError, match="too large"):
        fast(huge)


def test_wrong_rank_is_refused_and_a_new_dtype_compiles_again(fast_mlp):
    mlp, fast = fast_mlp
    with pytest.raises(InputError, match="expected 2 dimensions, got 1"):
        fast(np.ones(512, np.float32))
    with pytest.raises(InputError, match="unsupported|not supported"):
        fast(np.ones((2, 512), np.complex64))
    x = np.ones((2, 512), np.float64)  # a new signature: traced and compiled once more, as jax.jit does
    np.testing.assert_allclose(fast(x), mlp.model(x), rtol=1e-6, atol=1e-6)


def test_batch_0_and_normal_calls(fast_mlp):
    mlp, fast = fast_mlp
    assert fast(np.ones((0, 512), np.float32)).shape == (0, 2)
    x = np.random.default_rng(0).standard_normal((3, 512)).astype(np.float32)
    np.testing.assert_allclose(fast(x), mlp.model(x), rtol=1e-5, atol=1e-5)
