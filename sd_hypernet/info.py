"""What a hypernetwork file is — structure, family, widths, size, hashes — read once per file version.

The command line, the extra-networks page, the Library tab and the API all describe files; they share this.
A listing costs nothing it does not need: `cached_describe` reads a file never seen before from its header
(no weights materialised, no hash), and remembers the description in memory and in the store (section
`hypernet-descriptions`, keyed by absolute path, checked against size and mtime), so after a restart a
listing reads no file at all. The SHA-256 is computed only when something asks for it: `file_hash(path)`.
"""
from __future__ import annotations

import json
import os
import threading

from . import hashing, store
from .errors import HypernetError
from .formats import SAFETENSORS_EXTENSIONS, load_file, read_structure
from .network import CONTEXT_DIM_FAMILY, FAMILY_LABELS, family_of

STRUCTURE = ("layer_structure", "activation_func", "is_layer_norm", "activate_output", "dropout_structure")
SECTION = "hypernet-descriptions"
SCHEMA = 1  # bump when a description's content changes, so stored ones are made again

_cache: dict[str, tuple[tuple, dict | None, str | None]] = {}  # abspath -> (version, info, error)
_lock = threading.Lock()
header_reads = 0  # files this process described from disk (for tests and benchmarks)


def _facts(path: str, sizes, metadata: dict, parameters: int) -> dict:
    family = family_of(sizes, metadata)
    cross = [d for d in sizes if d in CONTEXT_DIM_FAMILY]
    info = {
        "file": path,
        "name": str(metadata.get("name") or "hypernet"),
        "format": "safetensors" if path.lower().endswith(SAFETENSORS_EXTENSIONS) else "pickle",
        "sizes": list(sizes),
        "cross_sizes": cross,
        "family": family,
        "family_label": FAMILY_LABELS.get(family) if family else None,
        "family_from": (f"width {cross[0]}" if cross else "metadata") if family else None,
        "parameters": parameters,
        "file_size": os.path.getsize(path),
    }
    info.update({key: metadata.get(key) for key in STRUCTURE})
    return info


def describe(path: str, net=None, with_hash: bool = True) -> dict:
    """The facts about one file from a full load (unless `net` is given); HypernetError if it cannot be read."""
    net = load_file(path) if net is None else net
    info = _facts(path, net.sizes, net.metadata, net.parameter_count())
    if with_hash:
        full = file_hash(path)
        info.update(sha256=full, short_hash=full[:10])
    info["metadata"] = net.metadata
    return info


def describe_header(path: str) -> dict:
    """`describe(path, with_hash=False)` without loading the weights: from the .safetensors header, or the
    .pt with its tensors memory-mapped. The same dict; HypernetError for every file a load refuses."""
    global header_reads
    with _lock:
        header_reads += 1
    found = read_structure(path)
    info = _facts(path, found.sizes, found.metadata, found.parameters)
    info["metadata"] = found.metadata
    return info


def file_hash(path: str) -> str:
    """The file's SHA-256: computed on first need, once per file version, shared and persisted (hashing.py)."""
    return hashing.file_sha256(path)


def plain_text(value) -> bool:
    """Whether a description survives the store unchanged (JSON data only, no tensors, no int keys)."""
    try:
        return json.loads(json.dumps(value)) == value
    except (TypeError, ValueError):
        return False


def _stored(key: str, version: tuple):
    try:
        entry = store.section(SECTION).get(key)
    except Exception:
        return None
    if not isinstance(entry, dict) or entry.get("schema") != SCHEMA or \
            (entry.get("size"), entry.get("mtime_ns")) != (version[1], version[0]):
        return None
    info, error = entry.get("info"), entry.get("error")
    if isinstance(error, str) and info is None:
        return version, None, error
    if isinstance(info, dict) and error is None:
        return version, info, None
    return None


def _store(key: str, hit: tuple) -> None:
    version, info, error = hit
    entry = {"schema": SCHEMA, "size": version[1], "mtime_ns": version[0], "info": info, "error": error}
    if not plain_text(entry):
        return  # e.g. metadata holding a tensor: described again next run, never altered
    try:
        store.section(SECTION)[key] = entry
    except Exception:
        pass


def cached_describe(path: str) -> dict:
    """The description of a file, read once per (size, mtime): from memory, else the store, else the header.
    `sha256` / `short_hash` are filled in when the hash is known already and None otherwise (never computed
    here: use `file_hash`). A failure is remembered too, and raised as HypernetError each time."""
    key = os.path.abspath(path)
    try:
        st = os.stat(path)
    except OSError as e:
        raise HypernetError(f"{os.path.basename(path)}: {e.strerror}") from None
    version = (st.st_mtime_ns, st.st_size)
    with _lock:
        hit = _cache.get(key)
    if hit is None or hit[0] != version:
        hit = _stored(key, version)
        if hit is None:
            try:
                hit = (version, describe_header(path), None)
            except HypernetError as e:
                hit = (version, None, str(e))
            _store(key, hit)
        with _lock:
            _cache[key] = hit
    if hit[2] is not None:
        raise HypernetError(hit[2])
    info = dict(hit[1])
    info["file"] = path
    full = hashing.cached_sha256(path)
    info["sha256"], info["short_hash"] = full, full[:10] if full else None
    info["metadata"] = hit[1]["metadata"]
    return info


def forget() -> None:
    """Drop what this process remembers (the store keeps its entries): a restart, for tests and benchmarks."""
    with _lock:
        _cache.clear()
