"""scripts/setup.sh on a fresh copy: one line saying what it installs and nothing else of ours (no packaging
warnings, no editable-install notes), nothing at all on a second run; the installed package finds its
templates (incl. templates/ops)."""
import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.slow
def test_setup_prints_one_line_then_nothing(tmp_path):
    copy = tmp_path / "clone"
    copy.mkdir()
    for item in ("pyproject.toml", "README.md", "exporter", "scripts", "examples"):
        src = os.path.join(ROOT, item)
        (shutil.copytree(src, copy / item, ignore=shutil.ignore_patterns("__pycache__"))
         if os.path.isdir(src) else shutil.copy(src, copy / item))
    env = {**os.environ, "PYTHON": sys.executable}
    env.pop("PYTHONPATH", None)
    first = subprocess.run(["bash", "scripts/setup.sh"], cwd=copy, capture_output=True, text=True, env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    out = (first.stdout + first.stderr).splitlines()
    assert out[0].startswith("setup: installing exporter")
    # the only other lines allowed are pip's warnings about the machine's index configuration (a configured
    # find-links folder that does not exist), which no project metadata can change
    noise = [line for line in out[1:] if not re.match(r"WARNING: Location '.*' is ignored", line)]
    assert not noise, "\n".join(out)
    second = subprocess.run(["bash", "scripts/setup.sh"], cwd=copy, capture_output=True, text=True, env=env)
    assert second.returncode == 0 and second.stdout + second.stderr == ""
    probe = subprocess.run([str(copy / ".venv" / "bin" / "python"), "-c",
                            "from exporter.native.project import data_dir; print((data_dir('templates') / 'ops').is_dir())"],
                           cwd=tmp_path, capture_output=True, text=True)
    assert probe.stdout.strip() == "True", probe.stderr
