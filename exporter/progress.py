"""Progress for long work (native builds, `exporter check`): steps done / total and the elapsed time.

On a terminal it is one line rewritten in place (like pip and cmake); otherwise (logs, CI, pipes) each
step is a plain line, so nothing is lost and no control characters are written.

    with Progress("compiling mlp", total=4) as p:
        for f in files:
            compile(f)
            p.advance(f)          # [2/4] compiling mlp: gemm.cpp (3.1 s)
"""
from __future__ import annotations

import sys
import time


class Progress:
    """A progress line on `stream` (default stderr). `enabled=False` makes every method a no-op, so
    callers need no `if`. `update(done, total, detail)` sets the counts; `advance(detail)` adds one.

    >>> import io
    >>> out = io.StringIO()
    >>> with Progress("checking", total=2, stream=out, interval=0) as p:
    ...     p.advance("onnxruntime")
    ...     p.advance("native")
    >>> print(out.getvalue().replace("0.0 s", "T"), end="")
    [1/2] checking: onnxruntime (T)
    [2/2] checking: native (T)
    checking: done in T
    """

    def __init__(self, label: str, total: int | None = None, *, stream=None, enabled: bool = True,
                 tty: bool | None = None, interval: float = 1.0):
        self.label, self.total, self.done = label, total, 0
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.tty = tty if tty is not None else bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.perf_counter()
        self._width = 0  # length of the line on screen, to blank it when the next one is shorter
        # plain-line mode writes at most one line per `interval` seconds, so that work quicker than that
        # prints nothing and long work prints a line now and then (plus its last step and the total time)
        self.interval, self._last_line, self._printed = interval, 0.0, False

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        self.close(ok=exc_type is None)

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def update(self, done: int, total: int | None = None, detail: str = "") -> None:
        self.done = done
        if total is not None:
            self.total = total
        if not self.enabled:
            return
        count = f"[{done}/{self.total}] " if self.total else ""
        line = f"{count}{self.label}{': ' + detail if detail else ''} ({self.elapsed():.1f} s)"
        if self.tty:
            width = getattr(self.stream, "columns", None) or _columns()
            line = line[: max(20, width - 1)]
            self.stream.write("\r" + line + " " * max(0, self._width - len(line)))
            self._width = len(line)
        else:
            now = self.elapsed()
            last = self.total is not None and done >= self.total
            if now - self._last_line < self.interval and not (last and self._printed):
                return
            self._last_line, self._printed = now, True
            self.stream.write(line + "\n")
        self.stream.flush()

    def advance(self, detail: str = "") -> None:
        self.update(self.done + 1, None, detail)

    def close(self, ok: bool = True) -> None:
        if not self.enabled:
            return
        if self.tty:
            self.stream.write("\r" + " " * self._width + "\r")
        if ok and (self.tty or self._printed):
            self.stream.write(f"{self.label}: done in {self.elapsed():.1f} s\n")
        self.stream.flush()
        self.enabled = False


def _columns() -> int:
    import shutil
    return shutil.get_terminal_size((100, 20)).columns
