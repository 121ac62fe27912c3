"""The suite builds into its own cache, not the user's: $EXPORTER_TEST_CACHE_DIR, default
~/.cache/exporter-tests, capped at $EXPORTER_CACHE_MAX_MB (default here 1024 MB). It persists between runs
so that an unchanged op table compiles once; `EXPORTER_CACHE_DIR=... exporter cache clear` empties it."""
import os

_user_cache = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "exporter")
# set at import, before any test (or the subprocesses they start) reads it
os.environ["EXPORTER_CACHE_DIR"] = os.environ.get("EXPORTER_TEST_CACHE_DIR") or _user_cache + "-tests"
os.environ.setdefault("EXPORTER_CACHE_MAX_MB", "1024")
