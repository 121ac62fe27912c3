"""Building generated projects with CMake.

Builds live in a cache (`$EXPORTER_CACHE_DIR`, default ~/.cache/exporter) keyed by the hash of every
generated file, so exporting the same model twice compiles once. The result is then copied where the
user asked, through a temporary file and a rename (no half-written executables).
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass

import onnx

from ..errors import BuildError
from ..files import atomic_output
from ..progress import Progress
from .project import Project, kernel_sources, render, render_runtime, write_files
from .target import cmake_compiler

log = logging.getLogger("exporter")

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


# ---- cache management ------------------------------------------------------------------------------------
# Every build is a directory in cache_root() (`<name>-<hash>` for CMake builds, `lib-<name>-<hash>` for
# in-process libraries, `runtime-<hash>` for the kernels) with a sibling `<dir>.lock`. Each records its size
# in a `.size` file when it is finished; its mtime is its last use (touched on every cache hit). After each
# new build the least recently used entries are deleted until the cache fits in the cap.
DEFAULT_CACHE_LIMIT_MB = 2048
SIZE_FILE = ".size"
RECENT_SECONDS = 300  # entries used this recently are never evicted: another process may be about to load one


@dataclass
class CacheEntry:
    path: str
    bytes: int
    last_used: float


def cache_limit_bytes() -> int:
    """The cap from $EXPORTER_CACHE_MAX_MB (default 2048; 0 means no cap)."""
    raw = os.environ.get("EXPORTER_CACHE_MAX_MB", "").strip()
    try:
        mb = float(raw) if raw else DEFAULT_CACHE_LIMIT_MB
    except ValueError:
        raise BuildError(f"EXPORTER_CACHE_MAX_MB={raw!r} is not a number of megabytes") from None
    return max(0, int(mb * (1 << 20)))


def _tree_bytes(path: str) -> int:
    total = 0
    for base, dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(base, f)).st_size
            except OSError:
                pass
    return total


def touch_entry(directory: str) -> None:
    """Mark a cache entry as used now (its mtime orders eviction)."""
    try:
        os.utime(directory)
    except OSError:
        pass


def record_entry(directory: str) -> None:
    """A finished cache entry: store its size, mark it used, then evict others beyond the cap."""
    try:
        with open(os.path.join(directory, SIZE_FILE), "w") as f:
            f.write(str(_tree_bytes(directory)))
    except OSError:
        return
    touch_entry(directory)
    evict(cache_limit_bytes(), keep={os.path.abspath(directory)})


def cache_entries(root: str | None = None) -> list[CacheEntry]:
    """Every build directory in the cache, least recently used first."""
    root = root or cache_root()
    entries = []
    for item in os.scandir(root):
        if not item.is_dir(follow_symlinks=False):
            continue
        try:
            with open(os.path.join(item.path, SIZE_FILE)) as f:
                size = int(f.read().strip() or 0)
        except (OSError, ValueError):  # unfinished, or from a version that did not record sizes
            size = _tree_bytes(item.path)
        try:
            mtime = item.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if not os.path.exists(os.path.join(item.path, SIZE_FILE)) and time.time() - mtime > RECENT_SECONDS:
            try:  # an old entry: measured once, not on every build (keeps its mtime: its last use)
                with open(os.path.join(item.path, SIZE_FILE), "w") as f:
                    f.write(str(size))
                os.utime(item.path, (mtime, mtime))
            except OSError:
                pass
        entries.append(CacheEntry(item.path, size, mtime))
    return sorted(entries, key=lambda e: e.last_used)


def _remove_entry(entry: CacheEntry) -> bool:
    """Delete one entry unless a build holds its lock; False if it is busy."""
    lock = entry.path + ".lock"
    try:
        handle = open(lock, "a")
    except OSError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        shutil.rmtree(entry.path, ignore_errors=True)
        try:
            os.unlink(lock)
        except OSError:
            pass
    return not os.path.exists(entry.path)


def evict(limit: int, keep=(), root: str | None = None) -> tuple[int, int]:
    """Delete least recently used entries until the cache holds at most `limit` bytes (0: no cap).
    Returns (entries removed, bytes freed)."""
    if limit <= 0:
        return 0, 0
    entries = cache_entries(root)
    total = sum(e.bytes for e in entries)
    removed = freed = 0
    now = time.time()
    for entry in entries:
        if total <= limit:
            break
        if entry.path in keep or now - entry.last_used < RECENT_SECONDS:
            continue
        if _remove_entry(entry):
            total -= entry.bytes
            removed, freed = removed + 1, freed + entry.bytes
    return removed, freed


def cache_info(root: str | None = None) -> dict:
    root = root or cache_root()
    entries = cache_entries(root)
    kinds: dict = {}
    for e in entries:
        base = os.path.basename(e.path)
        kind = "runtime" if base.startswith("runtime-") else "library" if base.startswith("lib-") else "program"
        count, size = kinds.get(kind, (0, 0))
        kinds[kind] = (count + 1, size + e.bytes)
    return {"root": root, "entries": len(entries), "bytes": sum(e.bytes for e in entries),
            "limit": cache_limit_bytes(), "kinds": kinds,
            "oldest": entries[0].last_used if entries else None, "newest": entries[-1].last_used if entries else None}


def clear_cache(root: str | None = None) -> tuple[int, int, int]:
    """Delete every entry not being built right now. Returns (removed, bytes freed, busy entries kept)."""
    root = root or cache_root()
    removed = freed = busy = 0
    for entry in cache_entries(root):
        if _remove_entry(entry):
            removed, freed = removed + 1, freed + entry.bytes
        else:
            busy += 1
    for item in os.scandir(root):  # locks whose entry is gone
        if item.name.endswith(".lock") and not os.path.exists(item.path[:-len(".lock")]):
            try:
                os.unlink(item.path)
            except OSError:
                pass
    return removed, freed, busy


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
    With `progress` (True or a Progress), the tool's step counts are shown as they come.

    The tool runs in its own process group: if this process is interrupted (Ctrl-C, SIGTERM via the CLI,
    any exception), the whole group - cmake, the build tool and every compiler it started - is ended
    before the exception goes on, so no orphaned compiler keeps writing into the cache."""
    bar = progress if isinstance(progress, Progress) else Progress(what, enabled=bool(progress))
    if bar is not progress:
        bar.update(0, None, "")
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            errors="replace", start_new_session=True)
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            step, percent = _STEP.match(line), _PERCENT.match(line)
            if step:
                bar.update(int(step[1]), int(step[2]), _short(step[3]))
            elif percent:
                bar.update(int(percent[1]), 100, _short(percent[2]))
        returncode = proc.wait()
    except BaseException:
        _end_group(proc)
        bar.close(ok=False)
        raise
    if bar is not progress:
        bar.close(ok=returncode == 0)
    if returncode != 0:
        errors = [ln for ln in lines if "error" in ln.lower() or "undefined reference" in ln]
        shown = "\n".join((errors or lines)[-25:])
        raise BuildError(f"{what} failed (exit {returncode}) in {cwd}:\n{shown}\n"
                         f"(full command: {' '.join(cmd)})")


