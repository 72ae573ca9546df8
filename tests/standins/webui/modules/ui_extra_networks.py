"""Stand-in of modules/ui_extra_networks.py (webui v1.10.1): the page registry, `ExtraNetworksPage` with the
signatures and item-dict contract the real one has, the card HTML, the metadata / single-card endpoints and
`create_ui`. Written for tests; card markup follows the real template's shape (classes, data-name, onclick).

gradio is imported only where components are built, so page logic can be tested without it; building works
under gradio 3 (webui) and gradio 4 (Forge, whose patches let `_js` through: here the keyword is chosen).
"""
from __future__ import annotations

import html
import json
import os
import urllib.parse
from pathlib import Path

from modules import errors, extra_networks, shared, ui_extra_networks_user_metadata

extra_pages = []
allowed_dirs = set()
default_allowed_preview_extensions = ["png", "jpg", "jpeg", "webp", "gif"]

# Templates with the real ones' placeholders (html/extra-networks-*.html).
CARD_TEMPLATE = (
    '<div class="card" style="{style}" onclick="{card_clicked}" data-name="{name}" {sort_keys}>'
    '{background_image}'
    '<div class="button-row">{copy_path_button}{metadata_button}{edit_button}</div>'
    '<div class="actions"><div class="additional">{search_terms}</div>'
    '<span class="name">{name}</span><span class="description">{description}</span></div>'
    '</div>'
)
COPY_PATH_BUTTON = ('<div class="copy-path-button card-button" title="Copy path to clipboard" '
                    'onclick="extraNetworksCopyCardPath(event)" data-clipboard-text="{filename}"></div>')
METADATA_BUTTON = ('<div class="metadata-button card-button" title="Show internal metadata" '
                   'onclick="extraNetworksRequestMetadata(event, \'{extra_networks_tabname}\')"></div>')
EDIT_BUTTON = ('<div class="edit-button card-button" title="Edit metadata" '
               'onclick="extraNetworksEditUserMetadata(event, \'{tabname}\', \'{extra_networks_tabname}\')"></div>')
PANE_TEMPLATE = (
    '<div id="{tabname}_{extra_networks_tabname}_pane" class="extra-network-pane" data-sortdir="{data_sortdir}">'
    '<div id="{tabname}_{extra_networks_tabname}_cards" class="extra-network-cards">{items_html}</div>'
    '</div>'
)
NO_CARDS_TEMPLATE = "<div class='nocards'><h1>Nothing here.</h1><ul>{dirs}</ul></div>"


def _opt(name, default):
    return getattr(shared.opts, name, default)


def allowed_preview_extensions():
    return set(default_allowed_preview_extensions) | {_opt("samples_format", "png")}


class MassFileLister:
    """The part of modules/util.py's lister the pages use: cached existence and (mtime, ctime) per file."""

    def __init__(self):
        self._stat = {}

    def _get(self, path):
        if path not in self._stat:
            try:
                st = os.stat(path)
                self._stat[path] = (st.st_mtime, st.st_ctime)
            except OSError:
                self._stat[path] = None
        return self._stat[path]

    def exists(self, path):
        return self._get(path) is not None

    def mctime(self, path):
        return self._get(path) or (0, 0)

    def update_file_entry(self, path):
        self._stat.pop(path, None)

    def reset(self):
        self._stat.clear()


def register_page(page):
    extra_pages.append(page)
    allowed_dirs.clear()
    allowed_dirs.update(set(sum([x.allowed_directories_for_previews() for x in extra_pages], [])))


def _json_response(data):
    try:
        from starlette.responses import JSONResponse
    except ImportError:  # pragma: no cover - starlette ships with gradio/fastapi
        return data
    return JSONResponse(data)


