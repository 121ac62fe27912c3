"""C++ spelling shared by the native backend's code generation and its op rules: exact literals, safe
C identifiers and text safe inside C strings and comments."""
from __future__ import annotations

import math
import re

import numpy as np

from .. import dtypes


def ctype(dtype) -> str:
    return dtypes.ctype(dtype)


def literal(value, dtype) -> str:
    """An exact C++ literal of `dtype`."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return "true" if value else "false"
    if dtype.kind == "u":
        return f"UINT64_C({int(value)})" if dtype.itemsize == 8 else f"{int(value)}u"
    if dtype.kind == "i":
        return f"INT64_C({int(value)})" if dtype.itemsize == 8 else f"{int(value)}"
    v = float(value)
    if dtype not in (np.float32, np.float64):  # float16, bfloat16, float8: an exact float literal, converted
        return f"{dtypes.ctype(dtype)}({literal(np.float32(value), np.float32)})"
    ctype = "float" if dtype == np.float32 else "double"
    if math.isnan(v):
        return f"std::numeric_limits<{ctype}>::quiet_NaN()"
    if math.isinf(v):
        return f"{'-' if v < 0 else ''}std::numeric_limits<{ctype}>::infinity()"
    text = repr(float(np.float32(v))) if dtype == np.float32 else repr(v)
    if "e" not in text and "." not in text:
        text += ".0"
    return text + ("f" if dtype == np.float32 else "")


def cname(name: str) -> str:
    """A C identifier derived from an ONNX value name: ASCII letters, digits and '_' only, at most 48
    characters (callers make it unique). Nothing else of the name reaches code."""
    ident = re.sub(r"[^A-Za-z0-9_]", "_", str(name))[:48] or "v"
    return ident if re.match(r"[A-Za-z_]", ident) else f"v_{ident}"


def c_text(text: str) -> str:
    """Text safe inside a C string literal and inside a // or /* */ comment: printable ASCII stays, every
    other byte of its UTF-8 form (and quotes, backslashes, '??' trigraph starts) becomes an octal escape, so
    the C string holds exactly the original bytes and no character can end the literal or the comment."""
    out = []
    data = str(text).encode("utf-8", "surrogateescape")
    for k, byte in enumerate(data):
        ch = chr(byte)
        trigraph = ch == "?" and k + 1 < len(data) and data[k + 1] == ord("?")
        if 0x20 <= byte < 0x7f and ch not in '"\\' and not trigraph:
            out.append(ch)
        else:
            out.append(f"\\{byte:03o}")
    return "".join(out).replace("*/", "*\\057")
