"""Whole-file SHA-256 and the webui's 10-digit short hash, computed lazily and once per file version."""
from __future__ import annotations

import hashlib
import os
import threading

_cache: dict[tuple[str, int, int], str] = {}
_lock = threading.Lock()


def _key(path: str) -> tuple[str, int, int]:
    st = os.stat(path)
    return os.path.abspath(path), st.st_size, st.st_mtime_ns


def cached_sha256(path: str) -> str | None:
    """The hash if this exact file version was hashed before; never reads the file."""
    try:
        return _cache.get(_key(path))
    except OSError:
        return None


def file_sha256(path: str) -> str:
    key = _key(path)
    with _lock:
        found = _cache.get(key)
    if found:
        return found
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    value = digest.hexdigest()
    with _lock:
        _cache[key] = value
    return value


def short_hash(path: str) -> str:
    return file_sha256(path)[:10]
