"""Shared test helpers: tolerances by dtype and output comparison."""
from __future__ import annotations

import zlib

import numpy as np
import onnxruntime as ort

TOLERANCE = {np.dtype(np.float32): (2e-5, 2e-5), np.dtype(np.float64): (1e-10, 1e-10)}


def seed_of(name: str) -> int:
    return zlib.crc32(name.encode())


def as_tuple(result):
    return tuple(result) if isinstance(result, (tuple, list)) else (result,)


def assert_same(expected, actual, rtol=None, where=""):
    """Outputs agree in count, shape, dtype, NaN/Inf positions and value (within a dtype tolerance)."""
    expected, actual = as_tuple(expected), as_tuple(actual)
    assert len(expected) == len(actual), f"{where}: {len(actual)} outputs, expected {len(expected)}"
    for k, (e, a) in enumerate(zip(expected, actual)):
        e, a = np.asarray(e), np.asarray(a)
        assert a.shape == e.shape, f"{where} output {k}: shape {a.shape}, expected {e.shape}"
        assert a.dtype == e.dtype, f"{where} output {k}: dtype {a.dtype}, expected {e.dtype}"
        if e.dtype.kind == "f":
            r, t = TOLERANCE[e.dtype]
            np.testing.assert_allclose(a, e, rtol=rtol or r, atol=(rtol or r) * max(1.0, float(np.nanmax(
                np.abs(np.where(np.isfinite(e), e, 0)), initial=0))) if e.size else t, equal_nan=True,
                err_msg=f"{where} output {k}")
        else:
            np.testing.assert_array_equal(a, e, err_msg=f"{where} output {k}")


# ONNX Runtime (CPU) has no kernel for these valid ONNX (op, dtype) pairs; models using them are
# checked against NumPy through the native backend only. The test asserts ORT still refuses them, so
# this list shrinks when ONNX Runtime grows.
ORT_MISSING_KERNELS = {(op, "float64") for op in ("Tan", "Sinh", "Cosh", "Asin", "Acos", "Atan", "Asinh", "Acosh",
                                                  "Atanh", "Erf", "Gelu", "Conv", "AveragePool", "Mean",
                                                  "InstanceNormalization")}


def ort_missing_kernel(exc: Exception):
    """The (op, dtype) named by an ONNX Runtime NOT_IMPLEMENTED error, if it is a known gap."""
    import re
    match = re.search(r"implementation for (\w+)\(\d+\)", str(exc))
    return match.group(1) if match and "NOT_IMPLEMENTED" in str(exc) else None


def run_onnxruntime(model, inputs):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, dict(zip(names, inputs)))
