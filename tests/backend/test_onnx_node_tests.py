"""ONNX's own node test cases (onnx.backend.test) run on the native backend.

Every case whose model the backend accepts is compiled (in parallel, cached) and checked against ONNX's
expected outputs with ONNX's tolerances. By default a fixed sample of them runs (every SAMPLE_EVERY-th
case, to fit the CI budget); `pytest -m slow` runs them all, plus onnx's BackendTest harness itself.
"""
import os
import re
import warnings

import numpy as np
import pytest

# one xdist worker renders ONNX's 1,884 node cases once (tests/backend/conftest.py) for both modules
# (test.sh runs with --dist loadgroup); without the group each worker rendered them all again
pytestmark = pytest.mark.xdist_group("node_cases")

SAMPLE_EVERY = 5  # ~1 in 5 of the accepted cases (about 340) in the default run; all under -m slow
# Node cases the native backend accepts (all of which must pass: test_node_tests_all). Raise it when
# coverage grows; a drop fails CI. `python scripts/conformance.py` gives the full report.
ACCEPTED_AT_LEAST = 1789


def _node_cases():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from onnx.backend.test.loader import load_model_tests
        return load_model_tests(kind="node")


@pytest.fixture(scope="module")
def accepted_cases(rendered_cases):
    """[(case, model, data sets)] for the cases the native backend accepts as they are."""
    return [(case, case.model, case.data_sets) for case, refusal in rendered_cases if refusal is None]


def accept(cases):
    """[(case, model, data sets)] for every case the native backend accepts. Inputs that only define
    shapes (TopK's k, Reshape's shape: graph inputs in these tests) are fixed to the test's values, as
    exporter.backend does when they arrive with the data."""
    from exporter.backend import shape_only_inputs, specialize
    from exporter.errors import ExporterError, InternalError
    from exporter.native import render
    accepted = []
    for case in cases:
        names = [i.name for i in case.model.graph.input]
        fixed = shape_only_inputs(case.model)
        values = [{n: _array(inputs[names.index(n)]) for n in fixed} for inputs, _ in case.data_sets]
        if any(set(v) != set(values[0]) or any(not np.array_equal(v[n], values[0][n]) for n in v) for v in values):
            continue  # the data sets disagree on a shape: one compiled model cannot run them all
        model = specialize(case.model, values[0]) if fixed else case.model
        try:
            render(model, "node")
        except InternalError:
            raise  # a bug, not a refusal: fails the test instead of shrinking the accepted set
        except ExporterError:
            continue
        kept = [k for k, n in enumerate(names) if n not in fixed]
        accepted.append((case, model, [([inputs[k] for k in kept], expected) for inputs, expected in case.data_sets]))
    return accepted


def _array(x):
    """Test data is stored as arrays, or (a few cases) as TensorProtos."""
    from onnx import TensorProto, numpy_helper
    return numpy_helper.to_array(x) if isinstance(x, TensorProto) else np.asarray(x)


def _run_cases(cases, prefix="node"):
    """Compile every (case, model, data sets) and compare with ONNX's expected outputs; one line per failing
    case (its first failing data set). `prefix` names the compiled models (distinct per test file)."""
    from exporter.native.library import NativeModel, compile_models
    built = compile_models({f"{prefix}{k}": model for k, (_, model, _) in enumerate(cases)})
    failures = []
    for k, (case, _, data_sets) in enumerate(cases):
        lib = built[f"{prefix}{k}"]
        if isinstance(lib, Exception):
            failures.append(f"{case.name}: build failed: {str(lib).splitlines()[0]}")
            continue
        native = NativeModel(lib, f"{prefix}{k}")
        for inputs, expected in data_sets:
            try:
                got = native(*[_array(x) for x in inputs])
                for e, a in zip(expected, got):
                    e = _array(e)
                    assert a.shape == e.shape, f"shape {a.shape} != {e.shape}"
                    if e.dtype.kind == "f" or e.dtype.kind == "V" and e.dtype.itemsize == 2:  # ml_dtypes' bfloat16
                        np.testing.assert_allclose(a.astype(np.float32) if a.dtype.kind == "V" else a,
                                                   e.astype(np.float32) if e.dtype.kind == "V" else e,
                                                   rtol=case.rtol, atol=case.atol, equal_nan=True)
                    else:
                        np.testing.assert_array_equal(a, e)
            except Exception as exc:  # noqa: BLE001 (collected: one report for all cases)
                failures.append(f"{case.name}: {str(exc).strip().splitlines()[0][:160]}")
                break
    return failures


