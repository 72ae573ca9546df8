"""The Hypernetworks user-metadata editor (logic only; building it under both gradios is tests/ui)."""
import json
import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STANDINS = os.path.join(REPO, "tests", "standins")
for p in (REPO, STANDINS):
    if p not in sys.path:
        sys.path.insert(0, p)

from activate import use_host  # noqa: E402

import sd_hypernet  # noqa: E402


@pytest.fixture
def page(tmp_path):
    root = tmp_path / "hypernetworks"
    root.mkdir()
    net = sd_hypernet.create([768], layer_structure=(1, 0.01, 0.01, 1), activation_func="swish",
                             dropout_structure=(0, 0.1, 0.2, 0), name="inner",
                             metadata={"step": 42, "sd_checkpoint_name": "anything-v3"})
    sd_hypernet.save_file(net, str(root / "style.pt"))
    (root / "style.json").write_text(json.dumps({"description": "d", "notes": "n", "preferred weight": -0.4,
                                                 "activation text": "act", "negative text": "neg"}), encoding="utf8")
    with use_host("webui"):
        from modules import ui_extra_networks

        from sd_hypernet.hosts.ui.page import HypernetworksPage
        from sd_hypernet.library import Library

        pg = HypernetworksPage(Library(str(root)), opt=lambda k, d=None: d, model_family=lambda: "sd1")
        ui_extra_networks.initialize()
        ui_extra_networks.register_page(pg)
        pg.create_html("txt2img")
        yield pg


def editor_for(page):
    editor = page.create_user_metadata_editor(None, "txt2img")
    from sd_hypernet.hosts.ui.metadata_editor import HypernetUserMetadataEditor
    assert isinstance(editor, HypernetUserMetadataEditor)
    assert editor.id_part == "txt2img_hypernetworks_edit_user_metadata"
    return editor


def test_values_put_into_the_editor(page):
    values = editor_for(page).put_values_into_components("style")
    assert len(values) == 9
    name, desc, table, preview, notes, activation, use_weight, weight, negative = values
    assert (name, desc, notes, activation, use_weight, weight, negative) == ("style", "d", "n", "act", True, -0.4, "neg")
    assert "<table" in table


def test_file_table_shows_structure(page):
    rows = dict(editor_for(page).get_metadata_table("style"))
    assert rows["Model family:"] == "SD1"
    assert rows["Layer structure:"] == "1, 0.01, 0.01, 1"
    assert rows["Activation:"] == "swish"
    assert rows["Dropout:"] == "0, 0.1, 0.2, 0"
    assert rows["Steps trained:"] == "42"
    assert rows["Base checkpoint:"] == "anything-v3"
    assert rows["Internal name:"] == "inner"
    assert rows["Hash: "] == page.items["style"]["shorthash"]
    assert int(rows["Parameters:"].replace(",", "")) == sd_hypernet.load_file(page.items["style"]["filename"]).parameter_count()


def test_save_writes_all_fields_and_the_card_follows(page):
    from modules import ui_extra_networks

    editor = editor_for(page)
    editor.save_hypernet_user_metadata("style", "new desc", "glow", True, 1.25, "blurry", "my notes")
    path = os.path.splitext(page.items["style"]["filename"])[0] + ".json"
    with open(path, encoding="utf8") as f:
        saved = json.load(f)
    assert saved == {"description": "new desc", "notes": "my notes", "preferred weight": 1.25,
                     "use preferred weight": True, "activation text": "glow", "negative text": "blurry"}

    card = json.loads(ui_extra_networks.get_single_card(page="hypernetworks", tabname="txt2img", name="style").body)["html"]
    assert "&quot;weight&quot;: 1.25" in card and "&quot;activation&quot;: &quot;glow&quot;" in card
    assert "new desc" in card


def test_unset_weight_is_off_in_the_dialog(page):
    editor = editor_for(page)
    editor.save_hypernet_user_metadata("style", "", "", False, 0.5, "", "")
    page.create_html("txt2img")
    assert editor.put_values_into_components("style")[6:8] == [False, 0.0]
    assert card_weight(page) is None


def card_weight(page):
    from modules import ui_extra_networks
    card = json.loads(ui_extra_networks.get_single_card(page="hypernetworks", tabname="txt2img", name="style").body)["html"]
    data = card.split("hypernetCardClicked(event, this, ", 1)[1].split(")", 1)[0]
    return json.loads(data.replace("&quot;", '"'))["weight"]


@pytest.mark.parametrize("weight", [0.0, -0.75])
def test_zero_and_negative_preferred_weights_can_be_set(page, weight):
    editor = editor_for(page)
    editor.save_hypernet_user_metadata("style", "", "", True, weight, "", "")
    assert editor.put_values_into_components("style")[6:8] == [True, weight]
    assert card_weight(page) == weight  # a card click inserts it


def test_an_old_file_with_weight_zero_is_unset(page):
    path = os.path.splitext(page.items["style"]["filename"])[0] + ".json"
    with open(path, "w", encoding="utf8") as f:
        json.dump({"description": "d", "preferred weight": 0}, f)  # Lora's and our old "none"
    page.create_html("txt2img")
    editor = editor_for(page)
    assert editor.put_values_into_components("style")[6:8] == [False, 0.0]
    assert card_weight(page) is None
