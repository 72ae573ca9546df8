"""Whole-file SHA-256 and the webui's 10-digit short hash: computed when first needed, once per file version.

`file_sha256(path)` is THE way to get a hash. It is remembered in memory (by path, size and mtime) and in
the store's `hashes` section under the webui's own title for a hypernetwork, `hypernet/<file stem>`, as
`{"mtime": <os.path.getmtime>, "sha256": <hex>}` (plus `size` and `path`, which the webui ignores): inside
the webui or Forge that section is the host's `modules.cache.cache("hashes")`, so a hash either side
computed is the other's too. Two threads asking for the same file wait for one computation. A long hash
prints the webui's progress line, `Calculating sha256 for <path>: <hash>`.
"""
from __future__ import annotations

import hashlib
import os
import re
import sys
import threading

from . import store

SECTION = "hashes"                 # the webui's section for whole-file hashes (modules/hashes.py)
PROGRESS_MIN_BYTES = 8 << 20       # announce hashes of files at least this big, as the webui announces its own
progress_stream = None             # where the progress line goes (None: sys.stdout, as the webui prints it)

_cache: dict[tuple[str, int, int], str] = {}
_lock = threading.Lock()
_path_locks: dict[str, threading.Lock] = {}
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
computed = 0                       # whole-file hashes this process computed (for tests and benchmarks)


def title(path: str) -> str:
    """The webui's cache title for a hypernetwork file: `hypernet/<stem>`."""
    return "hypernet/" + os.path.splitext(os.path.basename(path))[0]


def _key(path: str) -> tuple[str, int, int]:
    st = os.stat(path)
    return os.path.abspath(path), st.st_size, st.st_mtime_ns


def _from_store(path: str, key: tuple[str, int, int]) -> str | None:
    """A persisted hash for exactly this file version, or None. Entries the webui wrote carry no size or path;
    they count when their mtime is this file's (the webui records the mtime it saw after hashing)."""
    try:
        entry = store.section(SECTION).get(title(path))
    except Exception:
        return None
    if not isinstance(entry, dict):
        return None
    value = entry.get("sha256")
    if not isinstance(value, str) or not _HEX64.match(value):
        return None
    abspath, size, _ = key
    try:
        if entry.get("mtime") != os.path.getmtime(path):
            return None
    except OSError:
        return None
    if entry.get("size", size) != size or entry.get("path", abspath) != abspath:
        return None
    return value


def _remember(path: str, key: tuple[str, int, int], value: str) -> None:
    with _lock:
        _cache[key] = value
    try:
        store.section(SECTION)[title(path)] = {"mtime": os.path.getmtime(path), "sha256": value,
                                               "size": key[1], "path": key[0]}
    except Exception as e:  # persisting is a bonus: the hash itself is right
        print(f"[hypernetworks] could not store the hash of {path}: {e}", file=sys.stderr)


def cached_sha256(path: str) -> str | None:
    """The hash if this exact file version was hashed before (here, in an earlier run, or by the webui);
    never reads the file."""
    try:
        key = _key(path)
    except OSError:
        return None
    with _lock:
        found = _cache.get(key)
    if found:
        return found
    found = _from_store(path, key)
    if found:
        with _lock:
            _cache[key] = found
    return found


def _compute(path: str) -> str:
    global computed
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    with _lock:
        computed += 1
    return digest.hexdigest()


def file_sha256(path: str) -> str:
    """The file's SHA-256 (hex), computed at most once per file version (OSError if it cannot be read)."""
    found = cached_sha256(path)
    if found:
        return found
    abspath = os.path.abspath(path)
    with _lock:
        path_lock = _path_locks.setdefault(abspath, threading.Lock())
    with path_lock:  # a second caller waits here, then finds the first one's result
        found = cached_sha256(path)
        if found:
            return found
        key = _key(path)
        stream = progress_stream or sys.stdout
        announce = key[1] >= PROGRESS_MIN_BYTES
        if announce:
            print(f"Calculating sha256 for {path}: ", end="", flush=True, file=stream)
        value = _compute(path)
        if announce:
            print(value, file=stream, flush=True)
        if _key(path) == key:  # changed while we read it: do not remember a hash of a mix
            _remember(path, key, value)
        return value


def short_hash(path: str) -> str:
    return file_sha256(path)[:10]


def forget() -> None:
    """Drop what this process remembers (the store keeps its entries): a restart, for tests and benchmarks."""
    with _lock:
        _cache.clear()
