"""The family of the checkpoint selected in the options, read from its safetensors header without loading it.

Forge loads the model lazily (on the first generation), so until then no model says what it is; the selected
checkpoint does. SDXL checkpoints carry a second text encoder (`conditioner.embedders.1.…`); otherwise the UNet's
cross-attention key projection (`…attn2.to_k.weight`, shape [out, context width]) gives 768 (SD1) or 1024 (SD2).
A `.ckpt` (pickle) is not opened: None.
"""
from __future__ import annotations

import json
import struct

from sd_hypernet.file_memo import PerFileVersion
from sd_hypernet.network import CONTEXT_DIM_FAMILY

MAX_HEADER = 64 << 20  # a safetensors header larger than this is not a checkpoint we read

_families = PerFileVersion()


def family_from_header(header: dict) -> str | None:
    keys = [k for k in header if k != "__metadata__"]
    if any(k.startswith("conditioner.embedders.1.") for k in keys):
        return "sdxl"
    for key in keys:
        if key.endswith("attn2.to_k.weight"):
            shape = (header.get(key) or {}).get("shape") or []
            if len(shape) == 2:
                return CONTEXT_DIM_FAMILY.get(int(shape[1]))
    return None


def read_header(path: str) -> dict | None:
    try:
        with open(path, "rb") as f:
            raw = f.read(8)
            if len(raw) != 8:
                return None
            (size,) = struct.unpack("<Q", raw)
            if size <= 0 or size > MAX_HEADER:
                return None
            header = json.loads(f.read(size))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return header if isinstance(header, dict) else None


def checkpoint_file_family(path: str | None) -> str | None:
    """"sd1" | "sd2" | "sdxl" | None for a checkpoint file (safetensors only), once per file version."""
    if not path or not str(path).lower().endswith(".safetensors"):
        return None
    return _families.get(path, _read_family)


def _read_family(path: str) -> str | None:
    header = read_header(path)
    return family_from_header(header) if header is not None else None


def selected_checkpoint_path() -> str | None:
    """The file of the checkpoint chosen in the options (`sd_model_checkpoint`), as the host resolves the title."""
    try:
        from modules import sd_models, shared
    except ImportError:
        return None
    title = getattr(getattr(shared, "opts", None), "sd_model_checkpoint", None)
    if not title:
        return None
    info = getattr(sd_models, "checkpoint_aliases", {}).get(title)
    if info is None and hasattr(sd_models, "get_closet_checkpoint_match"):
        try:
            info = sd_models.get_closet_checkpoint_match(title)
        except Exception:
            info = None
    return getattr(info, "filename", None)


def selected_family() -> str | None:
    return checkpoint_file_family(selected_checkpoint_path())
