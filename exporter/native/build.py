"""Building generated projects with CMake.

Builds live in a cache (`$EXPORTER_CACHE_DIR`, default ~/.cache/exporter) keyed by the hash of every
generated file, so exporting the same model twice compiles once. The result is then copied where the
user asked, through a temporary file and a rename (no half-written executables).
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import onnx

from ..errors import BuildError
from ..progress import Progress
from .project import Project, render, write_files

BUILD_TYPE = "Release"


@dataclass
class Build:
    project: Project
    directory: str        # the generated project (with build/ inside)
    executable: str
    shared_library: str
    static_library: str
    seconds: float        # compile time of this call (0 when the cache had it)

    def summary(self) -> str:
        return self.project.summary()


class Locked:
    """An exclusive lock on `path` (a lock file) for the duration of a with-block."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        self.file = open(self.path, "w")
        fcntl.flock(self.file, fcntl.LOCK_EX)

    def __exit__(self, *exc):
        self.file.close()


def cache_root() -> str:
    root = os.environ.get("EXPORTER_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "exporter")
    os.makedirs(root, exist_ok=True)
    return root


def find_cmake() -> str:
    """System cmake, or the one the `cmake` PyPI package installs next to this Python."""
    candidates = [shutil.which("cmake"), os.path.join(os.path.dirname(sys.executable), "cmake")]
    try:
        import cmake  # PyPI package
        candidates.append(os.path.join(cmake.CMAKE_BIN_DIR, "cmake"))
    except ImportError:
        pass
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    raise BuildError("cmake was not found: install it (`pip install cmake` or your system's package) and retry")


def _generator() -> list[str]:
    ninja = shutil.which("ninja") or os.path.join(os.path.dirname(sys.executable), "ninja")
    return ["-G", "Ninja"] if os.path.isfile(ninja) and os.access(ninja, os.X_OK) else []


_STEP = re.compile(r"^\[\s*(\d+)/(\d+)\]\s*(.*)")     # ninja: [3/12] Building CXX object ...
_PERCENT = re.compile(r"^\[\s*(\d+)%\]\s*(.*)")          # make:  [ 45%] Building CXX object ...


def run_tool(cmd, cwd, what: str, progress=False) -> None:
    """Run a compiler or CMake; on failure raise BuildError with the tool's own error lines.
    With `progress` (True or a Progress), the tool's step counts are shown as they come."""
    bar = progress if isinstance(progress, Progress) else Progress(what, enabled=bool(progress))
    if bar is not progress:
        bar.update(0, None, "")
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            errors="replace")
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            step, percent = _STEP.match(line), _PERCENT.match(line)
            if step:
                bar.update(int(step[1]), int(step[2]), _short(step[3]))
            elif percent:
                bar.update(int(percent[1]), 100, _short(percent[2]))
    except BaseException:  # e.g. Ctrl-C: do not leave the tool running behind us
        proc.kill()
        proc.wait()
        bar.close(ok=False)
        raise
    returncode = proc.wait()
    if bar is not progress:
        bar.close(ok=returncode == 0)
    if returncode != 0:
        errors = [ln for ln in lines if "error" in ln.lower()]
        shown = "\n".join((errors or lines)[-25:])
        raise BuildError(f"{what} failed (exit {returncode}) in {cwd}:\n{shown}\n"
                         f"(full command: {' '.join(cmd)})")


def _short(step: str) -> str:
    """'Building CXX object CMakeFiles/m.dir/runtime/kernels.cpp.o' -> 'kernels.cpp'."""
    words = step.split()
    target = words[-1] if words else ""
    name = os.path.basename(target)
    return name[:-2] if name.endswith(".o") else name or step


def build(model: onnx.ModelProto, name: str = "model", *, jobs: int | None = None, progress: bool = False,
          portable: bool = False, example_dims: dict | None = None) -> Build:
    """Generate and compile `model`; returns paths inside the build cache."""
    files, facts = render(model, name, example_dims)
    digest = hashlib.sha256()
    for rel in sorted(files):
        content = files[rel]
        digest.update(rel.encode() + b"\0" + (content if isinstance(content, bytes) else content.encode()) + b"\0")
    digest.update(f"portable={portable}".encode())
    key = digest.hexdigest()[:20]
    root = cache_root()
    directory = os.path.join(root, f"{facts.name}-{key}")
    build_dir = os.path.join(directory, "build")
    exe = os.path.join(build_dir, facts.name)
    shared = os.path.join(build_dir, f"lib{facts.name}.so")
    static = os.path.join(build_dir, f"lib{facts.name}.a")
    done = os.path.join(directory, ".built")
    facts.directory = directory
    with Locked(os.path.join(root, f"{facts.name}-{key}.lock")):  # concurrent exports build it once
        if os.path.exists(done) and all(os.path.exists(p) for p in (exe, shared, static)):
            return Build(facts, directory, exe, shared, static, 0.0)
        start = time.perf_counter()
        write_files(files, directory)
        cmake = find_cmake()
        jobs = jobs or os.cpu_count() or 2
        run_tool([cmake, "-S", directory, "-B", build_dir, f"-DCMAKE_BUILD_TYPE={BUILD_TYPE}",
              f"-DEXPORTER_NATIVE_ARCH={'OFF' if portable else 'ON'}"] + _generator(),
             directory, f"configuring {facts.name} with CMake", progress)
        run_tool([cmake, "--build", build_dir, "--parallel", str(jobs)], directory,
                 f"compiling {facts.name} ({facts.steps} generated steps)", progress)
        with open(done, "w") as f:
            f.write("ok\n")
        return Build(facts, directory, exe, shared, static, time.perf_counter() - start)


def install_file(src: str, dst: str) -> None:
    """Copy src to dst through a temporary file in dst's directory and a rename."""
    dst = os.path.abspath(dst)
    if os.path.isdir(dst):
        raise BuildError(f"{dst} is a directory; give a file path for the executable")
    parent = os.path.dirname(dst)
    os.makedirs(parent, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(dst)}.", dir=parent)
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
            shutil.copyfileobj(inp, out)
        os.chmod(tmp, 0o755)
        os.replace(tmp, dst)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def build_executable(model: onnx.ModelProto, path: str, name: str = "model", *, jobs: int | None = None,
                     progress: bool = False, portable: bool = False) -> Build:
    """Build `model` into a standalone program at `path`."""
    result = build(model, name, jobs=jobs, progress=progress, portable=portable)
    install_file(result.executable, path)
    return result