def test_top_k_node_tests_pass():
    """Every TopK case of ONNX's suite (k arrives as an input; uint64 too) is accepted and passes, and so is
    every bool ReduceMax/ReduceMin case (any / all)."""
    cases = [c for c in _node_cases() if c.name.startswith("test_top_k")
             or c.name.startswith(("test_reduce_max", "test_reduce_min")) and "bool" in c.name]
    accepted = accept(cases)
    assert len(cases) >= 10 and sorted(c.name for c, _, _ in accepted) == sorted(c.name for c in cases)
    failures = _run_cases(accepted)
    assert not failures, "\n".join(failures)


# Ops newer than the opset traced models use (ONNX Runtime may have no kernel for them), so no op-table row:
# every case of ONNX's suite for them is accepted and passes. CumProd shares CumSum's rule and kernel; BitCast
# is a byte copy under a new dtype; Swish (opset 24) is an activation of the fused loops, run by SwiGLU's
# function body too.
@pytest.mark.parametrize("prefix", ["cumprod", "bitcast", "swiglu"])
def test_opset_26_node_tests_pass(prefix):
    _all_accepted_and_pass([c for c in _node_cases() if c.name.startswith(f"test_{prefix}")], prefix)


def _all_accepted_and_pass(cases, prefix, left=frozenset()):
    """Every case but those named in `left` is accepted, and every accepted one passes."""
    accepted = accept(cases)
    assert cases and sorted(c.name for c, _, _ in accepted) == sorted(c.name for c in cases if c.name not in left)
    failures = _run_cases(accepted, prefix=prefix)
    assert not failures, "\n".join(failures)


# Shape values computed inside the graph from inputs' values (runtime_values: `computed`): the function
# bodies of CenterCropPad and AffineGrid, the window functions' expanded bodies (a float Range limit cast from
# an integer input), and float16/bfloat16 Ranges (bounds read as numbers). Left: AffineGrid 3d align_corners
# (an If on a run-time value whose branches differ in shape) and the Range bodies' Loops (a trip count
# computed in floats).
COMPUTED_VALUE_CASES = ("center_crop_pad", "affine_grid", "hannwindow", "hammingwindow", "blackmanwindow",
                        "range_float16", "range_bfloat16")
COMPUTED_VALUE_LEFT = {"test_affine_grid_3d_align_corners", "test_affine_grid_3d_align_corners_expanded"}


@pytest.mark.parametrize("prefix", COMPUTED_VALUE_CASES)
def test_computed_shape_values_node_tests_pass(prefix):
    cases = [c for c in _node_cases() if c.name.startswith(f"test_{prefix}")
             and (c.name.endswith("_expanded") or prefix not in ("hannwindow", "hammingwindow", "blackmanwindow"))
             and not (prefix.startswith("range") and c.name.endswith("_expanded"))]
    _all_accepted_and_pass(cases, prefix, COMPUTED_VALUE_LEFT)


# Output sizes known only once the node ran (runtime_values.result_dims): planned at their bound, reported
# after the run.
@pytest.mark.parametrize("prefix", ["nonzero", "compress", "unique", "nonmaxsuppression"])
def test_data_dependent_size_node_tests_pass(prefix):
    _all_accepted_and_pass([c for c in _node_cases() if c.name.startswith(f"test_{prefix}")], prefix)


# Ops ONNX Runtime 1.32 cannot check as op-table rows (other domains, or function ops whose node tests the
# rows do not cover): every case of ONNX's suite for them is accepted and passes. FlexAttention
# (ai.onnx.preview) runs as its function body, score_mod/prob_mod subgraphs inlined; the window functions'
# size is a model input read at run time (their _expanded forms are Range-limit cases, not these).
SIGNAL_AND_DOMAIN_CASES = {
    "flexattention": r"test_flexattention",
    "windows": r"test_(hann|hamming|blackman)window(_symmetric)?$",
    "signal": r"test_(dft|stft|melweightmatrix)",
    "training": r"test_(adagrad|adam|momentum|nesterov_momentum)",
    "ml": r"test_ai_onnx_ml_(binarizer|array_feature_extractor|tree_ensemble)",
    "linalg": r"test_(det|tensorscatter)",
}
# ONNX's expected outputs for these carry float32 rounding noise of NumPy's FFT (1.9e-7 where the exact
# value is 0, above the case's atol of 1e-7); the native transform, in double, gives ~1e-15 there.
KNOWN_WRONG = {"test_dft_inverse", "test_dft_inverse_opset19"}


@pytest.mark.parametrize("family", sorted(SIGNAL_AND_DOMAIN_CASES))
def test_signal_and_domain_node_tests_pass(family):
    pattern = re.compile(SIGNAL_AND_DOMAIN_CASES[family])
    _all_accepted_and_pass([c for c in _node_cases() if pattern.match(c.name) and c.name not in KNOWN_WRONG], family)


