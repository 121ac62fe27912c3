"""A deterministic corpus of valid and mutated .npy files for the reader's fuzz test.

`corpus()` returns [(family, name, bytes)]. Families: valid files (every dtype, 0-size, scalar, versions
1/2/3), truncation at every offset, single-byte flips over headers, absurd and negative shapes,
header-length lies, hand-written header dicts (the cases of issues 10 and 12), version bytes, trailing
bytes. Everything is derived from fixed seeds, so a failure names a reproducible case.
"""
from __future__ import annotations

import io
import struct

import numpy as np

MAGIC = b"\x93NUMPY"


def npy(array, version=(1, 0)) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asarray(array), version=version, allow_pickle=False)
    return buf.getvalue()


def raw(header: str | bytes, data: bytes = b"", version=(1, 0), length: int | None = None, pad=True) -> bytes:
    """A file with the given header text, padded like NumPy pads it, and an optional lying length field."""
    text = header.encode("latin1") if isinstance(header, str) else header
    prefix = 10 if version[0] == 1 else 12
    if pad:
        text = text + b" " * ((64 - (prefix + len(text) + 1) % 64) % 64) + b"\n"
    n = len(text) if length is None else length
    field = struct.pack("<H", n & 0xFFFF) if version[0] == 1 else struct.pack("<I", n & 0xFFFFFFFF)
    return MAGIC + bytes(version) + field + text + data


def dict_header(descr="'<f4'", fortran="False", shape="(3, 512)") -> str:
    return "{'descr': %s, 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape)


def _valid():
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((2, 3)).astype(np.float32), rng.standard_normal((4,)), np.arange(6, dtype=np.int32),
              np.arange(5, dtype=np.int64).reshape(5, 1), rng.random((2, 2, 2)) > 0.5, np.uint8(7) * np.ones(3, np.uint8),
              np.float32(1.5), np.zeros((0, 512), np.float32), np.zeros((3, 0), np.int64),
              rng.standard_normal((1, 512)).astype(np.float32)]
    out = []
    for k, a in enumerate(arrays):
        out.append(("valid", f"valid-{k}", npy(a)))
    for version in ((2, 0), (3, 0)):
        out.append(("valid", f"valid-v{version[0]}", npy(arrays[0], version)))
    # spellings NumPy accepts for descr (issue 12: '=f4', 'f4', '<f' were refused)
    data = np.arange(6, dtype="<f4").tobytes()
    for descr in ("'<f4'", "'=f4'", "'f4'", "'<f'", "'|f4'", "'float32'", '"<f4"'):
        out.append(("valid", f"descr-{descr}", raw(dict_header(descr, shape="(2, 3)"), data)))
    out.append(("valid", "no-trailing-comma", raw("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", data)))
    out.append(("valid", "key-order", raw("{'shape': (2, 3), 'descr': '<f4', 'fortran_order': False}", data)))
    out.append(("valid", "shape-trailing-comma", raw(dict_header(shape="(2, 3,)"), data)))
    out.append(("valid", "unpadded", raw(dict_header(shape="(2, 3)"), data, pad=False)))
    return out


def _truncations(valid):
    out = []
    for name in ("valid-0", "valid-v2", "valid-6", "valid-7"):
        blob = next(b for _, n, b in valid if n == name)
        out += [("truncation", f"{name}-cut{k}", blob[:k]) for k in range(len(blob))]
    return out


def _flips(valid):
    out = []
    for name in ("valid-0", "valid-v3"):
        blob = next(b for _, n, b in valid if n == name)
        header_end = blob.index(b"\n") + 1
        for k in range(header_end):
            for mask in (0x01, 0x20, 0x80, 0xFF):
                mutated = bytearray(blob)
                mutated[k] ^= mask
                out.append(("byte-flip", f"{name}-flip{k}^{mask:02x}", bytes(mutated)))
    return out


ABSURD_SHAPES = ["(2**40, 512)", "(2**22, 512)", "(2**62, 512)", "(-1, 512)", "(2**31, 512)", "(2**32, 512)",
                 "(2**61, 512)", "(2**63-1, 512)", "(2**64, 512)", "(3, 99999999999999999999999999)", "(-3, 512)",
                 "(2, 1, 28, -28)", "(2**63-1, 2**63-1)", "(2**32, 2**32, 0)", "(0, 2**63-1)", "(1,)*65",
                 "(2**33, 2**33)", "(512, 2**55)", "(4, 128)", "(4, 129)", "(0,)", "()", "(1, 1, 1, 1, 1, 1, 1024)"]


def _absurd_shapes():
    out = []
    data = b"\0" * 4096
    for text in ABSURD_SHAPES:
        shape = text
        if "**" in text or "*65" in text:  # written out as NumPy would print the tuple
            try:
                shape = repr(eval(text))  # noqa: S307 (fixed literals above)
            except Exception:  # noqa: BLE001
                pass
        for descr in ("'<f4'", "'<f8'", "'|b1'"):
            out.append(("absurd-shape", f"shape{text}-{descr}", raw(dict_header(descr, shape=shape), data)))
            out.append(("absurd-shape", f"shape{text}-{descr}-v2", raw(dict_header(descr, shape=shape), data, (2, 0))))
    return out


