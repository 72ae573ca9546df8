"""Files from civitai helpers beside a network: NAME.civitai.info (trained words, base model, description),
NAME.preview.* previews and the webui's NAME.json user metadata, as the Hypernetworks page uses them."""
import html
import json
import os
import re
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STANDINS = os.path.join(REPO, "tests", "standins")
for p in (REPO, STANDINS):
    if p not in sys.path:
        sys.path.insert(0, p)

from activate import use_host  # noqa: E402

import sd_hypernet  # noqa: E402
from sd_hypernet import sidecars  # noqa: E402

# The shape civitai helper extensions save: civitai's model-version record for the file's hash.
CIVITAI_INFO = {
    "id": 4321, "modelId": 1234, "name": "v2", "baseModel": "SDXL 1.0",
    "trainedWords": ["ink style", "monochrome"],
    "description": "<p>Ink <b>wash</b> look.</p><p>Use at 0.6&nbsp;–&nbsp;0.8.</p>",
    "model": {"name": "Ink Wash", "type": "Hypernetwork", "nsfw": False},
}


def tiny(sizes, name, **kw):
    return sd_hypernet.create(sizes, layer_structure=(1, 0.01, 1), name=name, **kw)


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "hypernetworks"
    root.mkdir()
    # self-attention only and no recorded base model: the family comes from civitai's record
    sd_hypernet.save_file(tiny([640, 1280], "ink"), str(root / "ink.safetensors"))
    (root / "ink.civitai.info").write_text(json.dumps(CIVITAI_INFO), encoding="utf8")
    (root / "ink.preview.webp").write_bytes(b"RIFF fake")
    sd_hypernet.save_file(tiny([768], "plain"), str(root / "plain.pt"))
    return root


def make_page(folder, family="sd1"):
    from sd_hypernet.hosts.ui.page import HypernetworksPage
    from sd_hypernet.library import Library
    return HypernetworksPage(Library(str(folder)), opt=lambda k, d=None: {"samples_format": "png"}.get(k, d),
                             model_family=lambda: family)


def click_data(item):
    m = re.fullmatch(r"return hypernetCardClicked\(event, this, (\{.*\})\)", html.unescape(item["onclick"]))
    return json.loads(m.group(1))


def test_civitai_info_is_read(folder):
    info = sidecars.read_civitai_info(str(folder / "ink.safetensors"))
    assert info.family == "sdxl" and info.base_model == "SDXL 1.0"
    assert info.activation_text == "ink style, monochrome"
    assert info.description == "Ink wash look.\n\nUse at 0.6 – 0.8."
    assert (info.model_name, info.version_name, info.model_id, info.version_id) == ("Ink Wash", "v2", 1234, 4321)
    assert sidecars.read_civitai_info(str(folder / "plain.pt")) is None
    (folder / "plain.civitai.info").write_text("{not json", encoding="utf8")
    assert sidecars.read_civitai_info(str(folder / "plain.pt")) is None


@pytest.mark.parametrize("base, family", [("SD 1.5", "sd1"), ("SD 1.4", "sd1"), ("SD 2.1 768", "sd2"),
                                          ("SD 2.0", "sd2"), ("SDXL 1.0", "sdxl"), ("Pony", "sdxl"),
                                          ("Illustrious", "sdxl"), ("SDXL Turbo", "sdxl"), ("Flux.1 D", None),
                                          ("SD 3.5", None), ("Other", None), ("", None)])
def test_civitai_base_models_map_to_families(base, family):
    assert sidecars.family_from_base_model(base) == family


def test_card_uses_civitai_family_description_words_and_preview(folder):
    with use_host("webui"):
        page = make_page(folder, family="sd1")
        assert {i["name"] for i in page.list_items()} == {"plain"}  # civitai says SDXL: hidden on an SD1 model
        page = make_page(folder, family="sdxl")
        ink = next(i for i in page.list_items() if i["name"] == "ink")
        assert ink["description"] == "Ink wash look.\n\nUse at 0.6 – 0.8."
        assert ink["sd_version_str"] == "SdVersion.SDXL"
        assert click_data(ink)["activation"] == "ink style, monochrome"  # suggested activation text
        assert ink["preview"] and "ink.preview.webp" in ink["preview"]


def test_user_metadata_wins_over_civitai(folder):
    (folder / "ink.json").write_text(json.dumps({"description": "mine", "activation text": "my words"}),
                                     encoding="utf8")
    with use_host("webui"):
        ink = next(i for i in make_page(folder, family=None).list_items() if i["name"] == "ink")
        assert ink["description"] == "mine"
        assert click_data(ink)["activation"] == "my words"
    # a description saved empty in the editor falls back to civitai's; an emptied activation text stays empty
    (folder / "ink.json").write_text(json.dumps({"description": "", "activation text": ""}), encoding="utf8")
    with use_host("webui"):
        ink = next(i for i in make_page(folder, family=None).list_items() if i["name"] == "ink")
        assert ink["description"].startswith("Ink wash look.")
        assert click_data(ink)["activation"] == ""


def test_popup_and_editor_show_civitai(folder):
    with use_host("webui"):
        from modules import ui_extra_networks
        ui_extra_networks.initialize()
        page = make_page(folder, family=None)
        ui_extra_networks.register_page(page)
        page.create_html("txt2img")
        meta = json.loads(json.loads(ui_extra_networks.get_metadata(page="hypernetworks", item="ink").body)["metadata"])
        assert meta["Model family"] == "SDXL (civitai's base model)"
        assert meta["Base model"] == "SDXL 1.0 (from civitai)"
        assert meta["Civitai"]["trained words"] == "ink style, monochrome"
        assert meta["Civitai"]["page"] == "https://civitai.com/models/1234?modelVersionId=4321"
        editor = page.create_user_metadata_editor(None, "txt2img")
        values = editor.put_values_into_components("ink")
        assert values[5] == "ink style, monochrome"  # activation text field, prefilled