def get_metadata(page: str = "", item: str = ""):
    page = next(iter([x for x in extra_pages if x.name == page]), None)
    if page is None:
        return _json_response({})
    metadata = page.metadata.get(item)
    if metadata is None:
        return _json_response({})
    metadata = {k: v for k, v in metadata.items() if k != "ssmd_cover_images"}
    return _json_response({"metadata": json.dumps(metadata, indent=4, ensure_ascii=False)})


def get_single_card(page: str = "", tabname: str = "", name: str = ""):
    page = next(iter([x for x in extra_pages if x.name == page]), None)
    try:
        item = page.create_item(name, enable_filter=False)
        page.items[name] = item
    except Exception as e:
        errors.display(e, "creating item for extra network")
        item = page.items.get(name)
    page.read_user_metadata(item, use_cache=False)
    return _json_response({"html": page.create_item_html(tabname, item, CARD_TEMPLATE)})


def add_pages_to_demo(app):
    app.add_api_route("/sd_extra_networks/metadata", get_metadata, methods=["GET"])
    app.add_api_route("/sd_extra_networks/get-single-card", get_single_card, methods=["GET"])


def quote_js(s):
    return json.dumps(s, ensure_ascii=False)


class ExtraNetworksPage:
    def __init__(self, title):
        self.title = title
        self.name = title.lower()
        self.extra_networks_tabname = self.name.replace(" ", "_")
        self.allow_prompt = True
        self.allow_negative_prompt = False
        self.metadata = {}
        self.items = {}
        self.lister = MassFileLister()
        self.card_tpl = CARD_TEMPLATE

    def refresh(self):
        pass

    def read_user_metadata(self, item, use_cache=True):
        filename = item.get("filename", None)
        metadata = extra_networks.get_user_metadata(filename, lister=self.lister if use_cache else None)
        desc = metadata.get("description", None)
        if desc is not None:
            item["description"] = desc
        item["user_metadata"] = metadata

    def link_preview(self, filename):
        quoted = urllib.parse.quote(filename.replace("\\", "/"))
        mtime, _ = self.lister.mctime(filename)
        return f"./sd_extra_networks/thumb?filename={quoted}&mtime={mtime}"

    def search_terms_from_path(self, filename, possible_directories=None):
        abspath = os.path.abspath(filename)
        dirs = possible_directories if possible_directories is not None else self.allowed_directories_for_previews()
        for parentdir in dirs:
            parentdir = os.path.dirname(os.path.abspath(parentdir))
            if abspath.startswith(parentdir):
                return os.path.relpath(abspath, parentdir)
        return ""

    def create_item_html(self, tabname, item, template=None):
        preview = item.get("preview", None)
        height, width = _opt("extra_networks_card_height", 0), _opt("extra_networks_card_width", 0)
        style = (f"height: {height}px;" if height else "") + (f"width: {width}px;" if width else "")
        style += f"font-size: {_opt('extra_networks_card_text_scale', 1.0) * 100}%;"
        background_image = f'<img src="{html.escape(preview)}" class="preview" loading="lazy">' if preview else ""

        onclick = item.get("onclick", None)
        if onclick is None:
            onclick = html.escape("cardClicked('{}', {}, {}, {});".format(
                tabname, item["prompt"], item.get("negative_prompt", "''"), str(self.allow_negative_prompt).lower()))

        metadata_button = ""
        if item.get("metadata"):
            metadata_button = METADATA_BUTTON.format(extra_networks_tabname=self.extra_networks_tabname)

        local_path = ""
        filename = item.get("filename", "")
        for reldir in self.allowed_directories_for_previews():
            absdir = os.path.abspath(reldir)
            if filename.startswith(absdir):
                local_path = filename[len(absdir):]
        hidden_models = _opt("extra_networks_hidden_models", "When searched")
        search_only = hidden_models != "Always" and ("/." in local_path or "\\." in local_path)
        if search_only and hidden_models == "Never":
            return ""

        sort_keys = " ".join(f'data-sort-{k}="{html.escape(str(v))}"' for k, v in item.get("sort_keys", {}).items())
        search_terms = "".join(
            f"<span class='hidden search_terms{' search_only' if search_only else ''}'>{term}</span>"
            for term in item.get("search_terms", []))
        description = (item.get("description", "") or "") if _opt("extra_networks_card_show_desc", True) else ""
        if not _opt("extra_networks_card_description_is_html", False):
            description = html.escape(description)

        args = {
            "background_image": background_image,
            "card_clicked": onclick,
            "copy_path_button": COPY_PATH_BUTTON.format(filename=item["filename"]),
            "description": description,
            "edit_button": EDIT_BUTTON.format(tabname=tabname, extra_networks_tabname=self.extra_networks_tabname),
            "local_preview": quote_js(item["local_preview"]),
            "metadata_button": metadata_button,
            "name": html.escape(item["name"]),
            "prompt": item.get("prompt", None),
            "search_only": " search_only" if search_only else "",
            "search_terms": search_terms,
            "sort_keys": sort_keys,
            "style": style,
            "tabname": tabname,
            "extra_networks_tabname": self.extra_networks_tabname,
        }
        return template.format(**args) if template else args

    def create_card_view_html(self, tabname, *, none_message):
        res = [self.create_item_html(tabname, item, self.card_tpl) for item in self.items.values()]
        if not res:
            dirs = "".join(f"<li>{x}</li>" for x in self.allowed_directories_for_previews())
            res = [none_message or NO_CARDS_TEMPLATE.format(dirs=dirs)]
        return "".join(res)

    def create_html(self, tabname, *, empty=False):
        self.lister.reset()
        self.metadata = {}
        items_list = [] if empty else self.list_items()
        self.items = {x["name"]: x for x in items_list}
        for item in self.items.values():
            metadata = item.get("metadata")
            if metadata:
                self.metadata[item["name"]] = metadata
            if "user_metadata" not in item:
                self.read_user_metadata(item)
        return PANE_TEMPLATE.format(
            tabname=tabname, extra_networks_tabname=self.extra_networks_tabname,
            data_sortdir=_opt("extra_networks_card_order", "Ascending"),
            items_html=self.create_card_view_html(tabname, none_message="Loading..." if empty else None))

    def create_item(self, name, index=None):
        raise NotImplementedError()

    def list_items(self):
        raise NotImplementedError()

    def allowed_directories_for_previews(self):
        return []

    def get_sort_keys(self, path):
        pth = Path(path)
        mtime, ctime = self.lister.mctime(path)
        # The real page swaps these two as well.
        return {"date_created": int(mtime), "date_modified": int(ctime), "name": pth.name.lower(), "path": str(pth).lower()}

    def find_preview(self, path):
        candidates = sum([[f"{path}.{ext}", f"{path}.preview.{ext}"] for ext in sorted(allowed_preview_extensions())], [])
        for file in candidates:
            if self.lister.exists(file):
                return self.link_preview(file)
        return None

    def find_embedded_preview(self, path, name, metadata):
        return None

    def find_description(self, path):
        for file in [f"{path}.txt", f"{path}.description.txt"]:
            if not self.lister.exists(file):
                continue
            try:
                with open(file, "r", encoding="utf-8", errors="replace") as f:
                    return f.read()
            except OSError:
                pass
        return None

    def create_user_metadata_editor(self, ui, tabname):
        return ui_extra_networks_user_metadata.UserMetadataEditor(ui, tabname, self)


