"""Shared fixtures for the hardening tests: compiler probes and the MLP example's program."""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNTIME = os.path.join(ROOT, "exporter", "runtime_c")
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g"]
# leaks are not what these tests look for, and LSan needs ptrace, which containers often forbid
SAN_ENV = {"ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0:exitcode=99",
           "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1:exitcode=98"}


def cxx() -> str | None:
    for c in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if c and shutil.which(c):
            return shutil.which(c)
    return None


@functools.lru_cache(maxsize=None)
def sanitizers_work(compiler: str) -> bool:
    """Whether `compiler` can build and run an ASan+UBSan program here."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "probe")
        proc = subprocess.run([compiler, *SANITIZE, "-x", "c++", "-", "-o", exe], input="int main() { return 0; }\n",
                              text=True, capture_output=True)
        if proc.returncode != 0:
            return False
        return subprocess.run([exe], env={**os.environ, **SAN_ENV}, capture_output=True).returncode == 0


def exporter_cli(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "exporter", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": ROOT, **(env or {})})


@pytest.fixture(scope="session")
def mlp_program(tmp_path_factory):
    out = tmp_path_factory.mktemp("mlp") / "mlp"
    result = exporter_cli("export", os.path.join(ROOT, "examples", "mlp.py"), "--to", "exe", "-o", str(out))
    assert result.returncode == 0, result.stderr
    return str(out)
