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

from sd_hypernet import sidecars
from sd_hypernet.hosts import common
from sd_hypernet.hosts.ui.card_facts import (FAMILY_LABELS, MULTIPLIER_MAX, MULTIPLIER_MIN, MULTIPLIER_STEP,
                                             UM_NEGATIVE_TEXT, activation_text, describe_network, fmt_number,
                                             preferred_weight)
from sd_hypernet.hosts.ui.popup import PopupMetadata, popup_metadata

TITLE = "Hypernetworks"


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
        self._with_hidden = False  # create_html: cards for other families come too, marked (CSS hides them)

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
        hidden = enable_filter and self._hidden_by_family(family)
        if hidden and not self._with_hidden:
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
        if hidden:
            # rendered as the card attribute data-sort-hypernetotherfamily: style.css hides such cards until
            # the pane's "show" (javascript/hypernetworks.js) asks for them
            item["sort_keys"]["hypernetotherfamily"] = FAMILY_LABELS.get(family, family)
            item["other_family"] = family
        self.read_user_metadata(item)
        self._add_click_handlers(item)
        return item

    def read_user_metadata(self, item, use_cache=True):
        super().read_user_metadata(item, use_cache=use_cache)
        if not item.get("description") and item.get("civitai_description"):
            item["description"] = item["civitai_description"]  # an empty saved description keeps civitai's

    def create_html(self, tabname, *, empty=False):
        self._with_hidden = True
        try:
            cards = super().create_html(tabname, empty=empty)
        finally:
            self._with_hidden = False
        html_text = self.multiplier_html(tabname) + cards
        self.metadata = PopupMetadata(self, self.metadata)
        return html_text

    def hidden_note(self, tabname: str) -> str:
        """"N hidden (made for SDXL) — show", counted from the page's items; empty when none is hidden."""
        counts: dict[str, int] = {}
        for item in self.items.values():
            if item.get("other_family"):
                label = FAMILY_LABELS.get(item["other_family"], item["other_family"])
                counts[label] = counts.get(label, 0) + 1
        if not counts:
            return ""
        total = sum(counts.values())
        made_for = ", ".join(sorted(counts))
        title = ("Made for another model family than the loaded one; the setting Show hypernetworks made for "
                 "other model families shows them always")
        return (f'<div class="hypernet-hidden-note" id="{tabname}_{self.extra_networks_tabname}_hidden_note" '
                f'title="{html.escape(title)}"><span class="hypernet-hidden-count">{total}</span> '
                f'<span class="hypernet-hidden-word">hidden</span> (made for {html.escape(made_for)}) — '
                f'<a href="#" class="hypernet-hidden-toggle" '
                f'onclick="return hypernetToggleOtherFamilies(event)">show</a></div>')

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
        from sd_hypernet.hosts.ui.metadata_editor import HypernetUserMetadataEditor
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
        weight_js = fmt_number(weight) if weight is not None else "opts.extra_networks_default_multiplier"
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
        value = fmt_number(self.default_multiplier())
        attrs = f'min="{fmt_number(MULTIPLIER_MIN)}" max="{fmt_number(MULTIPLIER_MAX)}" step="{MULTIPLIER_STEP}" value="{value}"'
        return (
            f'<div class="hypernet-multiplier-row" id="{base}_row" data-tabname="{html.escape(tabname)}">'
            f'<label for="{base}">Multiplier</label>'
            f'<input type="range" class="hypernet-multiplier" id="{base}" {attrs} '
            f'title="Strength of the next card you click; moving it changes the selected card\'s tag">'
            f'<input type="number" class="hypernet-multiplier-number" id="{base}_number" {attrs} aria-label="Multiplier">'
            f'</div>{self.hidden_note(tabname)}'
        )
