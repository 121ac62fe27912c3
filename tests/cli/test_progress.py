"""Progress: one line rewritten in place on a terminal, plain throttled lines otherwise; native builds
report the build tool's step counts."""
import io

import numpy as np

from exporter.progress import Progress


class FakeTTY(io.StringIO):
    columns = 60

    def isatty(self):
        return True


def test_tty_rewrites_one_line_and_ends_with_the_total_time():
    out = FakeTTY()
    with Progress("compiling m", total=3, stream=out) as p:
        p.advance("weights.S")
        p.advance("a_much_longer_file_name.cpp")
        p.update(3, None, "m")
    text = out.getvalue()
    assert "\n" not in text[:-1] and text.endswith("s\n")
    frames = text.split("\r")
    assert frames[1].startswith("[1/3] compiling m: weights.S (") and frames[3].startswith("[3/3] compiling m: m (")
    assert len(frames[3]) == len(frames[2])  # the shorter line blanks the rest of the longer one
    assert all(len(f) <= FakeTTY.columns for f in frames)
    assert frames[-1].startswith("compiling m: done in ")


def test_plain_lines_are_throttled_and_quick_work_prints_nothing():
    quiet = io.StringIO()
    with Progress("checking", total=50, stream=quiet) as p:
        for _ in range(50):
            p.advance()
    assert quiet.getvalue() == ""
    every = io.StringIO()
    with Progress("checking", total=3, stream=every, interval=0) as p:
        for k in range(3):
            p.advance(f"set {k}")
    lines = every.getvalue().splitlines()
    assert [ln.split(" (")[0] for ln in lines[:3]] == ["[1/3] checking: set 0", "[2/3] checking: set 1",
                                                       "[3/3] checking: set 2"]
    assert lines[3].startswith("checking: done in ") and "\r" not in every.getvalue()


def test_failed_work_does_not_claim_done():
    out = io.StringIO()
    try:
        with Progress("compiling", total=2, stream=out, interval=0) as p:
            p.advance("a")
            raise RuntimeError
    except RuntimeError:
        pass
    assert "done" not in out.getvalue()


def test_native_build_shows_the_tool_steps(tmp_path, monkeypatch, capfd):
    import exporter
    monkeypatch.setenv("EXPORTER_CACHE_DIR", str(tmp_path / "cache"))  # a real build, not a cache hit
    monkeypatch.setattr(Progress, "__init__", _instant(Progress.__init__))
    exporter.export(lambda x: x + 1, (np.ones(3, np.float32),), to="exe", path=tmp_path / "p", name="prog",
                    progress=True)
    err = capfd.readouterr().err
    assert "configuring prog with CMake" in err and "compiling prog" in err and "threads.cpp" in err
    assert "] compiling prog" in err and "done in" in err


def _instant(init):
    def patched(self, *args, **kwargs):
        kwargs["interval"] = 0
        init(self, *args, **kwargs)
    return patched
