"""The Hypernetworks page against the webui stand-in: items, previews, metadata, family filter, click data."""
import hashlib
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


def tiny(sizes, name, **kw):
    # (1, 0.01, 1) keeps a 768-wide module at ~11k parameters
    return sd_hypernet.create(sizes, layer_structure=kw.pop("layer_structure", (1, 0.01, 1)), name=name, **kw)


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "hypernetworks"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    sd_hypernet.save_file(tiny([768, 320], "anime", activation_func="relu", is_layer_norm=True,
                               metadata={"step": 1500, "sd_checkpoint_name": "v1-5-pruned"}), str(root / "anime.pt"))
    sd_hypernet.save_file(tiny([2048], "xl", layer_structure=(1, 0.005, 1)), str(root / "xl.safetensors"))
    sd_hypernet.save_file(tiny([768], "dup_a"), str(root / "a" / "dup.pt"))
    sd_hypernet.save_file(tiny([768], "dup_b"), str(root / "b" / "dup.pt"))
    (root / "broken.pt").write_bytes(b"not a zip or pickle")
    (root / "anime.png").write_bytes(b"\x89PNG fake")
    (root / "xl.preview.png").write_bytes(b"\x89PNG fake")
    (root / "anime.txt").write_text("a soft anime look", encoding="utf8")
    return root


@pytest.fixture
def host():
    with use_host("webui"):
        yield


def make_page(folder, family="sd1", **options):
    from sd_hypernet.hosts.ui.page import HypernetworksPage
    from sd_hypernet.library import Library

    values = {"samples_format": "png", **options}
    return HypernetworksPage(Library(str(folder)), opt=lambda k, d=None: values.get(k, d),
                             model_family=lambda: family)


def click_data(item):
    onclick = html.unescape(item["onclick"])
    m = re.fullmatch(r"return hypernetCardClicked\(event, this, (\{.*\})\)", onclick)
    assert m, onclick
    return json.loads(m.group(1))


def test_items_cover_every_file_with_hash_search_terms_and_sort_keys(host, folder):
    from sd_hypernet import hashing

    page = make_page(folder, family=None)
    before = hashing.computed
    items = {i["name"]: i for i in page.list_items()}
    assert set(items) == {"anime", "xl", "a/dup", "b/dup", "broken"}
    assert hashing.computed == before  # listing never hashes: the hash shows once something computed it
    assert all(i["shorthash"] == "" for i in items.values())

    path = str(folder / "anime.pt")
    sha = hashlib.sha256(open(path, "rb").read()).hexdigest()
    assert sd_hypernet.info.file_hash(path) == sha  # what a generation's infotext does
    items = {i["name"]: i for i in page.list_items()}
    anime = items["anime"]
    assert anime["filename"] == path
    assert anime["shorthash"] == sha[:10]
    assert "anime.pt" in anime["search_terms"] and sha[:10] in anime["search_terms"]
    assert os.path.join("hypernetworks", "anime.pt") in anime["search_terms"]
    assert {"default", "date_created", "date_modified", "name", "path"} <= set(anime["sort_keys"])
    assert anime["local_preview"] == str(folder / "anime.preview.png")
    assert page.allowed_directories_for_previews() == [str(folder)]


def test_preview_and_description_files_are_found(host, folder):
    items = {i["name"]: i for i in make_page(folder, family=None).list_items()}
    assert "anime.png" in items["anime"]["preview"]
    assert "xl.preview.png" in items["xl"]["preview"]
    assert items["a/dup"]["preview"] is None
    assert items["anime"]["description"] == "a soft anime look"


def test_metadata_shows_the_files_own_structure(host, folder):
    items = {i["name"]: i for i in make_page(folder, family=None).list_items()}
    meta = items["anime"]["metadata"]
    net = sd_hypernet.load_file(str(folder / "anime.pt"))
    assert meta["sizes"] == [320, 768]
    assert meta["model family"] == "SD1"
    assert meta["layer structure"] == "1, 0.01, 1"
    assert meta["activation"] == "relu"
    assert meta["layer norm"] is True
    assert meta["dropout"] == "none"
    assert meta["steps trained"] == 1500
    assert meta["base checkpoint"] == "v1-5-pruned"
    assert meta["parameters"] == net.parameter_count() > 0
    assert meta["hash"] == items["anime"]["shorthash"] == ""  # not hashed yet
    assert items["xl"]["metadata"]["model family"] == "SDXL"
    json.dumps(meta)  # served as JSON by /sd_extra_networks/metadata


