"""Every row of the op table: trace, check the ONNX model, run it in ONNX Runtime, compare with NumPy
on the example inputs and on fresh inputs (at another size along dynamic axes)."""
import numpy as np
import onnx
import pytest

from exporter import trace
from exporter.tracing.tracer import FUNCTIONS, UFUNCS
from tests.helpers import ORT_MISSING_KERNELS, as_tuple, assert_same, ort_missing_kernel, run_onnxruntime, seed_of
from tests.op_cases import CASES


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_numpy_vs_onnxruntime(case):
    rng = np.random.default_rng(seed_of(case.name))
    example = case.inputs(rng, 2)
    model = trace(case.fn, example, dynamic_axes=case.dynamic)
    onnx.checker.check_model(model, full_check=True)
    try:
        run_onnxruntime(model, example)
    except Exception as exc:
        op = ort_missing_kernel(exc)
        dtypes = {np.asarray(x).dtype.name for x in example}
        if op and any((op, dt) in ORT_MISSING_KERNELS for dt in dtypes):
            pytest.xfail(f"ONNX Runtime has no {op} kernel for {dtypes}; covered by the native backend")
        raise
    assert_same(case.fn(*example), run_onnxruntime(model, example), case.rtol, where=f"{case.name} (example)")
    fresh = case.inputs(rng, 5 if case.dynamic else 2)
    assert_same(case.fn(*fresh), run_onnxruntime(model, fresh), case.rtol, where=f"{case.name} (fresh inputs)")


def test_every_lowering_has_a_case(monkeypatch):
    """A function registered for tracing but missing from the op table fails here."""
    used = set()
    for table in (FUNCTIONS, UFUNCS):
        for func, lowering in list(table.items()):
            def spy(*args, _func=func, _lowering=lowering, **kwargs):
                used.add(_func)
                return _lowering(*args, **kwargs)
            monkeypatch.setitem(table, func, spy)
    for case in CASES:
        trace(case.fn, case.inputs(np.random.default_rng(0), 2), dynamic_axes=case.dynamic)
    from exporter.tracing.creation import ORIGINAL
    aliases = {np.amax, np.amin, np.around, np.radians, np.degrees, np.permute_dims, np.empty_like, np.fabs,
               ORIGINAL["empty"]}
    missing = sorted(getattr(f, "__name__", str(f)) for f in (set(FUNCTIONS) | set(UFUNCS)) - used - aliases)
    assert not missing, f"registered but untested: {missing}"


def test_outputs_are_tuples_or_single():
    model = trace(lambda x: x + 1, (np.zeros(3, np.float32),))
    assert [o.name for o in model.graph.output] == ["output_0"]
    assert len(as_tuple(run_onnxruntime(model, [np.zeros(3, np.float32)]))) == 1


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_reference_is_deterministic(case):
    """A row whose NumPy reference changes between two evaluations (uninitialised memory, say) would
    make every backend's comparison random."""
    example = case.inputs(np.random.default_rng(seed_of(case.name)), 2)
    for first, second in zip(as_tuple(case.fn(*example)), as_tuple(case.fn(*example))):
        np.testing.assert_array_equal(np.asarray(first), np.asarray(second), err_msg=case.name)


def test_empty_like_has_shape_and_dtype():
    """np.empty_like's values are unspecified, so it has no op-table row: shape and dtype only."""
    model = trace(lambda x: (np.empty_like(x), np.empty_like(x, dtype=np.int32)), (np.ones((2, 4), np.float32),),
                  dynamic_axes={"x": {0: "batch"}})
    first, second = run_onnxruntime(model, [np.ones((5, 4), np.float32)])
    assert (first.shape, first.dtype, second.shape, second.dtype) == ((5, 4), np.float32, (5, 4), np.int32)


def test_empty_over_a_dynamic_size_has_shape_and_dtype():
    model = trace(lambda x: np.empty((x.shape[0], 2), np.int32), (np.ones((2, 4), np.float32),),
                  dynamic_axes={"x": {0: "batch"}})
    (out,) = run_onnxruntime(model, [np.ones((5, 4), np.float32)])
    assert (out.shape, out.dtype) == ((5, 2), np.int32)


def test_arange_with_float_bounds_over_a_dynamic_size():
    """A float step has no integer Range: a float Range, which ONNX Runtime runs (the native backend refuses
    float ranges with dynamic bounds with a clear error)."""
    fn = lambda x: np.arange(0.5, x.shape[0], 0.25)  # noqa: E731
    model = trace(fn, (np.ones((2, 4), np.float32),), dynamic_axes={"x": {0: "batch"}})
    x = np.ones((5, 4), np.float32)
    assert_same(fn(x), run_onnxruntime(model, [x])[0])
    from exporter.tracing.creation import ORIGINAL
    assert np.arange is ORIGINAL["arange"]  # NumPy's own function again once tracing is over