def _end_group(proc: subprocess.Popen) -> None:
    """SIGTERM to the tool's process group (make and ninja then delete half-written outputs), SIGKILL to
    whatever is left after a moment."""
    import signal
    import threading
    if threading.current_thread() is threading.main_thread():  # a second Ctrl-C must not cut this short
        saved = signal.signal(signal.SIGINT, signal.SIG_IGN), signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            _signal_group(proc)
        finally:
            signal.signal(signal.SIGINT, saved[0])
            signal.signal(signal.SIGTERM, saved[1])
    else:
        _signal_group(proc)


def _signal_group(proc: subprocess.Popen) -> None:
    import signal
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            # the leader is gone; members of the group may still be exiting
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue
        time.sleep(0.2)


def _short(step: str) -> str:
    """'Building CXX object CMakeFiles/m.dir/runtime/gemm.cpp.o' -> 'gemm.cpp'."""
    words = step.split()
    target = words[-1] if words else ""
    name = os.path.basename(target)
    return name[:-2] if name.endswith(".o") else name or step


def files_key(files: dict, salt: str = "", skip=lambda rel: False) -> str:
    """The build cache's key for generated `files` ({path: text or bytes}): a digest of every path and
    content (except those `skip` names) and `salt` (what else the build depends on)."""
    digest = hashlib.sha256(salt.encode() + b"\0")
    for rel in sorted(files):
        if skip(rel):
            continue
        content = files[rel]
        digest.update(rel.encode() + b"\0" + (content if isinstance(content, bytes) else content.encode()) + b"\0")
    return digest.hexdigest()[:20]