def test_popup_computes_the_hash_once_in_its_request(host, folder, monkeypatch):
    """The metadata route (`page.metadata.get(name)`, as the host's /sd_extra_networks/metadata reads it)
    is where a hash not known yet is computed, once; the listing before it computed none."""
    from modules import ui_extra_networks
    from sd_hypernet import hashing

    page = make_page(folder, family=None)
    ui_extra_networks.register_page(page)
    before = hashing.computed
    page.create_html("txt2img")  # the host's listing fills page.metadata
    assert hashing.computed == before
    response = ui_extra_networks.get_metadata(page=page.name, item="anime")
    shown = json.loads(json.loads(response.body)["metadata"])
    sha = hashlib.sha256(open(folder / "anime.pt", "rb").read()).hexdigest()
    assert shown["Hash"] == sha[:10] and shown["SHA-256"] == sha
    assert hashing.computed == before + 1
    broken = json.loads(json.loads(ui_extra_networks.get_metadata(page=page.name, item="broken").body)["metadata"])
    assert "broken.pt" in broken["Cannot load"]
    assert broken["SHA-256"] == hashlib.sha256((folder / "broken.pt").read_bytes()).hexdigest()
    monkeypatch.setattr(hashing, "_compute", lambda p: pytest.fail("hashed twice"))
    ui_extra_networks.get_metadata(page=page.name, item="anime")
    page.create_html("txt2img")  # relisting shows the hash now known
    assert page.items["anime"]["shorthash"] == sha[:10]


def test_broken_file_keeps_its_card_and_says_why(host, folder):
    items = {i["name"]: i for i in make_page(folder, family="sd1").list_items()}
    assert "broken" in items
    assert "broken.pt" in items["broken"]["metadata"]["error"]


@pytest.mark.parametrize("family, show_all, expected_hidden", [
    ("sd1", False, {"xl"}),
    ("sdxl", False, {"anime", "a/dup", "b/dup"}),
    ("sd1", True, set()),
    (None, False, set()),
])
def test_cards_of_another_family_are_hidden_unless_show_all(host, folder, family, show_all, expected_hidden):
    from sd_hypernet.hosts.common import OPT_SHOW_ALL

    page = make_page(folder, family=family, **{OPT_SHOW_ALL: show_all})
    shown = {i["name"] for i in page.list_items()}
    assert {"anime", "xl", "a/dup", "b/dup", "broken"} - shown == expected_hidden
    # the single-card endpoint asks without the filter and must still get the card
    for name in expected_hidden:
        assert page.create_item(name, enable_filter=False)["name"] == name


def test_ambiguous_stems_are_both_reachable_by_relative_path(host, folder):
    items = {i["name"]: i for i in make_page(folder).list_items()}
    assert click_data(items["a/dup"])["name"] == "a/dup"
    assert click_data(items["b/dup"])["name"] == "b/dup"
    assert items["a/dup"]["filename"] != items["b/dup"]["filename"]


def test_click_data_carries_preferred_weight_activation_and_negative_text(host, folder):
    (folder / "anime.json").write_text(json.dumps({
        "preferred weight": 0.7, "activation text": "anime style", "negative text": "photo"}), encoding="utf8")
    items = {i["name"]: i for i in make_page(folder).list_items()}
    assert click_data(items["anime"]) == {"name": "anime", "weight": 0.7, "activation": "anime style", "negative": "photo"}
    assert click_data(items["a/dup"]) == {"name": "a/dup", "weight": None, "activation": "", "negative": ""}
    assert items["anime"]["prompt"] == '"<hypernet:anime:" + 0.7 + ">" + " anime style"'


def test_zero_or_bad_preferred_weight_means_none(host, folder):
    from sd_hypernet.hosts.ui.card_facts import preferred_weight

    assert preferred_weight({"preferred weight": 0}) is None
    assert preferred_weight({"preferred weight": "x"}) is None
    assert preferred_weight({"preferred weight": -0.5}) == -0.5
    assert preferred_weight({}) is None
    # saved by the edit dialog: its checkbox decides, so 0 is a weight
    assert preferred_weight({"preferred weight": 0, "use preferred weight": True}) == 0
    assert preferred_weight({"preferred weight": 0.5, "use preferred weight": False}) is None
    assert preferred_weight({"preferred weight": float("nan"), "use preferred weight": True}) is None


