"""What a hypernetwork file is — structure, family, widths, size, hashes — read once per file version.

The command line, the extra-networks page, the Library tab and the API all describe files; they share this.
"""
from __future__ import annotations

import os
import threading

from .errors import HypernetError
from .formats import SAFETENSORS_EXTENSIONS, load_file
from .hashing import file_sha256
from .network import CONTEXT_DIM_FAMILY, FAMILY_LABELS

STRUCTURE = ("layer_structure", "activation_func", "is_layer_norm", "activate_output", "dropout_structure")

_cache: dict[str, tuple[tuple, dict | None, str | None]] = {}  # abspath -> (version, info, error)
_lock = threading.Lock()


def describe(path: str, net=None, with_hash: bool = True) -> dict:
    """The facts about one file (loads it unless `net` is given); HypernetError if it cannot be read."""
    net = load_file(path) if net is None else net
    family = net.family
    cross = [d for d in net.sizes if d in CONTEXT_DIM_FAMILY]
    info = {
        "file": path,
        "name": net.name,
        "format": "safetensors" if path.lower().endswith(SAFETENSORS_EXTENSIONS) else "pickle",
        "sizes": net.sizes,
        "cross_sizes": cross,
        "family": family,
        "family_label": FAMILY_LABELS.get(family) if family else None,
        "family_from": (f"width {cross[0]}" if cross else "metadata") if family else None,
        "parameters": net.parameter_count(),
        "file_size": os.path.getsize(path),
    }
    info.update({key: net.metadata.get(key) for key in STRUCTURE})
    if with_hash:
        full = file_sha256(path)
        info.update(sha256=full, short_hash=full[:10])
    info["metadata"] = net.metadata
    return info


def cached_describe(path: str) -> dict:
    """`describe` with hash, computed once per (size, mtime) of the file; a failure is remembered too."""
    key = os.path.abspath(path)
    try:
        st = os.stat(path)
    except OSError as e:
        raise HypernetError(f"{os.path.basename(path)}: {e.strerror}") from None
    version = (st.st_mtime_ns, st.st_size)
    with _lock:
        hit = _cache.get(key)
    if hit is None or hit[0] != version:
        try:
            hit = (version, describe(path), None)
        except HypernetError as e:
            hit = (version, None, str(e))
        with _lock:
            _cache[key] = hit
    if hit[2] is not None:
        raise HypernetError(hit[2])
    return hit[1]
