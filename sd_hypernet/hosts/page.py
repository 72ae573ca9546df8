"""The "Hypernetworks" extra-networks page: one card per file the Library knows, with the file's own structure
as metadata, the user's preferred weight / activation text / negative text, a family filter and the
Multiplier slider row that javascript/hypernetworks.js drives.

Works on webui 1.10 and Forge v2 alike: both give the same `modules.ui_extra_networks` page API.
"""
from __future__ import annotations

import html
import json
import os

from modules import ui_extra_networks

from sd_hypernet import hashing, sidecars
from sd_hypernet.guard import usable_families
from sd_hypernet.hosts import common
from sd_hypernet.network import CONTEXT_DIM_FAMILY

TITLE = "Hypernetworks"
FAMILY_LABELS = {"sd1": "SD1", "sd2": "SD2", "sdxl": "SDXL"}
MULTIPLIER_MIN, MULTIPLIER_MAX, MULTIPLIER_STEP = -1.0, 2.0, 0.05

# User-metadata keys (the same spelling Lora's editor uses, so users find them familiar in the .json).
UM_PREFERRED_WEIGHT = "preferred weight"
UM_ACTIVATION_TEXT = "activation text"
UM_NEGATIVE_TEXT = "negative text"


def _fmt_number(x) -> str:
    """Shortest text for a multiplier: 1 not 1.0, 0.35 not 0.35000000000000003."""
    text = f"{float(x):.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _fmt_list(values) -> str:
    return ", ".join(_fmt_number(v) if isinstance(v, float) else str(v) for v in values)


def preferred_weight(user_metadata: dict) -> float | None:
    """The card's preferred weight, or None when unset (0, empty or unreadable mean unset, as for Lora)."""
    raw = (user_metadata or {}).get(UM_PREFERRED_WEIGHT)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value if value != 0 else None


def _fmt_size(size: int) -> str:
    if size >= 1 << 20:
        return f"{size / (1 << 20):.1f} MiB"
    return f"{size / 1024:.1f} KiB"


