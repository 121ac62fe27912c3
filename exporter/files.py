"""Writing files so that a reader (or a crash) never sees half of one: write a hidden temporary file in
the destination's directory, then rename it into place. Every single-file writer of exporter uses this."""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager


@contextmanager
def atomic_output(path: str, mode: str = "wb", executable: bool = False):
    """A file object for `path`'s new contents: they replace `path` only when the block completes; on any
    error (or Ctrl-C) the temporary file is removed and `path` is left as it was.

    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "a.txt")
    >>> with atomic_output(p, "w") as f:
    ...     _ = f.write("hello")
    >>> open(p).read()
    'hello'
    """
    path = os.path.abspath(path)
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=directory)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
        if executable:
            os.chmod(tmp, 0o755)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str, text: str) -> None:
    with atomic_output(path, "w") as f:
        f.write(text)
