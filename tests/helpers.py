"""Shared test helpers: tolerances by dtype and output comparison."""
from __future__ import annotations

import zlib

import numpy as np
import onnxruntime as ort

from exporter import parity


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
        rtol_e, atol_e = parity.op_tolerances(e, rtol) if e.dtype.kind == "f" else (None, None)
        row = parity.compare(e, a, rtol_e, atol_e)
        if not row["ok"]:
            bad = ~np.isclose(a, e, rtol=rtol_e, atol=atol_e, equal_nan=True) if e.dtype.kind == "f" else a != e
            first = tuple(int(i) for i in np.argwhere(bad)[0]) if bad.any() else ()
            raise AssertionError(f"{where} output {k}: {parity.RULE}; max abs {row['max_abs']:.3g}, max rel "
                                 f"{row['max_rel']:.3g} (rtol {rtol_e}, atol {atol_e}); first at {first}: "
                                 f"{a[first] if first else a} vs {e[first] if first else e}")


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
