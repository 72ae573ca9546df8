"""The card's metadata popup: ordered rows built when the popup asks (so a listing never hashes a file)."""
from __future__ import annotations

import os

from sd_hypernet import hashing, sidecars
from sd_hypernet.guard import usable_families
from sd_hypernet.network import CONTEXT_DIM_FAMILY

from sd_hypernet.hosts.ui.card_facts import FAMILY_LABELS, fmt_list, fmt_size, plain_text

# File metadata keys the popup shows in its own rows (the rest follow under "File metadata").
POPUP_SHOWN_KEYS = ("layer_structure", "activation_func", "activate_output", "is_layer_norm", "dropout_structure",
                    "step", "sd_checkpoint_name", "sd_checkpoint")


def popup_metadata(path: str, info: dict | None = None, error: str | None = None,
                   civitai: sidecars.CivitaiInfo | None = None) -> dict:
    """What the card's metadata popup shows, in this order: model family and what it can be used with, widths,
    layer structure, activation, layer norm, dropout, steps trained, base model, parameters, file size, format,
    hash; then civitai's record and the rest of the file's metadata. Values are text (the host's popup folds
    lists into collapsed rows). `info` is `sd_hypernet.info.cached_describe(path)`; the hash is computed here
    (this runs in the popup's request, not when cards are listed)."""
    out = {}
    if error:
        out["Cannot load"] = error
    meta = {}
    if info is not None:
        meta = info.get("metadata") or {}
        sizes = [int(d) for d in info["sizes"]]
        cross = [d for d in sizes if d in CONTEXT_DIM_FAMILY]
        self_widths = [d for d in sizes if d not in CONTEXT_DIM_FAMILY]
        family = info.get("family")
        source = f"cross-attention width {cross[0]}" if cross else "recorded base model"
        if family is None and civitai is not None and civitai.family:
            family, source = civitai.family, "civitai's base model"
        out["Model family"] = (f"{FAMILY_LABELS[family]} ({source})" if family
                               else "not recorded (no cross-attention width)")
        usable = usable_families(sizes, family)
        if not usable:
            out["Usable with"] = "no known model (no width of SD1, SD2 or SDXL attention)"
        elif cross:
            out["Usable with"] = " and ".join(FAMILY_LABELS[f] for f in usable) + " models"
        else:
            out["Usable with"] = (", ".join(FAMILY_LABELS[f] for f in usable) + " models (self-attention only: "
                                  "it changes the image's own features, not how the prompt is read)")
        widths = []
        if cross:
            widths.append("cross " + fmt_list(cross))
        if self_widths:
            widths.append("self " + fmt_list(self_widths))
        out["Widths"] = "; ".join(widths) or "none"
        out["Layer structure"] = fmt_list(meta.get("layer_structure") or []) or "not recorded"
        activation = str(meta.get("activation_func") or "linear")
        out["Activation"] = activation + ("; output activated too" if meta.get("activate_output") else "")
        out["Layer norm"] = "yes" if meta.get("is_layer_norm") else "no"
        dropout = [float(p) for p in (meta.get("dropout_structure") or [])]
        out["Dropout"] = fmt_list(dropout) if any(dropout) else "none"
        out["Steps trained"] = f"{int(meta.get('step') or 0):,}"
        base, base_hash = str(meta.get("sd_checkpoint_name") or ""), str(meta.get("sd_checkpoint") or "")
        if base:
            out["Base model"] = base + (f" [{base_hash}]" if base_hash else "")
        elif civitai is not None and civitai.base_model:
            out["Base model"] = f"{civitai.base_model} (from civitai)"
        else:
            out["Base model"] = "not recorded"
        out["Parameters"] = f"{int(info['parameters']):,}"
    try:
        out["File size"] = fmt_size(os.path.getsize(path))
    except OSError:
        pass
    ext = os.path.splitext(path)[1].lstrip(".").lower()
    out["Format"] = ext if ext == "safetensors" else f"{ext} (pickle, read weights-only)"
    try:
        sha256 = hashing.file_sha256(path)
        out["Hash"] = sha256[:10]
        out["SHA-256"] = sha256
    except OSError as e:
        out["Hash"] = f"unreadable: {e.strerror}"
    if civitai is not None:
        record = {"model": civitai.model_name, "version": civitai.version_name, "base model": civitai.base_model,
                  "trained words": civitai.activation_text, "description": civitai.description}
        if civitai.model_id:
            record["page"] = f"https://civitai.com/models/{civitai.model_id}" + (
                f"?modelVersionId={civitai.version_id}" if civitai.version_id else "")
        record = {k: v for k, v in record.items() if v}
        if record:
            out["Civitai"] = record
    rest = {str(k): plain_text(v) for k, v in meta.items() if k not in POPUP_SHOWN_KEYS and v not in (None, "", [])}
    if rest:
        out["File metadata"] = rest
    return out


class PopupMetadata(dict):
    """`page.metadata` (name → metadata; the host's metadata route calls `.get(name)`): answers with
    `popup_metadata`, built when the popup asks, so listing the cards never hashes a file."""

    def __init__(self, page, data=()):
        super().__init__(data)
        self.page = page

    def get(self, name, default=None):
        if not dict.__contains__(self, name):
            return default
        try:
            return self.page.popup(name)
        except Exception as e:  # the popup must open whatever happens
            return {"Cannot load": f"{type(e).__name__}: {e}"}