def test_html_has_slider_cards_and_serves_metadata_and_single_card(host, folder):
    from modules import ui_extra_networks

    from sd_hypernet.hosts.common import OPT_DEFAULT_MULTIPLIER

    ui_extra_networks.initialize()
    page = make_page(folder, family="sd1", **{OPT_DEFAULT_MULTIPLIER: 0.6})
    ui_extra_networks.register_page(page)
    out = page.create_html("img2img")
    assert 'id="img2img_hypernetworks_multiplier"' in out
    assert re.search(r'id="img2img_hypernetworks_multiplier" min="-1" max="2" step="0.05" value="0.6"', out)
    assert 'data-name="anime"' in out and "hypernetCardClicked" in out
    # the SDXL card is in the page but marked (CSS hides it), and the pane says so with a "show"
    cards = re.findall(r'<div class="card"[^>]*>', out)
    xl = [c for c in cards if 'data-name="xl"' in c]
    assert len(xl) == 1 and 'data-sort-hypernetotherfamily="SDXL"' in xl[0]
    assert not any("hypernetotherfamily" in c for c in cards if c not in xl)
    note = re.search(r'<div class="hypernet-hidden-note" id="img2img_hypernetworks_hidden_note"[^>]*>(.*?)</div>', out)
    assert note and re.sub("<[^>]+>", "", note.group(1)) == "1 hidden (made for SDXL) — show"
    assert "hypernetToggleOtherFamilies" in note.group(1)
    assert "hidden_note" not in make_page(folder, family="sd1", hypernet_show_all=True).create_html("img2img")
    assert "hidden_note" not in make_page(folder, family=None).create_html("img2img")

    resp = ui_extra_networks.get_metadata(page="hypernetworks", item="anime")
    meta = json.loads(json.loads(resp.body)["metadata"])
    assert meta["Activation"] == "relu"

    resp = ui_extra_networks.get_single_card(page="hypernetworks", tabname="txt2img", name="xl")
    assert 'data-name="xl"' in json.loads(resp.body)["html"]


def test_default_multiplier_falls_back_and_is_clamped(host, folder):
    from sd_hypernet.hosts.common import OPT_DEFAULT_MULTIPLIER

    assert make_page(folder, **{OPT_DEFAULT_MULTIPLIER: 5}).default_multiplier() == 2.0
    assert make_page(folder, extra_networks_default_multiplier=0.35).default_multiplier() == 0.35


def test_refresh_rescans_the_folder(host, folder):
    page = make_page(folder, family=None)
    assert "late" not in {i["name"] for i in page.list_items()}
    sd_hypernet.save_file(tiny([768], "late"), str(folder / "late.pt"))
    page.refresh()
    assert "late" in {i["name"] for i in page.list_items()}


def test_metadata_is_read_once_per_file_version(host, folder, monkeypatch):
    page = make_page(folder, family=None)
    calls = []
    import sd_hypernet.info
    real = sd_hypernet.info.read_structure
    monkeypatch.setattr(sd_hypernet.info, "read_structure", lambda p: calls.append(p) or real(p))
    monkeypatch.setattr(sd_hypernet.info, "load_file", lambda p: pytest.fail("a listing loads no weights"))
    list(page.list_items())
    first = len(calls)
    list(page.list_items())
    assert first == 5 and len(calls) == first
    os.utime(folder / "anime.pt", ns=(1, 1))
    list(page.list_items())
    assert calls[first:] == [str(folder / "anime.pt")]


def test_defaults_come_from_the_selected_host(host, folder):
    from sd_hypernet.hosts import common
    from sd_hypernet.hosts.ui.page import HypernetworksPage
    from sd_hypernet.library import Library

    class FakeHost(common.Host):
        def opt(self, key, default=None):
            return {common.OPT_SHOW_ALL: False}.get(key, default)

        def model_family(self):
            return "sdxl"

    lib = Library(str(folder))
    common.set_current(FakeHost())
    try:
        page = HypernetworksPage(lambda: lib)
        assert {i["name"] for i in page.list_items()} == {"xl", "broken"}
    finally:
        common.set_current(None)


