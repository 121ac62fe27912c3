"""The one table of element types: every fact about a dtype that more than one layer needs (NumPy, ONNX,
C++, .npy, the C API, ONNX Runtime, tolerances). Adding a dtype is a row here, a regenerated
`runtime_c/dtypes.inc` (`python -m exporter.dtypes`) and, where a layer really computes with it, that
layer's rule for it.

    >>> by_name("float32").ctype, by_name("float32").ort
    ('float', 'tensor(float)')
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import ml_dtypes  # noqa: F401 (registers bfloat16 with NumPy; ONNX depends on it and returns its arrays)
import numpy as np
from onnx import TensorProto


@dataclass(frozen=True)
class DType:
    name: str            # NumPy's name; also the name the C API and the .npy reader use
    onnx: int            # TensorProto.DataType
    ctype: str           # the C++ element type
    descr: str           # the .npy header's descr when the runtime writes it
    codes: tuple         # the type codes NumPy may write for it (after an optional byte-order character)
    kind: str            # "float", "int", "uint" or "bool"
    traced: bool         # model.py inputs, outputs and astype() may use it
    native_kernels: bool  # the compiled runtime kernels (GEMM, conv, pooling...) are instantiated for it
    eps: float = 0.0     # machine epsilon (floats): sets check's default tolerances
    compute: str = ""    # generated arithmetic widens to this dtype and rounds each op's result back to the row
    #                      (as NumPy and ONNX Runtime do for float16); "": computes in itself

    @property
    def np(self) -> np.dtype:
        return np.dtype(self.name)

    @property
    def ort(self) -> str:
        """ONNX Runtime's type string (InferenceSession.get_inputs()[k].type)."""
        return f"tensor({_ORT_NAMES.get(self.name, self.name)})"

    @property
    def is_float(self) -> bool:
        return self.kind == "float"


_ORT_NAMES = {"float32": "float", "float64": "double", "float8_e4m3fn": "float8e4m3fn", "float8_e4m3fnuz": "float8e4m3fnuz",
              "float8_e5m2": "float8e5m2", "float8_e5m2fnuz": "float8e5m2fnuz", "float4_e2m1fn": "float4e2m1",
              "float8_e8m0fnu": "float8e8m0"}

# Order matters only for the generated C++ table (the .npy reader tries them in order).
# 'l'/'L' are C long: 64 bits on the LP64 systems the generated programs build for.
TABLE = (
    DType("float32", TensorProto.FLOAT, "float", "<f4", ("f4", "f", "float32", "single"), "float", True, True,
          float(np.finfo(np.float32).eps)),
    DType("float64", TensorProto.DOUBLE, "double", "<f8", ("f8", "d", "float64", "double", "float"), "float", True,
          True, float(np.finfo(np.float64).eps)),
    DType("float16", TensorProto.FLOAT16, "_Float16", "<f2", ("f2", "e", "float16", "half"), "float", False, False,
          float(np.finfo(np.float16).eps), compute="float32"),
    # NumPy saves ml_dtypes' bfloat16 as raw 2-byte records ('<V2'): the .npy reader takes those as bfloat16.
    # Generated loops compute it in float32 and round each op's result, as ml_dtypes' ufuncs do; kernels
    # only where ONNX's reference rounds the same way (native/ops/__init__.py: BF16_WIDENED_KERNELS).
    DType("bfloat16", TensorProto.BFLOAT16, "exporter_rt::bfloat16", "<V2", ("V2", "bfloat16"), "float", False,
          False, float(ml_dtypes.finfo(ml_dtypes.bfloat16).eps), compute="float32"),
    # float8 (storage for Cast/CastLike and data movement; no arithmetic). NumPy saves them as '<V1' (E5M2 as
    # '<f1', which NumPy cannot read back): one descr for four types, so the .npy reader takes them by name only
    *(DType(name, onnx, f"exporter_rt::{name.replace('_', '')}", "<V1", (name,), "float", False, False,
            float(ml_dtypes.finfo(getattr(ml_dtypes, name)).eps))
      for name, onnx in (("float8_e4m3fn", TensorProto.FLOAT8E4M3FN), ("float8_e4m3fnuz", TensorProto.FLOAT8E4M3FNUZ),
                         ("float8_e5m2", TensorProto.FLOAT8E5M2), ("float8_e5m2fnuz", TensorProto.FLOAT8E5M2FNUZ))),
    # float4_e2m1fn and float8_e8m0fnu (storage: Cast/CastLike, Quantize/DequantizeLinear, data movement), one
    # code per byte as ml_dtypes holds them (ONNX files pack float4 two per byte: unpacked at export)
    DType("float4_e2m1fn", TensorProto.FLOAT4E2M1, "exporter_rt::float4e2m1fn", "<V1", ("float4_e2m1fn",), "float",
          False, False, float(ml_dtypes.finfo(ml_dtypes.float4_e2m1fn).eps)),
    DType("float8_e8m0fnu", TensorProto.FLOAT8E8M0, "exporter_rt::float8e8m0fnu", "<V1", ("float8_e8m0fnu",),
          "float", False, False, float(ml_dtypes.finfo(ml_dtypes.float8_e8m0fnu).eps)),
    DType("int32", TensorProto.INT32, "int32_t", "<i4", ("i4", "i", "int32", "intc"), "int", True, True),
    DType("int64", TensorProto.INT64, "int64_t", "<i8", ("i8", "q", "l", "int64", "int"), "int", True, True),
    DType("bool", TensorProto.BOOL, "bool", "|b1", ("b1", "?", "bool"), "bool", True, False),
    DType("uint8", TensorProto.UINT8, "uint8_t", "|u1", ("u1", "B", "uint8", "ubyte"), "uint", False, False),
    DType("int8", TensorProto.INT8, "int8_t", "|i1", ("i1", "b", "int8", "byte"), "int", False, False),
    DType("int16", TensorProto.INT16, "int16_t", "<i2", ("i2", "h", "int16", "short"), "int", False, False),
    DType("uint16", TensorProto.UINT16, "uint16_t", "<u2", ("u2", "H", "uint16", "ushort"), "uint", False, False),
    DType("uint32", TensorProto.UINT32, "uint32_t", "<u4", ("u4", "I", "uint32", "uintc"), "uint", False, False),
    DType("uint64", TensorProto.UINT64, "uint64_t", "<u8", ("u8", "Q", "L", "uint64", "uint"), "uint", False, False),
    # int4, uint4, int2, uint2 (storage like float4): one value per byte in its low bits, as ml_dtypes holds them
    *(DType(name, onnx, f"exporter_rt::{name}", "<V1", (name,), name.rstrip("24"), False, False)
      for name, onnx in (("int4", TensorProto.INT4), ("uint4", TensorProto.UINT4), ("int2", TensorProto.INT2),
                         ("uint2", TensorProto.UINT2))),
)
_BY_NAME = {d.name: d for d in TABLE}
_BY_ONNX = {d.onnx: d for d in TABLE}

