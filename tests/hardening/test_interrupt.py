"""Interruption and concurrency of `exporter export --to exe` (issues 10.5, 12): SIGTERM or SIGINT during
the compile step ends the whole build (no orphaned cmake or compiler), prints one line, leaves nothing at
-o and no cache entry a later export would trust; concurrent exports into one cache all succeed with
identical programs."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.hardening.conftest import ROOT

MLP = os.path.join(ROOT, "examples", "mlp.py")


def _default_sigint():
    # as in a terminal: a suite started in the background (`./test.sh &`) has SIGINT ignored, which children
    # inherit, and Python then never raises KeyboardInterrupt
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(cache, out):
    return subprocess.Popen([sys.executable, "-m", "exporter", "export", MLP, "--to", "exe", "-o", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint,
                            env={**os.environ, "PYTHONPATH": ROOT, "EXPORTER_CACHE_DIR": str(cache)})


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd:
            found.append(f"{pid}: {cmd[:200]}")
    return found


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc to look for orphaned compilers")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_interrupted_build_leaves_nothing_behind(tmp_path, sig):
    cache, out = tmp_path / "cache", tmp_path / "out" / "mlp"
    proc = _start(cache, out)
    lines = []
    for line in proc.stderr:  # wait until the compile step has started, then a moment for the compilers
        lines.append(line)
        if "compiling" in line:
            break
    assert any("compiling" in ln for ln in lines), "".join(lines)
    time.sleep(1.0)
    proc.send_signal(sig)
    rest = proc.stderr.read()
    proc.wait(timeout=60)
    assert proc.returncode == 130, rest
    assert rest.strip().splitlines() == ["error: interrupted; nothing was written"], rest
    time.sleep(0.5)
    assert _processes_mentioning(str(cache)) == []
    assert not out.exists() and (not out.parent.exists() or os.listdir(out.parent) == [])
    entries = [e for e in os.listdir(cache) if e.startswith("mlp-") and not e.endswith(".lock")]
    assert all(not os.path.exists(cache / e / ".built") for e in entries)
    # the next export rebuilds and works
    again = _start(cache, out)
    stdout, stderr = again.communicate(timeout=600)
    assert again.returncode == 0, stderr
    np.save(tmp_path / "x.npy", np.ones((2, 512), np.float32))
    run = subprocess.run([str(out), "--out", str(tmp_path / "y"), str(tmp_path / "x.npy")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_concurrent_exports_into_one_cache(tmp_path):
    cache = tmp_path / "cache"
    procs = [_start(cache, tmp_path / f"out{k}" / "mlp") for k in range(3)]
    for p in procs:
        _, stderr = p.communicate(timeout=600)
        assert p.returncode == 0, stderr
    programs = [(tmp_path / f"out{k}" / "mlp").read_bytes() for k in range(3)]
    assert programs[0] == programs[1] == programs[2]
    assert len([e for e in os.listdir(cache) if e.startswith("mlp-") and not e.endswith(".lock")]) == 1