def _compiler_key() -> str:
    """What decides which C++ compiler CMake picks (target.cmake_compiler) and its version."""
    cxx = cmake_compiler()
    try:
        version = subprocess.run([cxx.split()[0], "--version"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                 text=True, timeout=30).stdout.splitlines()[:1] if cxx else []
    except (OSError, subprocess.SubprocessError):
        version = []
    return f"{cxx} {' '.join(version)} {os.environ.get('CXXFLAGS', '')}"


def prebuilt_runtime(target: str | None, jobs: int, progress=False, sources: tuple | None = None) -> list[str]:
    """The object files of the runtime's `sources` (default: every kernel source) for `target`, compiled once per
    runtime version, compiler and target into the cache (`runtime-cmake-<hash>`) with the exported projects' own
    CMake settings: each program exporter builds then compiles only its model (the kernels took ~85% of a ResNet's
    compile time). Each source is compiled when a model first needs it (a ResNet needs 6 of the 14)."""
    files = render_runtime(target)
    sources = tuple(sources) if sources is not None else kernel_sources()
    key = files_key(files, f"{_compiler_key()} {BUILD_TYPE} {' '.join(_generator())}")
    root = cache_root()
    directory = os.path.join(root, f"runtime-cmake-{key}")
    build_dir = os.path.join(directory, "build")
    listing = os.path.join(build_dir, "objects.txt")
    configured = os.path.join(directory, ".configured")

    def built(source: str) -> str:  # the marker that this source's object file is whole
        return os.path.join(directory, f".built-{source}")

    with Locked(directory + ".lock"):
        if not (os.path.exists(configured) and os.path.exists(listing)):
            shutil.rmtree(build_dir, ignore_errors=True)
            write_files(files, directory)
            cmake = find_cmake()
            run_tool([cmake, "-S", directory, "-B", build_dir, f"-DCMAKE_BUILD_TYPE={BUILD_TYPE}"] + _generator(),
                     directory, "configuring the runtime kernels with CMake", progress)
            _mark(configured)
        with open(listing) as f:
            objects = dict(line.split(" ", 1) for line in f.read().splitlines() if line)
        missing = [s for s in sources if not (os.path.exists(built(s)) and os.path.exists(objects[s]))]
        if missing:
            # an object without its marker is from an interrupted build (perhaps half-written, with a fresh time)
            for s in missing:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(objects[s])
            run_tool([find_cmake(), "--build", build_dir, "--parallel", str(jobs), "--target",
                      *[f"exporter_rt_{s[:-4]}" for s in missing]],
                     directory, "compiling the runtime kernels", progress)
            for s in missing:
                _mark(built(s))
            record_entry(directory)
        else:
            touch_entry(directory)
        return [objects[s] for s in sources]


def _mark(path: str) -> None:
    """Write the marker file `path` (atomically: a marker exists only once what it vouches for is complete)."""
    with open(path + ".tmp", "w") as f:
        f.write("ok\n")
    os.replace(path + ".tmp", path)


def build(model: onnx.ModelProto, name: str = "model", *, jobs: int | None = None, progress: bool = False,
          target: str | None = None, example_dims: dict | None = None, dump: bool = False) -> Build:
    """Generate and compile `model` for `target` (exporter.native.target; default: this machine's CPU);
    returns paths inside the build cache. `dump`: a debug build whose program, run with
    EXPORTER_DUMP_DIR=DIR, writes every step's values to DIR (see Project.dumps)."""
    files, facts = render(model, name, example_dims, target=target)
    key = files_key(files, "dump" if dump else "")
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
            touch_entry(directory)
            return Build(facts, directory, exe, shared, static, 0.0)
        start = time.perf_counter()
        # no .built marker: any build/ here is from an interrupted build, whose object files may be
        # half-written with fresh timestamps; start it over rather than trust them
        shutil.rmtree(build_dir, ignore_errors=True)
        write_files(files, directory)
        cmake = find_cmake()
        jobs = jobs or os.cpu_count() or 2
        for sources in (facts.kernels, kernel_sources()):
            *kernels, npy = prebuilt_runtime(target, jobs, progress, sources + ("npy.cpp",))
            run_tool([cmake, "-S", directory, "-B", build_dir, f"-DCMAKE_BUILD_TYPE={BUILD_TYPE}",
                      f"-DEXPORTER_DUMP={'ON' if dump else 'OFF'}", f"-DEXPORTER_RUNTIME_OBJECTS={';'.join(kernels)}",
                      f"-DEXPORTER_RUNTIME_NPY={npy}"] + _generator(),
                     directory, f"configuring {facts.name} with CMake", progress)
            try:
                run_tool([cmake, "--build", build_dir, "--parallel", str(jobs)], directory,
                         f"compiling {facts.name} ({facts.steps} generated steps)", progress)
                break
            except BuildError as exc:
                # a kernel source project.kernels_used missed (a bug of ours): link against all of them instead
                if sources == kernel_sources() or "exporter_rt::" not in str(exc):
                    raise
                log.warning("exporter: %s needs runtime kernels beyond %s; linking all of them", facts.name,
                            ", ".join(sources))
        _mark(done)  # the entry is trusted only once this marker exists
        record_entry(directory)
        return Build(facts, directory, exe, shared, static, time.perf_counter() - start)


def install_file(src: str, dst: str) -> None:
    """Copy src to dst through a temporary file in dst's directory and a rename."""
    dst = os.path.abspath(dst)
    if os.path.isdir(dst):
        raise BuildError(f"{dst} is a directory; give a file path for the executable")
    with atomic_output(dst, executable=True) as out, open(src, "rb") as inp:
        shutil.copyfileobj(inp, out)


def build_executable(model: onnx.ModelProto, path: str, name: str = "model", *, jobs: int | None = None,
                     progress: bool = False, target: str | None = None) -> Build:
    """Build `model` into a standalone program at `path`."""
    result = build(model, name, jobs=jobs, progress=progress, target=target)
    install_file(result.executable, path)
    return result
