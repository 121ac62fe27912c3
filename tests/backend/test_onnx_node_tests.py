"""ONNX's own node test cases (onnx.backend.test) run on the native backend.

Every case whose model the backend accepts is compiled (in parallel, cached) and checked against ONNX's
expected outputs with ONNX's tolerances. By default a fixed sample of them runs (every SAMPLE_EVERY-th
case, to fit the CI budget); `pytest -m slow` runs them all, plus onnx's BackendTest harness itself.
"""
import os
import warnings

import numpy as np
import pytest

SAMPLE_EVERY = 4
# Node cases the native backend accepts (all of which must pass: test_node_tests_all). Raise it when
# coverage grows; a drop fails CI. `python scripts/conformance.py` gives the full report.
ACCEPTED_AT_LEAST = 839


def _node_cases():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from onnx.backend.test.loader import load_model_tests
        return load_model_tests(kind="node")


@pytest.fixture(scope="module")
def accepted_cases(rendered_cases):
    return [case for case, refusal in rendered_cases if refusal is None]


def _array(x):
    """Test data is stored as arrays, or (a few cases) as TensorProtos."""
    from onnx import TensorProto, numpy_helper
    return numpy_helper.to_array(x) if isinstance(x, TensorProto) else np.asarray(x)


def _run_cases(cases):
    from exporter.native.library import NativeModel, compile_models
    built = compile_models({f"node{k}": case.model for k, case in enumerate(cases)})
    failures = []
    for k, case in enumerate(cases):
        lib = built[f"node{k}"]
        if isinstance(lib, Exception):
            failures.append(f"{case.name}: build failed: {str(lib).splitlines()[0]}")
            continue
        native = NativeModel(lib, f"node{k}")
        for inputs, expected in case.data_sets:
            try:
                got = native(*[_array(x) for x in inputs])
                for e, a in zip(expected, got):
                    e = _array(e)
                    assert a.shape == e.shape, f"shape {a.shape} != {e.shape}"
                    if e.dtype.kind == "f":
                        np.testing.assert_allclose(a, e, rtol=case.rtol, atol=case.atol, equal_nan=True)
                    else:
                        np.testing.assert_array_equal(a, e)
            except Exception as exc:  # noqa: BLE001 (collected: one report for all cases)
                failures.append(f"{case.name}: {str(exc).strip().splitlines()[0][:160]}")
                break
    return failures


def test_accepted_count_does_not_drop(accepted_cases):
    assert len(accepted_cases) >= ACCEPTED_AT_LEAST, (
        f"the native backend now accepts {len(accepted_cases)} ONNX node cases, fewer than the pinned "
        f"{ACCEPTED_AT_LEAST}: an op, dtype or attribute lost support")


def test_node_tests_sample(accepted_cases):
    sample = accepted_cases[::SAMPLE_EVERY]
    failures = _run_cases(sample)
    assert not failures, f"{len(failures)}/{len(sample)} ONNX node tests failed:\n" + "\n".join(failures)


@pytest.mark.slow
def test_node_tests_all(accepted_cases):
    failures = _run_cases(accepted_cases)
    print(f"ONNX node tests on the native backend: {len(accepted_cases) - len(failures)}/{len(accepted_cases)} "
          f"accepted cases pass")
    assert not failures, f"{len(failures)}/{len(accepted_cases)} ONNX node tests failed:\n" + "\n".join(failures)


@pytest.mark.slow
def test_onnx_backend_test_harness_runs_natively():
    """onnx.backend.test.BackendTest drives exporter.backend (a few op families, through unittest)."""
    import unittest

    import onnx.backend.test

    import exporter.backend
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        suite = onnx.backend.test.BackendTest(exporter.backend, __name__)
    suite.include(r"test_(relu|sigmoid|softmax_axis_1|matmul_2d|gemm_default_no_bias|transpose_default)_cpu$")
    tests = unittest.defaultTestLoader.loadTestsFromTestCase(suite.test_cases["OnnxBackendNodeModelTest"])
    result = unittest.TextTestRunner(stream=open(os.devnull, "w")).run(tests)
    ran = result.testsRun - len(result.skipped)
    assert ran >= 6 and result.wasSuccessful(), (result.failures + result.errors)[:3]