def _length_lies(valid):
    out = []
    header = dict_header(shape="(2, 3)")
    data = np.arange(6, dtype="<f4").tobytes()
    true_len = len(raw(header, version=(1, 0))) - 10
    for version in ((1, 0), (2, 0), (3, 0)):
        for n in (0, 1, 10, true_len - 1, true_len + 1, true_len + 24, 0xFFFF, 10001, 2**31, 2**31 + 7, 2**32 - 1):
            out.append(("length-lie", f"v{version[0]}-len{n}", raw(header, data, version, length=n)))
    return out


HEADERS = {
    "descr-twice": "{'descr': '<f4', 'descr': '<f8', 'fortran_order': False, 'shape': (3, 512), }",
    "shape-no-comma": dict_header(shape="(3 512)"),
    "shape-double-comma": dict_header(shape="(3,,512)"),
    "shape-string": dict_header(shape="(3, '512')"),
    "shape-list": dict_header(shape="[3, 512]"),
    "shape-float": dict_header(shape="(3.0, 512)"),
    "shape-int-not-tuple": dict_header(shape="(3)"),
    "shape-nested": dict_header(shape="((3), 512)"),
    "shape-leading-zero": dict_header(shape="(03, 512)"),
    "shape-underscore": dict_header(shape="(1_0, 512)"),
    "shape-space-in-number": dict_header(shape="(1 0, 512)"),
    "fortran": dict_header(fortran="True"),
    "fortran-int": dict_header(fortran="0"),
    "fortran-lower": dict_header(fortran="false"),
    "big-endian": dict_header("'>f4'"),
    "object": dict_header("'|O'"),
    "float16": dict_header("'<f2'"),
    "complex": dict_header("'<c8'"),
    "structured": dict_header("[('a', '<f4')]"),
    "descr-not-string": dict_header("4"),
    "descr-padded": dict_header("'<f4 '"),
    "descr-escape": dict_header("'<f\\x34'"),
    "descr-unterminated": "{'descr': '<f4, 'fortran_order': False, 'shape': (3, 512), }",
    "extra-key": "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 512), 'x': 1, }",
    "missing-shape": "{'descr': '<f4', 'fortran_order': False, }",
    "missing-descr": "{'fortran_order': False, 'shape': (3, 512), }",
    "not-a-dict": "['descr', '<f4']",
    "empty": "",
    "empty-dict": "{}",
    "two-dicts": dict_header() + dict_header(),
    "text-after": dict_header() + " x",
    "unclosed": "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 512)",
    "no-colon": "{'descr' '<f4', 'fortran_order': False, 'shape': (3, 512), }",
    "double-quoted-keys": '{"descr": "<f4", "fortran_order": False, "shape": (3, 512), }',
    "nul-byte": "{'descr': '<f4', 'fortran_order': False,\0 'shape': (3, 512), }",
    "comma-first": "{, 'descr': '<f4', 'fortran_order': False, 'shape': (3, 512)}",
    "tabs": "{'descr':\t'<f4',\t'fortran_order':\tFalse,\t'shape':\t(3,\t512)}",
    "negative-zero": dict_header(shape="(-0, 512)"),
    "plus": dict_header(shape="(+3, 512)"),
    "huge-rank": dict_header(shape="(" + "1, " * 200 + ")"),
    "latin1": "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 512), '\xe9': 1}",
}


def _headers():
    data = np.ones((3, 512), "<f4").tobytes()
    out = []
    for name, header in HEADERS.items():
        for version in ((1, 0), (2, 0)):
            out.append(("header-syntax", f"{name}-v{version[0]}", raw(header, data, version)))
    return out


def _versions():
    data = np.arange(6, dtype="<f4").tobytes()
    header = dict_header(shape="(2, 3)")
    out = []
    for version in ((0, 0), (1, 1), (4, 0), (255, 255), (1, 0), (2, 0), (3, 0), (0, 1), (2, 1)):
        out.append(("version", f"version-{version}", raw(header, data, version)))
    for magic in (b"\x93NUMPX", b"\x92NUMPY", b"NUMPY\x93", b"\0" * 6):
        out.append(("version", f"magic-{magic!r}", magic + raw(header, data)[6:]))
    return out


def _trailing(valid):
    out = []
    for name in ("valid-0", "valid-7", "valid-6"):
        blob = next(b for _, n, b in valid if n == name)
        for extra in (b"\0", b"x" * 7, b"\xff" * 4096, blob):
            out.append(("trailing-bytes", f"{name}+{len(extra)}", blob + extra))
    return out


def _random_mutations(valid, count=400):
    """Several random byte edits (set, insert, delete) in the header of a valid file."""
    rng = np.random.default_rng(12345)
    blob = next(b for _, n, b in valid if n == "valid-0")
    out = []
    for k in range(count):
        m = bytearray(blob)
        for _ in range(int(rng.integers(1, 4))):
            at = int(rng.integers(0, 128))
            op = int(rng.integers(0, 3))
            byte = int(rng.choice([ord(c) for c in "()',:{} -0123456789TF\n"] + [0, 255]))
            if op == 0:
                m[at] = byte
            elif op == 1:
                m.insert(at, byte)
            else:
                del m[at]
        out.append(("random-edit", f"random-{k}", bytes(m)))
    return out


def corpus():
    valid = _valid()
    return (valid + _truncations(valid) + _flips(valid) + _absurd_shapes() + _length_lies(valid) + _headers()
            + _versions() + _trailing(valid) + _random_mutations(valid))