class ExtraNetworksPageHypernetworks(ExtraNetworksPage):
    """The built-in page the extension must drop (modules/ui_extra_networks_hypernets.py)."""

    def __init__(self):
        super().__init__("Hypernetworks")

    def list_items(self):
        return []

    def create_item(self, name, index=None, enable_filter=True):
        return None


def initialize():
    extra_pages.clear()


def register_default_pages():
    from removed_hypernetworks import hypernetworks_removed
    if not hypernetworks_removed():  # Forge Neo / Classic have no Hypernetworks page
        register_page(ExtraNetworksPageHypernetworks())


class ExtraNetworksUi:
    def __init__(self):
        self.pages = None
        self.page_contents = None
        self.stored_extra_pages = None
        self.button_save_preview = None
        self.preview_target_filename = None
        self.tabname = None


def pages_in_preferred_order(pages):
    tab_order = [x.lower().strip() for x in _opt("ui_extra_networks_tab_reorder", "").split(",")]

    def score(name):
        for i, match in enumerate(tab_order):
            if match and match in name.lower():
                return i
        return len(pages)

    scores = {page.name: (score(page.name), i) for i, page in enumerate(pages)}
    return sorted(pages, key=lambda x: scores[x.name])


def js_kwargs(code):
    """`_js=` on gradio 3 (webui), `js=` on gradio 4 (what Forge's patch turns `_js` into)."""
    import gradio as gr
    return {"_js": code} if int(gr.__version__.split(".")[0]) < 4 else {"js": code}