def _plain(value) -> str:
    """A metadata value as one line of text (lists comma-joined): the host's popup folds lists and objects into
    collapsed rows."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return _fmt_list(value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={_plain(v)}" for k, v in value.items())
    if isinstance(value, float):
        return _fmt_number(value)
    return str(value)


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
            widths.append("cross " + _fmt_list(cross))
        if self_widths:
            widths.append("self " + _fmt_list(self_widths))
        out["Widths"] = "; ".join(widths) or "none"
        out["Layer structure"] = _fmt_list(meta.get("layer_structure") or []) or "not recorded"
        activation = str(meta.get("activation_func") or "linear")
        out["Activation"] = activation + ("; output activated too" if meta.get("activate_output") else "")
        out["Layer norm"] = "yes" if meta.get("is_layer_norm") else "no"
        dropout = [float(p) for p in (meta.get("dropout_structure") or [])]
        out["Dropout"] = _fmt_list(dropout) if any(dropout) else "none"
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
        out["File size"] = _fmt_size(os.path.getsize(path))
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
    rest = {str(k): _plain(v) for k, v in meta.items() if k not in POPUP_SHOWN_KEYS and v not in (None, "", [])}
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
        "layer structure": _fmt_list(meta.get("layer_structure") or []),
        "activation": str(meta.get("activation_func") or "linear"),
        "activate output": bool(meta.get("activate_output")),
        "layer norm": bool(meta.get("is_layer_norm")),
        "dropout": _fmt_list(dropout) if any(dropout) else "none",
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


class HypernetworksPage(ui_extra_networks.ExtraNetworksPage):
    """HypernetworksPage(library, opt=None, model_family=None)

    library       a `sd_hypernet.library.Library`, or a zero-argument callable returning the current one
                  (e.g. `host.library`, which follows a changed --hypernetwork-dir).
    opt           callable (key, default) -> value for user options; defaults to the selected host's
                  `Host.opt`, else `shared.opts`.
    model_family  callable () -> "sd1" | "sd2" | "sdxl" | None for the loaded model; defaults to the selected
                  host's `Host.model_family`, else None (nothing hidden).
    """

    def __init__(self, library, opt=None, model_family=None):
        super().__init__(TITLE)
        self._library = library
        self._opt = opt
        self._model_family = model_family

    # ---- wiring ---------------------------------------------------------------------------------------------
    @property
    def library(self):
        lib = self._library
        return lib() if callable(lib) and not hasattr(lib, "items") else lib

    def opt(self, key, default=None):
        if self._opt is not None:
            return self._opt(key, default)
        try:
            return common.current().opt(key, default)
        except RuntimeError:
            from modules import shared
            return getattr(shared.opts, key, default)

    def current_family(self) -> str | None:
        if self._model_family is not None:
            return self._model_family()
        try:
            return common.current().model_family()
        except (RuntimeError, NotImplementedError):
            return None

    # ---- ExtraNetworksPage API ------------------------------------------------------------------------------
    def refresh(self):
        self.library.scan()

    def allowed_directories_for_previews(self):
        return [self.library.root]

    def _items_by_name(self) -> dict:
        lib = self.library
        if getattr(lib, "scans", 1) == 0:
            lib.scan()
        return {it.name: it for it in lib.items()}

    def list_items(self):
        for index, name in enumerate(self._items_by_name()):
            item = self.create_item(name, index)
            if item is not None:
                yield item

    def create_item(self, name, index=None, enable_filter=True):
        lib_item = self._items_by_name().get(name)
        if lib_item is None:
            return None
        path = lib_item.path
        info, family = self._describe(path)
        civitai = sidecars.read_civitai_info(path)
        if family is None and civitai is not None:
            family = civitai.family  # the file records none: civitai's base model
        if enable_filter and self._hidden_by_family(family):
            return None

        path_wo_ext = os.path.splitext(path)[0]
        sha256 = info.get("sha256") or None
        search_terms = [self.search_terms_from_path(path), lib_item.relpath]
        if sha256:
            search_terms.append(sha256[:10])
        if info.get("name") and info["name"] not in (name, lib_item.stem):
            search_terms.append(info["name"])

        item = {
            "name": name,
            "filename": path,
            "shorthash": sha256[:10] if sha256 else "",
            "preview": self.find_preview(path_wo_ext),
            "description": self.find_description(path_wo_ext) or (civitai.description if civitai else None),
            "search_terms": [t for t in dict.fromkeys(search_terms) if t],
            "local_preview": f"{path_wo_ext}.preview.{self.opt('samples_format', 'png')}",
            "metadata": info,
            "sort_keys": {"default": index if index is not None else 0, **self.get_sort_keys(path)},
            "sd_version": FAMILY_LABELS.get(family, "Unknown"),
            # Forge's card filter (sd / xl / flux) reads data-sort-sdversion from this
            "sd_version_str": f"SdVersion.{FAMILY_LABELS.get(family, 'Unknown')}",
            "civitai_description": civitai.description if civitai else "",
            "suggested_activation_text": civitai.activation_text if civitai else "",
        }
        self.read_user_metadata(item)
        self._add_click_handlers(item)
        return item

    def read_user_metadata(self, item, use_cache=True):
        super().read_user_metadata(item, use_cache=use_cache)
        if not item.get("description") and item.get("civitai_description"):
            item["description"] = item["civitai_description"]  # an empty saved description keeps civitai's

    def create_html(self, tabname, *, empty=False):
        html_text = self.multiplier_html(tabname) + super().create_html(tabname, empty=empty)
        self.metadata = PopupMetadata(self, self.metadata)
        return html_text

    def popup(self, name) -> dict:
        """The metadata popup of one card (see `popup_metadata`)."""
        import sd_hypernet
        from sd_hypernet.info import cached_describe

        item = self.items.get(name) or self.create_item(name, enable_filter=False)
        if item is None:
            return {}
        path = item["filename"]
        try:
            info, error = cached_describe(path), None
        except sd_hypernet.HypernetError as e:
            info, error = None, str(e)
        return popup_metadata(path, info, error, sidecars.read_civitai_info(path))

    def create_user_metadata_editor(self, ui, tabname):
        from sd_hypernet.hosts.metadata_editor import HypernetUserMetadataEditor
        return HypernetUserMetadataEditor(ui, tabname, self)

    # ---- helpers --------------------------------------------------------------------------------------------
    def _hidden_by_family(self, family: str | None) -> bool:
        if family is None or self.opt(common.OPT_SHOW_ALL, False):
            return False
        current = self.current_family()
        return current is not None and current != family

    def _describe(self, path: str) -> tuple[dict, str | None]:
        """The metadata dict and family of a file (read once per file version, shared with the API and CLI)."""
        import sd_hypernet
        from sd_hypernet.info import cached_describe
        try:
            info = cached_describe(path)
            return describe_network(info), info["family"]
        except sd_hypernet.HypernetError as e:
            # A broken file keeps its card (so it can be found and fixed); the popup says why (and its hash).
            sha256 = sd_hypernet.hashing.cached_sha256(path)
            return {"error": str(e), "hash": sha256[:10] if sha256 else "", "sha256": sha256 or ""}, None

    def _add_click_handlers(self, item: dict) -> None:
        um = item.get("user_metadata") or {}
        weight = preferred_weight(um)
        activation = activation_text(um, item.get("suggested_activation_text"))
        negative = str(um.get(UM_NEGATIVE_TEXT) or "").strip()
        card = {"name": item["name"], "weight": weight, "activation": activation, "negative": negative}
        item["onclick"] = html.escape(f"return hypernetCardClicked(event, this, {json.dumps(card, ensure_ascii=False)})")
        # Plain-prompt fallbacks, for code that reads the item dict instead of clicking.
        weight_js = _fmt_number(weight) if weight is not None else "opts.extra_networks_default_multiplier"
        prompt = ui_extra_networks.quote_js(f"<hypernet:{item['name']}:") + " + " + weight_js + " + " + ui_extra_networks.quote_js(">")
        if activation:
            prompt += " + " + ui_extra_networks.quote_js(" " + activation)
        item["prompt"] = prompt
        item["negative_prompt"] = ui_extra_networks.quote_js(negative)

    def default_multiplier(self) -> float:
        try:
            value = float(self.opt(common.OPT_DEFAULT_MULTIPLIER, None))
        except (TypeError, ValueError):
            try:
                value = float(self.opt("extra_networks_default_multiplier", 1.0))
            except (TypeError, ValueError):
                value = 1.0
        return min(MULTIPLIER_MAX, max(MULTIPLIER_MIN, value))

    def multiplier_html(self, tabname: str) -> str:
        """The Multiplier slider row; ids `{tabname}_hypernetworks_multiplier[_number]`."""
        base = f"{tabname}_{self.extra_networks_tabname}_multiplier"
        value = _fmt_number(self.default_multiplier())
        attrs = f'min="{_fmt_number(MULTIPLIER_MIN)}" max="{_fmt_number(MULTIPLIER_MAX)}" step="{MULTIPLIER_STEP}" value="{value}"'
        return (
            f'<div class="hypernet-multiplier-row" id="{base}_row" data-tabname="{html.escape(tabname)}">'
            f'<label for="{base}">Multiplier</label>'
            f'<input type="range" class="hypernet-multiplier" id="{base}" {attrs} '
            f'title="Strength of the next card you click; moving it changes the selected card\'s tag">'
            f'<input type="number" class="hypernet-multiplier-number" id="{base}_number" {attrs} aria-label="Multiplier">'
            f'</div>'
        )