# Node cases of features the op table cannot check three ways: every case named is accepted (inputs that
# only define values needed at export time fixed from the data, as exporter.backend does) and passes.
# Recurrent cells with layout=1 (batch-major; ONNX Runtime 1.32 rejects it) run the layout-0 kernel between
# transposes; Dropout in training mode is the identity at ratio 0 (its other cases, a random mask, are refused);
# Scan's opset-8 form over a batch of one sequence runs as the opset-9 loop.
NODE_CASES_BEYOND_THE_OP_TABLE = {
    "recurrent layout=1": ["test_gru_batchwise", "test_lstm_batchwise", "test_simple_rnn_batchwise"],
    "dropout training ratio 0": ["test_training_dropout_zero_ratio", "test_training_dropout_zero_ratio_mask"],
    "scan opset 8": ["test_scan_sum"],  # the opset-8 form (a batch axis); traced models use opset 21
}


@pytest.mark.parametrize("feature", sorted(NODE_CASES_BEYOND_THE_OP_TABLE))
def test_features_beyond_the_op_table_pass(feature):
    names = NODE_CASES_BEYOND_THE_OP_TABLE[feature]
    cases = [c for c in _node_cases() if c.name in names]
    accepted = accept(cases)
    assert sorted(c.name for c, _, _ in accepted) == sorted(names)
    failures = _run_cases(accepted, prefix="ortless")
    assert not failures, "\n".join(failures)


def test_specialized_backend_runs_top_k_through_its_api():
    from onnx import TensorProto, helper

    import exporter.backend
    node = helper.make_node("TopK", ["x", "k"], ["v", "i"], axis=1, largest=0)
    x = np.array([[3, 1, 2, 5], [0, -1, 7, 7]], np.float32)
    values, indices = exporter.backend.run_node(node, [x, np.array([3], np.int64)])
    np.testing.assert_array_equal(values, [[1, 2, 3], [-1, 0, 7]])
    np.testing.assert_array_equal(indices, [[1, 2, 0], [1, 0, 2]])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4]),
                                            helper.make_tensor_value_info("k", TensorProto.INT64, [1])],
                              [helper.make_tensor_value_info("v", TensorProto.FLOAT, [2, "k"]),
                               helper.make_tensor_value_info("i", TensorProto.INT64, [2, "k"])])
    rep = exporter.backend.prepare(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)]))
    for k in (1, 4, 1):  # one compiled model per k, reused
        values, _ = rep.run({"x": x, "k": np.array([k], np.int64)})
        np.testing.assert_array_equal(values, np.sort(x, axis=1)[:, :k])
    assert len(rep.reps) == 2


def test_no_case_crashes_the_importer(rendered_cases):
    """Refusals are honest: every case either renders or is refused by an op's check(); an exception
    anywhere else is an InternalError (a bug), which must not hide among the refusals."""
    from exporter.errors import InternalError
    crashed = [f"{case.name}: {exc}" for case, exc in rendered_cases if isinstance(exc, InternalError)]
    assert not crashed, "\n".join(crashed)


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


def test_small_float_node_tests_pass():
    """float16 arithmetic (computed in float32, each op rounded once), bfloat16 and the four float8 types:
    every Cast/CastLike case between them and float/float16 (not float8e8m0) and the float16 attention cases
    are accepted and pass; Cast's saturate attribute is honoured."""
    import re
    wanted = re.compile(r"test_cast(like)?_(no_saturate_)?(FLOAT|FLOAT16|BFLOAT16|FLOAT8E\dM\dFN(UZ)?)_to_"
                        r"(FLOAT|FLOAT16|BFLOAT16|FLOAT8E\dM\dFN(UZ)?|FLOAT8E5M2)(_expanded)?$|"
                        r"test_cast(like)?_(no_saturate_)?\w*FLOAT8E5M2\w*|test_attention_4d\w*fp16\w*")
    cases = [c for c in _node_cases() if wanted.fullmatch(c.name) and "E8M0" not in c.name
             and "FLOAT4" not in c.name and "INT4" not in c.name and "INT2" not in c.name]
    accepted = accept(cases)
    assert len(cases) > 80 and sorted(c.name for c, _, _ in accepted) == sorted(c.name for c in cases)
    failures = _run_cases(accepted, prefix="smallfloat")
    assert not failures, "\n".join(failures)


def _all_matching_accepted_and_pass(pattern: str, at_least: int, prefix: str):
    """Every node case whose name fully matches `pattern` (at least `at_least` of them) is accepted and passes."""
    import re
    wanted = re.compile(pattern)
    cases = [c for c in _node_cases() if wanted.fullmatch(c.name)]
    accepted = accept(cases)
    assert len(cases) >= at_least and sorted(c.name for c, _, _ in accepted) == sorted(c.name for c in cases)
    failures = _run_cases(accepted, prefix=prefix)
    assert not failures, "\n".join(failures)