POPUP_ORDER = ["Model family", "Usable with", "Widths", "Layer structure", "Activation", "Layer norm", "Dropout",
               "Steps trained", "Base model", "Parameters", "File size", "Format", "Hash", "SHA-256"]


def popup_of(page, name):
    from modules import ui_extra_networks
    resp = ui_extra_networks.get_metadata(page="hypernetworks", item=name)
    return json.loads(json.loads(resp.body)["metadata"])


def test_popup_shows_what_a_user_needs_first_in_a_fixed_order(host, folder):
    from modules import ui_extra_networks
    ui_extra_networks.initialize()
    page = make_page(folder, family=None)
    ui_extra_networks.register_page(page)
    page.create_html("txt2img")
    meta = popup_of(page, "anime")
    path = str(folder / "anime.pt")
    sha = hashlib.sha256(open(path, "rb").read()).hexdigest()
    assert list(meta)[:len(POPUP_ORDER)] == POPUP_ORDER
    assert meta["Model family"] == "SD1 (cross-attention width 768)"
    assert meta["Usable with"] == "SD1 models"
    assert meta["Widths"] == "cross 768; self 320"
    assert meta["Layer structure"] == "1, 0.01, 1"
    assert meta["Layer norm"] == "yes" and meta["Dropout"] == "none"
    assert meta["Steps trained"] == "1,500"
    assert meta["Base model"] == "v1-5-pruned"
    assert meta["Format"] == "pt (pickle, read weights-only)"
    assert meta["Hash"] == sha[:10] and meta["SHA-256"] == sha
    assert meta["File size"].endswith("KiB")
    # the rest of the file's metadata follows, as text (no list for the host's popup to fold)
    rest = meta["File metadata"]
    assert rest["name"] == "anime" and all(isinstance(v, str) for v in rest.values())
    assert "layer_structure" not in rest and "step" not in rest
    # nothing the popup shows is a list or an empty row
    assert all(v != "" and not isinstance(v, list) for v in meta.values())

    xl = popup_of(page, "xl")
    assert xl["Base model"] == "not recorded" and xl["Format"] == "safetensors"
    assert xl["Model family"] == "SDXL (cross-attention width 2048)"


def test_popup_says_what_a_self_attention_only_network_can_be_used_with(host, tmp_path):
    from modules import ui_extra_networks
    root = tmp_path / "hn"
    root.mkdir()
    sd_hypernet.save_file(tiny([320, 640], "selfonly"), str(root / "selfonly.safetensors"))
    sd_hypernet.save_file(tiny([640, 1280], "wide", metadata={"sd_checkpoint_name": "sd_xl_base_1.0"}),
                          str(root / "wide.safetensors"))
    ui_extra_networks.initialize()
    page = make_page(root, family=None)
    ui_extra_networks.register_page(page)
    page.create_html("txt2img")
    meta = popup_of(page, "selfonly")
    assert meta["Model family"] == "not recorded (no cross-attention width)"
    assert meta["Usable with"].startswith("SD1, SD2, SDXL models (self-attention only")
    assert meta["Widths"] == "self 320, 640"
    wide = popup_of(page, "wide")
    assert wide["Model family"] == "SDXL (recorded base model)"
    assert wide["Usable with"].startswith("SDXL models (self-attention only")


def test_popup_hashes_in_the_request_not_when_cards_are_listed(host, folder, monkeypatch):
    from modules import ui_extra_networks

    from sd_hypernet import hashing, info
    ui_extra_networks.initialize()
    page = make_page(folder, family=None)
    ui_extra_networks.register_page(page)
    # a listing that carries no hash (as a header-only listing would)
    real = info.cached_describe
    monkeypatch.setattr(info, "cached_describe",
                        lambda path: {k: v for k, v in real(path).items() if k not in ("sha256", "short_hash")})
    hashing._cache.clear()
    page.create_html("txt2img")
    path = str(folder / "xl.safetensors")
    hashed = []
    real_hash = hashing.file_sha256
    monkeypatch.setattr(hashing, "file_sha256", lambda p: hashed.append(p) or real_hash(p))
    meta = popup_of(page, "xl")
    assert hashed == [path]
    assert meta["Hash"] == hashlib.sha256(open(path, "rb").read()).hexdigest()[:10]