TRACED = frozenset(d.np for d in TABLE if d.traced)   # model.py inputs/outputs and the tracer
NATIVE = frozenset(d.np for d in TABLE)                # the native backend's inputs, outputs and values
FLOATS = frozenset(d.np for d in TABLE if d.is_float)
KERNEL = frozenset(d.np for d in TABLE if d.native_kernels)  # what the compiled runtime kernels are built for
WIDENED = frozenset(d.np for d in TABLE if d.compute)        # stored narrow, computed wider by generated loops


def by_name(name) -> DType:
    """The row of a NumPy dtype (or its name); KeyError when the table has none."""
    return _BY_NAME[np.dtype(name).name]


def by_onnx(elem_type: int) -> DType | None:
    return _BY_ONNX.get(elem_type)


def listing(dtypes) -> str:
    """'float32, float64, int32, int64 and bool': the names of `dtypes` in table order, for messages."""
    names = [d.name for d in TABLE if d.np in dtypes]
    return ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else "".join(names)


def ctype(dtype) -> str:
    return by_name(dtype).ctype


# ---- the C++ side ----------------------------------------------------------------------------------
INC_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runtime_c", "dtypes.inc")


def render_cpp() -> str:
    """runtime_c/dtypes.inc: the .npy reader's table and the X-macros that instantiate the kernels."""
    def x_macro(name, rows):
        return f"#define {name}(X) " + " ".join(f"X({d.ctype})" for d in rows)

    lines = ["// Generated from exporter/dtypes.py by `python -m exporter.dtypes`; do not edit by hand",
             "// (tests/test_dtypes.py fails when this file and the table disagree).",
             "",
             "// The element types the compiled kernels are instantiated for, and the floating-point subset.",
             x_macro("EXPORTER_ALL_NUMERIC", [d for d in TABLE if d.native_kernels]),
             x_macro("EXPORTER_FLOATS", [d for d in TABLE if d.native_kernels and d.is_float]),
             "",
             "#ifdef EXPORTER_NPY_KINDS",
             "// name, bytes per element, descr written, the type codes read (NumPy's names and char codes)",
             "const Kind kKinds[] = {"]
    for d in TABLE:
        codes = ", ".join(f'"{c}"' for c in d.codes)
        lines.append(f'    {{"{d.name}", {d.np.itemsize}, "{d.descr}", {{{codes}, nullptr}}}},')
    lines += ["};", "#endif", ""]
    return "\n".join(lines)


if __name__ == "__main__":  # python -m exporter.dtypes [--check]
    text = render_cpp()
    current = open(INC_PATH).read() if os.path.exists(INC_PATH) else ""
    if "--check" in sys.argv[1:]:
        sys.exit(0 if current == text else f"{INC_PATH} is out of date: run python -m exporter.dtypes")
    if current != text:
        from .files import atomic_write_text
        atomic_write_text(INC_PATH, text)
    print(INC_PATH)
