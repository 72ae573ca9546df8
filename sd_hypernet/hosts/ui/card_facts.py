"""What a card knows and shows, without the page: number formatting, the user's metadata (preferred weight,
activation and negative text, in the keys Lora's editor uses) and the file facts of the edit dialog. The page,
the popup and the edit dialog all read these, so none of them imports another."""
from __future__ import annotations

import os

FAMILY_LABELS = {"sd1": "SD1", "sd2": "SD2", "sdxl": "SDXL"}
MULTIPLIER_MIN, MULTIPLIER_MAX, MULTIPLIER_STEP = -1.0, 2.0, 0.05

# User-metadata keys (the same spelling Lora's editor uses, so users find them familiar in the .json).
UM_PREFERRED_WEIGHT = "preferred weight"
# Written with every save from the edit dialog, so a preferred weight of 0 is not "none" (as it is in files
# without this key: Lora's editor and ours before it stored 0 for "none").
UM_USE_PREFERRED_WEIGHT = "use preferred weight"
UM_ACTIVATION_TEXT = "activation text"
UM_NEGATIVE_TEXT = "negative text"


def fmt_number(x) -> str:
    """Shortest text for a multiplier: 1 not 1.0, 0.35 not 0.35000000000000003."""
    text = f"{float(x):.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def fmt_list(values) -> str:
    return ", ".join(fmt_number(v) if isinstance(v, float) else str(v) for v in values)


def preferred_weight(user_metadata: dict) -> float | None:
    """The card's preferred weight, or None when unset: `use preferred weight` says which when the file has
    it (then 0 and negative weights are weights); without it 0 means unset, as for Lora. Empty or unreadable:
    unset."""
    um = user_metadata or {}
    try:
        value = float(um.get(UM_PREFERRED_WEIGHT))
    except (TypeError, ValueError):
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return None
    if UM_USE_PREFERRED_WEIGHT in um:
        return value if um.get(UM_USE_PREFERRED_WEIGHT) is True else None
    return value if value != 0 else None


def guard_family_text(sizes, family: str | None) -> str:
    """The family the guard applies a network to, as the Library shows it: a cross-attention width decides
    (768 → SD1); without one the recorded family; else every family with one of its self-attention widths."""
    from sd_hypernet.guard import usable_families
    from sd_hypernet.network import CONTEXT_DIM_FAMILY

    sizes = [int(d) for d in sizes]
    usable = usable_families(sizes, family)
    labels = ", ".join(FAMILY_LABELS[f] for f in usable)
    if any(d in CONTEXT_DIM_FAMILY for d in sizes):
        return labels
    if family:
        return f"{labels} (recorded)"
    if not usable:
        return "none (no SD attention width)"
    return f"any with {'/'.join(str(d) for d in sizes)}: {labels} (self-attention only)"


def activation_name(value) -> str:
    """A file's activation as words: legacy files record none (None), which is linear."""
    return "linear" if value in (None, "", "None") else str(value)


def fmt_size(size: int) -> str:
    if size >= 1 << 20:
        return f"{size / (1 << 20):.1f} MiB"
    return f"{size / 1024:.1f} KiB"


def plain_text(value) -> str:
    """A metadata value as one line of text (lists comma-joined): the host's popup folds lists and objects into
    collapsed rows."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return fmt_list(value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={plain_text(v)}" for k, v in value.items())
    if isinstance(value, float):
        return fmt_number(value)
    return str(value)


def activation_text(user_metadata: dict, suggested: str | None = None) -> str:
    """The card's activation text: the user's (even an emptied one, once saved), else civitai's trained words."""
    um = user_metadata or {}
    if UM_ACTIVATION_TEXT in um:
        return str(um.get(UM_ACTIVATION_TEXT) or "").strip()
    return str(suggested or "").strip()


def describe_network(info: dict) -> dict:
    """The file facts a card carries (item["metadata"]: the edit dialog's table), from `sd_hypernet.info.describe`;
    the popup shows `popup_metadata` instead."""
    meta = info["metadata"]
    dropout = [float(p) for p in (meta.get("dropout_structure") or [])]
    sha256 = info.get("sha256")
    out = {
        "name": str(meta.get("name") or ""),
        "format": os.path.splitext(info["file"])[1].lstrip(".").lower(),
        "model family": FAMILY_LABELS.get(info["family"], "unknown"),
        "sizes": list(info["sizes"]),
        "layer structure": fmt_list(meta.get("layer_structure") or []),
        "activation": str(meta.get("activation_func") or "linear"),
        "activate output": bool(meta.get("activate_output")),
        "layer norm": bool(meta.get("is_layer_norm")),
        "dropout": fmt_list(dropout) if any(dropout) else "none",
        "weight initialization": str(meta.get("weight_initialization") or ""),
        "steps trained": int(meta.get("step") or 0),
        "base checkpoint": str(meta.get("sd_checkpoint_name") or ""),
        "base checkpoint hash": str(meta.get("sd_checkpoint") or ""),
        "parameters": int(info["parameters"]),
        "hash": sha256[:10] if sha256 else "",
        "sha256": sha256 or "",
    }
    if meta.get("optional_info"):
        out["optional info"] = str(meta["optional_info"])
    return out
