"""Stand-in of modules/hashes.py: whole-file sha256 (no disk cache)."""
import hashlib
import os

from modules import shared

_cache = {}


def calculate_sha256(filename):
    h = hashlib.sha256()
    with open(filename, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_from_cache(filename, title, use_addnet_hash=False):
    entry = _cache.get(title)
    if entry is None or entry[0] != os.path.getmtime(filename):
        return None
    return entry[1]


def sha256(filename, title, use_addnet_hash=False):
    if shared.cmd_opts.no_hashing:
        return None
    value = sha256_from_cache(filename, title)
    if value is None:
        value = calculate_sha256(filename)
        _cache[title] = (os.path.getmtime(filename), value)
    return value
