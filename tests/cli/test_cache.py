"""The build cache: `exporter cache info|clear`, the size cap with least-recently-used eviction, and the
suite's own cache directory."""
import fcntl
import importlib
import os
import time

import pytest

B = importlib.import_module("exporter.native.build")  # the module (exporter.native.build is also a function)
from tests.cli.test_export_onnx import exporter

MB = 1 << 20


def entry(root, name, megabytes, age_seconds, finished=True):
    path = root / name
    (path / "build").mkdir(parents=True)
    (path / "build" / "blob").write_bytes(b"\0" * int(megabytes * MB))
    if finished:
        (path / B.SIZE_FILE).write_text(str(int(megabytes * MB)))
    then = time.time() - age_seconds
    os.utime(path, (then, then))
    (root / f"{name}.lock").touch()
    return path


def test_suite_uses_its_own_cache():
    user = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "exporter")
    assert os.path.abspath(B.cache_root()) != os.path.abspath(user)


def test_evicts_least_recently_used_beyond_the_cap(tmp_path):
    old = entry(tmp_path, "lib-a-1", 1, 4000)
    older = entry(tmp_path, "lib-b-2", 1, 5000)
    newer = entry(tmp_path, "c-3", 1, 3000)
    recent = entry(tmp_path, "c-4", 1, 10)  # in use a moment ago: never evicted
    removed, freed = B.evict(int(2.5 * MB), root=str(tmp_path))
    assert (removed, freed) == (2, 2 * MB)
    assert not older.exists() and not old.exists() and newer.exists() and recent.exists()
    assert not (tmp_path / "lib-b-2.lock").exists()
    assert B.evict(0, root=str(tmp_path)) == (0, 0)  # 0: no cap


def test_an_entry_being_built_is_not_evicted(tmp_path):
    busy = entry(tmp_path, "c-1", 1, 5000, finished=False)  # no size file yet: measured on disk
    idle = entry(tmp_path, "c-2", 1, 4000)
    with open(tmp_path / "c-1.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert B.evict(MB // 2, root=str(tmp_path)) == (1, MB)
    assert busy.exists() and not idle.exists()


def test_cache_hit_marks_the_entry_used(tmp_path):
    path = entry(tmp_path, "c-1", 0, 5000)
    B.touch_entry(str(path))
    assert time.time() - path.stat().st_mtime < 60


def test_record_entry_measures_and_evicts(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPORTER_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("EXPORTER_CACHE_MAX_MB", "1.5")
    stale = entry(tmp_path, "c-old", 1, 5000)
    fresh = entry(tmp_path, "c-new", 1, 5000, finished=False)
    B.record_entry(str(fresh))
    assert int((fresh / B.SIZE_FILE).read_text()) == MB
    assert fresh.exists() and not stale.exists()


def test_bad_cap_is_a_user_error(monkeypatch):
    monkeypatch.setenv("EXPORTER_CACHE_MAX_MB", "lots")
    with pytest.raises(B.BuildError, match="EXPORTER_CACHE_MAX_MB='lots' is not a number"):
        B.cache_limit_bytes()


def test_cache_info_and_clear_commands(tmp_path):
    env = {"EXPORTER_CACHE_DIR": str(tmp_path / "cache"), "EXPORTER_CACHE_MAX_MB": "100"}
    (tmp_path / "cache").mkdir()
    entry(tmp_path / "cache", "mlp-0123", 2, 100)
    entry(tmp_path / "cache", "lib-mlp-4567", 1, 200)
    entry(tmp_path / "cache", "runtime-89ab", 0.5, 300)
    info = exporter("cache", "info", env=env)
    assert info.returncode == 0, info.stderr
    assert f"cache {tmp_path / 'cache'}: 3 entries, 3.5 MiB; cap 100.0 MiB" in info.stdout
    assert "program      1 entries      2.0 MiB" in info.stdout and "library      1 entries" in info.stdout
    cleared = exporter("cache", "clear", env=env)
    assert cleared.returncode == 0 and "removed 3 cache entries (3.5 MiB)" in cleared.stdout
    assert os.listdir(tmp_path / "cache") == []
    assert "0 entries, 0.0 MiB" in exporter("cache", "info", env=env).stdout


def test_old_entries_are_measured_once(tmp_path):
    path = entry(tmp_path, "c-legacy", 1, 5000, finished=False)  # from a version without size files
    before = path.stat().st_mtime
    [found] = B.cache_entries(str(tmp_path))
    assert found.bytes == MB and (path / B.SIZE_FILE).read_text() == str(MB)
    assert path.stat().st_mtime == before  # still its last use, not now