def test_bfloat16_arithmetic_node_tests_pass():
    """bfloat16 arithmetic (float32 per op, rounded per op; sums added in bfloat16 as ONNX's reference adds
    ml_dtypes arrays): every bf16 Attention (plain and expanded), Celu and Einsum case is accepted and passes."""
    _all_matching_accepted_and_pass(r"test_attention_\w*_bf16(_expanded)?|test_celu_bfloat16\w*|test_einsum_\w*_bfloat16",
                           15, "bf16")


def test_subbyte_node_tests_pass():
    """int4, uint4, int2, uint2, float4_e2m1fn and float8_e8m0fnu (storage types, one element per byte):
    every Cast/CastLike case to or from them, and every QuantizeLinear/DequantizeLinear case of them and of
    the float8 types (float16 scales too), and every QLinearMatMul case with float16 scales, is accepted and
    passes."""
    _all_matching_accepted_and_pass(r"test_cast(like)?_\w*(INT4|INT2|FLOAT4E2M1|E8M0)\w*|"
                           r"test_(de)?quantizelinear_(e4m3fn|e5m2|u?int4|u?int2|float4e2m1)\w*|"
                           r"test_qlinearmatmul_\w*float16", 96, "subbyte")


def test_cast_to_e8m0_honours_round_mode_and_saturate():
    """Cast to float8e8m0 with each round_mode, with and without saturate, as ONNX's reference computes it
    (the node tests cover only round_mode='up' with saturate)."""
    import ml_dtypes
    from onnx import TensorProto, helper
    from onnx.reference import ReferenceEvaluator

    from exporter.native.library import load
    modes = [(mode, sat) for mode in ("up", "down", "nearest") for sat in (1, 0)]
    nodes = [helper.make_node("Cast", ["x"], [f"y{k}"], to=TensorProto.FLOAT8E8M0, round_mode=mode, saturate=sat)
             for k, (mode, sat) in enumerate(modes)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None])],
                              [helper.make_tensor_value_info(f"y{k}", TensorProto.FLOAT8E8M0, [None])
                               for k in range(len(modes))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 25)])
    model.ir_version = 12
    x = np.array([0.0, 0.124, 0.25, 0.75, 1.5, 3.0, 2.0 ** 127 * 1.5, 2.0 ** 127, 3e38, np.inf, np.nan, 1e-40,
                  2.0 ** -126 * 1.75, 6.0, 5.0, 1.25], np.float32)
    want = ReferenceEvaluator(model).run(None, {"x": x})
    got = load(model, "e8m0")(x)
    for (mode, sat), g, w in zip(modes, got, want):
        assert g.dtype == ml_dtypes.float8_e8m0fnu
        np.testing.assert_array_equal(g.view(np.uint8), w.view(np.uint8), err_msg=f"round_mode={mode} saturate={sat}")


@pytest.mark.parametrize("name", ["int4", "uint2", "float4_e2m1fn", "float8_e8m0fnu"])
def test_storage_types_move_through_shape_ops(name):
    """Transpose, Concat, Gather, Reshape and Identity move the one-per-byte storage types, and a packed
    initializer of them (two or four to a byte in the file) is unpacked at export, as ONNX's reference reads it."""
    import warnings

    import ml_dtypes
    from onnx import helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    from exporter import dtypes
    from exporter.native.library import load
    dt, elem = getattr(ml_dtypes, name), dtypes.by_name(name).onnx
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (e8m0 has no 0)
        w = np.arange(6).reshape(2, 3).astype(np.float32).astype(dt)
        x = (np.arange(6).reshape(2, 3) % 3).astype(np.float32).astype(dt)
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[1, 0]),
             helper.make_node("Concat", ["t", "t"], ["c"], axis=0),
             helper.make_node("Gather", ["c", "idx"], ["g"], axis=0),
             helper.make_node("Reshape", ["g", "shape"], ["r"]),
             helper.make_node("Concat", ["r", "w"], ["y"], axis=0),
             helper.make_node("Identity", ["y"], ["z"])]
    inits = [numpy_helper.from_array(np.array([0, 4, 2], np.int64), "idx"),
             numpy_helper.from_array(np.array([-1, 3], np.int64), "shape"), numpy_helper.from_array(w, "w")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", elem, [2, 3])],
                              [helper.make_tensor_value_info("z", elem, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 25)])
    model.ir_version = 12
    want = ReferenceEvaluator(model).run(None, {"x": x})[0]
    got = load(model, f"move_{name}")(x)[0]
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))
