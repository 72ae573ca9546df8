"""Snapshot files: `<name>-<step>.<ext>` plus a `<file>.optim` sidecar holding what an exact resume needs.

The sidecar follows the webui's idea (optimizer name, the snapshot's short hash, optimizer state) and adds the
trainer's own state (random generators, data position, schedule). It is read weights-only.
"""
from __future__ import annotations

import copy
import os

import torch
from torch import serialization as torch_serialization

from ..errors import HypernetError
from ..formats import save_file
from ..hashing import short_hash

SIDECAR_SUFFIX = ".optim"


def snapshot_path(folder: str, name: str, step: int, ext: str = ".safetensors") -> str:
    return os.path.join(folder, f"{name}-{int(step)}{ext}")


def sidecar_path(path: str) -> str:
    return path + SIDECAR_SUFFIX


def _same_file(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    return os.path.realpath(a) == os.path.realpath(b)


def save_network(network, path: str, step: int, name: str, metadata: dict | None = None,
                 protect: str | None = None) -> str:
    """Write the network with `step`, `name` and `metadata` recorded, leaving `network.metadata` untouched.
    Refuses to write over `protect` (the source file unless overwriting was asked for)."""
    if _same_file(path, protect):
        raise HypernetError(f"{os.path.basename(path)}: refusing to overwrite the network training started from "
                            f"(set overwrite_source to allow it)")
    original = network.metadata
    meta = copy.deepcopy(original)
    meta.update(metadata or {})
    meta["step"] = int(step)
    meta["name"] = name
    network.metadata = meta
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        save_file(network, path)
    finally:
        network.metadata = original
    return path


def save_sidecar(path: str, optimizer_name: str, optimizer_state: dict, trainer_state: dict) -> str:
    """Write `<path>.optim` for the snapshot at `path` (which must already exist: its hash is recorded)."""
    data = {"optimizer_name": optimizer_name, "hash": short_hash(path),
            "optimizer_state_dict": optimizer_state, "trainer_state": trainer_state}
    side = sidecar_path(path)
    tmp = f"{side}.tmp-{os.getpid()}"
    try:
        torch.save(data, tmp)
        os.replace(tmp, side)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return side


def load_sidecar(path: str) -> dict | None:
    """The sidecar of the snapshot at `path`, or None when missing or written for another version of it."""
    side = sidecar_path(path)
    if not os.path.isfile(side):
        return None
    try:
        data = torch_serialization.load(side, map_location="cpu", weights_only=True)
    except Exception as e:
        raise HypernetError(f"{os.path.basename(side)}: cannot be read: {e}") from None
    if not isinstance(data, dict) or data.get("hash") != short_hash(path):
        return None
    return data