def create_ui(interface, unrelated_tabs, tabname):
    import gradio as gr

    ui = ExtraNetworksUi()
    ui.pages = []
    ui.pages_contents = []
    ui.user_metadata_editors = []
    ui.stored_extra_pages = pages_in_preferred_order(extra_pages.copy())
    ui.tabname = tabname
    related_tabs = []

    for page in ui.stored_extra_pages:
        with gr.Tab(page.title, elem_id=f"{tabname}_{page.extra_networks_tabname}", elem_classes=["extra-page"]) as tab:
            with gr.Column(elem_id=f"{tabname}_{page.extra_networks_tabname}_prompts", elem_classes=["extra-page-prompts"]):
                pass
            page_elem = gr.HTML(page.create_html(tabname, empty=True), elem_id=f"{tabname}_{page.extra_networks_tabname}_cards_html")
            ui.pages.append(page_elem)
            editor = page.create_user_metadata_editor(ui, tabname)
            editor.create_ui()
            ui.user_metadata_editors.append(editor)
            related_tabs.append(tab)

    ui.button_save_preview = gr.Button("Save preview", elem_id=f"{tabname}_save_preview", visible=False)
    ui.preview_target_filename = gr.Textbox("Preview save filename", elem_id=f"{tabname}_preview_filename", visible=False)

    for tab in unrelated_tabs:
        tab.select(fn=None, inputs=[], outputs=[], show_progress=False,
                   **js_kwargs(f"function(){{extraNetworksUnrelatedTabSelected('{tabname}');}}"))

    def create_html():
        ui.pages_contents = [pg.create_html(ui.tabname) for pg in ui.stored_extra_pages]

    def refresh():
        for pg in ui.stored_extra_pages:
            pg.refresh()
        create_html()
        return ui.pages_contents

    for page, tab in zip(ui.stored_extra_pages, related_tabs):
        tab.select(fn=None, inputs=[], outputs=[], show_progress=False,
                   **js_kwargs(f"function(){{extraNetworksTabSelected('{tabname}', '{tabname}_{page.extra_networks_tabname}_prompts', "
                               f"true, false, '{tabname}_{page.extra_networks_tabname}');}}"))
        button_refresh = gr.Button("Refresh", elem_id=f"{tabname}_{page.extra_networks_tabname}_extra_refresh_internal", visible=False)
        button_refresh.click(fn=refresh, inputs=[], outputs=ui.pages)

    def pages_html():
        if not ui.pages_contents:
            create_html()
        return ui.pages_contents

    interface.load(fn=pages_html, inputs=[], outputs=ui.pages)
    ui.refresh = refresh  # test hook: what the hidden Refresh button runs
    return ui


def path_is_parent(parent_path, child_path):
    return os.path.abspath(child_path).startswith(os.path.abspath(parent_path))


def setup_ui(ui, gallery):
    for editor in ui.user_metadata_editors:
        editor.setup_ui(gallery)
