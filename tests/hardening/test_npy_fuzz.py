"""Fuzzing the generated programs' .npy reader (issues 10 and 12).

A deterministic corpus (npy_corpus.py, > 2,000 files) goes through a small harness binary built from
runtime_c/npy.cpp (with ASan+UBSan when the compiler has them), in one process. NumPy is the oracle: a file
NumPy's reader refuses must be refused; a file it accepts must be read to the same dtype, shape and bytes
unless it is something the native programs deliberately do not take (listed in `unsupported`). A sample
also goes through a real generated program. With clang, a libFuzzer run on the same reader (bounded).
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import warnings

import numpy as np
import pytest

from exporter import dtypes
from tests.hardening.conftest import RUNTIME, SAN_ENV, SANITIZE, cxx, sanitizers_work
from tests.hardening.npy_corpus import corpus

HERE = os.path.dirname(os.path.abspath(__file__))
SUPPORTED = {np.dtype(d).name for d in dtypes.NATIVE}  # what the dtype table gives the programs


def fnv(data: bytes) -> int:
    h = 1469598103934665603
    for c in data:
        h = ((h ^ c) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def numpy_reads(blob: bytes):
    """np.load's verdict without letting NumPy allocate what the header claims: the array, or None."""
    from numpy.lib import _format_impl as fmt
    f = io.BytesIO(blob)
    try:
        version = fmt.read_magic(f)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            shape, fortran, dtype = fmt._read_array_header(f, version)
    except Exception:  # noqa: BLE001 (any refusal is a refusal)
        return None
    if any(d < 0 for d in shape):
        return None  # NumPy itself fails on these later or misreads them; never valid input
    count = int(np.prod(shape, dtype=object)) if shape else 1
    if count * dtype.itemsize > len(blob) - f.tell():
        return None
    try:
        with warnings.catch_warnings():  # Python 2 era headers: NumPy warns, then reads them
            warnings.simplefilter("ignore")
            return np.load(io.BytesIO(blob), allow_pickle=False)
    except Exception:  # noqa: BLE001
        return None


# Python literal syntax NumPy's ast.literal_eval takes but no NumPy ever writes: the reader refuses these
# on purpose (the grammar stays small); each must get an error, not a misread.
STRICTER = {f"{name}-v{v}" for name in ("shape-nested", "descr-escape", "negative-zero", "plus") for v in (1, 2)}


def unsupported(array) -> bool:
    """NumPy reads it, the native programs deliberately refuse it (with a reason)."""
    return (array.dtype.name not in SUPPORTED or (array.dtype.byteorder == ">" and array.dtype.itemsize > 1)
            or (array.flags.f_contiguous and not array.flags.c_contiguous and array.ndim > 1))


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    compiler = cxx()
    if compiler is None:
        pytest.skip("no C++ compiler")
    out = str(tmp_path_factory.mktemp("harness") / "npy_harness")
    flags = SANITIZE if sanitizers_work(compiler) else []
    proc = subprocess.run([compiler, "-std=c++17", "-O1", *flags, "-I", RUNTIME, os.path.join(HERE, "npy_harness.cpp"),
                           os.path.join(RUNTIME, "npy.cpp"), "-o", out], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return out


def test_npy_reader_fuzz_corpus(harness, tmp_path):
    cases = corpus()
    assert len(cases) >= 2000
    paths = []
    for k, (_, _, blob) in enumerate(cases):
        paths.append(str(tmp_path / f"{k}.npy"))
        with open(paths[-1], "wb") as f:
            f.write(blob)
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(paths) + "\n")
    proc = subprocess.run([harness, str(listing)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **SAN_ENV})
    assert proc.returncode == 0, f"harness crashed (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    assert "runtime error" not in proc.stderr and "Sanitizer" not in proc.stderr, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert len(lines) == len(cases), "the harness stopped early"
    problems = []
    for (family, name, blob), line in zip(cases, lines):
        expected = numpy_reads(blob)
        if line.startswith("MISMATCH"):
            problems.append(f"{family}/{name}: read() and parse() disagree: {line}")
        elif expected is None or unsupported(expected) or name in STRICTER:
            if not line.startswith("error "):
                problems.append(f"{family}/{name}: NumPy refuses it (or it is unsupported), the reader said {line}")
            elif len(line) > 400 or "\n" in line[6:]:
                problems.append(f"{family}/{name}: the error is not one short line: {line[:200]}")
        else:
            want = (f"ok {expected.dtype.name} {expected.ndim}" + "".join(f" {d}" for d in expected.shape)
                    + f" {expected.nbytes} {fnv(np.ascontiguousarray(expected).tobytes())}")
            if line != want:
                problems.append(f"{family}/{name}: NumPy reads {want}, the reader said {line}")
    assert not problems, f"{len(problems)} of {len(cases)} cases wrong:\n" + "\n".join(problems[:40])


