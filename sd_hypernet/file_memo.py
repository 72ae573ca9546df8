"""Remember what was read from a file for as long as the file is unchanged (same size and mtime)."""
from __future__ import annotations

import os
import threading


class PerFileVersion:
    """`get(path, read)`: read(path) once per version of the file; None (not cached) when the file is missing."""

    def __init__(self):
        self._seen: dict[str, tuple[tuple, object]] = {}
        self._lock = threading.Lock()

    def get(self, path: str, read):
        try:
            st = os.stat(path)
        except OSError:
            return None
        version, key = (st.st_mtime_ns, st.st_size), os.path.abspath(path)
        with self._lock:
            hit = self._seen.get(key)
        if hit is not None and hit[0] == version:
            return hit[1]
        value = read(path)
        with self._lock:
            self._seen[key] = (version, value)
        return value