# The cases of issue 12, each through the real program (MLP: x float32 [batch, 512]).
PROGRAM_CASES = ["shape(2**40, 512)-'<f4'", "shape(2**22, 512)-'<f4'", "shape(2**62, 512)-'<f4'",
                 "shape(-1, 512)-'<f4'", "shape(2**31, 512)-'<f4'", "shape(2**32, 512)-'<f4'",
                 "shape(2**61, 512)-'<f4'", "shape(2**63-1, 512)-'<f4'", "shape(2**64, 512)-'<f4'",
                 "shape(3, 99999999999999999999999999)-'<f4'", "shape(-3, 512)-'<f4'", "shape(2, 1, 28, -28)-'<f4'",
                 "shape(4, 128)-'<f4'", "shape(0,)-'<f4'", "shape(2**32, 2**32, 0)-'<f4'",
                 "descr-twice-v1", "shape-no-comma-v1", "shape-double-comma-v1", "shape-string-v1",
                 "version-(0, 0)", "version-(1, 1)", "version-(4, 0)", "version-(255, 255)", "v2-len2147483648",
                 "v2-len4294967295", "fortran-v1", "big-endian-v1", "object-v1", "valid-0", "valid-9", "valid-7",
                 "descr-'=f4'", "descr-'<f'"]


def test_npy_sample_through_the_real_program(mlp_program, tmp_path):
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "examples"))
    try:
        import mlp
    finally:
        sys.path.pop(0)
    by_name = {name: blob for _, name, blob in corpus()}
    # every 50th mutated case besides the named ones, so the sample covers every family
    names = PROGRAM_CASES + [n for k, n in enumerate(by_name) if k % 50 == 0]
    for k, name in enumerate(names):
        blob = by_name[name]
        path, out = tmp_path / "x.npy", tmp_path / f"out-{k}"
        path.write_bytes(blob)
        proc = subprocess.run([mlp_program, "--out", str(out), str(path)], capture_output=True, text=True, timeout=20)
        x = numpy_reads(blob)
        ok = x is not None and not unsupported(x) and x.dtype == np.float32 and x.ndim == 2 and x.shape[1] == 512
        if ok:
            assert proc.returncode == 0, f"{name}: {proc.stderr}"
            np.testing.assert_allclose(np.load(out / "output_0.npy"), mlp.model(x), rtol=1e-5, atol=1e-5)
        else:
            assert proc.returncode == 2, f"{name}: exit {proc.returncode}: {proc.stderr}"
            assert len(proc.stderr.strip().splitlines()) == 1 and "error:" in proc.stderr, f"{name}: {proc.stderr}"
            assert not out.exists() or os.listdir(out) == [], f"{name}: wrote {os.listdir(out)}"
        assert proc.stdout == "" or ok


def test_descr_given_twice_reads_as_numpy_does(harness, tmp_path):
    from tests.hardening.npy_corpus import HEADERS, raw
    blob = raw(HEADERS["descr-twice"], np.ones((3, 512), "<f8").tobytes())
    (tmp_path / "a.npy").write_bytes(blob)
    (tmp_path / "list").write_text(str(tmp_path / "a.npy") + "\n")
    line = subprocess.run([harness, str(tmp_path / "list")], capture_output=True, text=True).stdout
    assert line.startswith("ok float64 2 3 512 "), line  # the last 'descr' wins, as in a Python dict


@pytest.mark.skipif(not shutil.which("clang++"), reason="clang++ (libFuzzer) is not installed; the deterministic "
                    "corpus above covers the reader")
def test_npy_reader_libfuzzer(tmp_path):
    exe = str(tmp_path / "npy_fuzz")
    proc = subprocess.run(["clang++", "-std=c++17", "-g", "-O1", "-fsanitize=fuzzer,address,undefined",
                           "-I", RUNTIME, os.path.join(HERE, "npy_fuzz.cpp"), os.path.join(RUNTIME, "npy.cpp"),
                           "-o", exe], capture_output=True, text=True)
    if proc.returncode != 0 and "fuzzer" in proc.stderr:
        pytest.skip(f"clang++ cannot link libFuzzer here: {proc.stderr.strip().splitlines()[-1]}")
    assert proc.returncode == 0, proc.stderr
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for k, (family, _, blob) in enumerate(corpus()):
        if family in ("valid", "header-syntax", "length-lie", "absurd-shape"):
            (seeds / f"{k}.npy").write_bytes(blob)
    proc = subprocess.run([exe, "-runs=1000000", "-max_total_time=20", "-max_len=2048", "-rss_limit_mb=1024",
                           str(seeds)], capture_output=True, text=True, timeout=120, env={**os.environ, **SAN_ENV})
    assert proc.returncode == 0, proc.stderr[-4000:]
