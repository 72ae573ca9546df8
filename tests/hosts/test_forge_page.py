"""The Hypernetworks page on Forge: cards filtered by the selected checkpoint's family before Forge's lazy first
load, and Forge's own sd / xl card filter (data-sort-sdversion from item["sd_version_str"]) sees our cards."""
import json
import struct

import sd_hypernet


def fake_checkpoint(path, keys):
    """A safetensors file whose header lists `keys` ({name: shape}); the data is never read, so none is written."""
    header, offset = {}, 0
    for name, shape in keys.items():
        n = 2
        for d in shape:
            n *= d
        header[name] = {"dtype": "F16", "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
    return str(path)


XL_KEYS = {"conditioner.embedders.1.model.ln_final.weight": [1280],
           "model.diffusion_model.input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight": [640, 2048]}
SD2_KEYS = {"model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": [320, 1024]}
SD1_KEYS = {"model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": [320, 768]}


def tiny(sizes, name):
    return sd_hypernet.create(sizes, layer_structure=(1, 0.01, 1), name=name)


def cards(folder):
    from sd_hypernet.hosts import common
    from sd_hypernet.hosts.ui.page import HypernetworksPage
    host = common.current()
    host.library().scan()  # files written after start-up (the Refresh button)
    page = HypernetworksPage(host.library(), opt=host.opt, model_family=host.model_family)
    return {i["name"]: i for i in page.list_items()}, page


def test_checkpoint_headers_give_the_family(tmp_path):
    from sd_hypernet.hosts.adapters.checkpoint_family import checkpoint_file_family
    assert checkpoint_file_family(fake_checkpoint(tmp_path / "xl.safetensors", XL_KEYS)) == "sdxl"
    assert checkpoint_file_family(fake_checkpoint(tmp_path / "v2.safetensors", SD2_KEYS)) == "sd2"
    assert checkpoint_file_family(fake_checkpoint(tmp_path / "v1.safetensors", SD1_KEYS)) == "sd1"
    flux = {"double_blocks.0.img_attn.qkv.weight": [9216, 3072]}
    assert checkpoint_file_family(fake_checkpoint(tmp_path / "flux.safetensors", flux)) is None
    (tmp_path / "old.ckpt").write_bytes(b"PK pickle")
    assert checkpoint_file_family(str(tmp_path / "old.ckpt")) is None
    (tmp_path / "bad.safetensors").write_bytes(b"\xff" * 16)
    assert checkpoint_file_family(str(tmp_path / "bad.safetensors")) is None


def test_cards_follow_the_selected_checkpoint_before_the_first_load(forge, tmp_path):
    from modules import sd_models
    sd_hypernet.save_file(tiny([768], "sd1net"), str(forge.folder / "sd1net.safetensors"))
    sd_hypernet.save_file(tiny([2048, 640], "xlnet"), str(forge.folder / "xlnet.safetensors"))
    sd_models.select_checkpoint("ckpt", family="sd1", filename=fake_checkpoint(tmp_path / "v15.safetensors", SD1_KEYS))
    assert type(sd_models.model_data.sd_model).__name__ == "FakeInitialModel"  # nothing loaded yet
    items, _ = cards(forge.folder)
    assert set(items) == {"sd1net"}  # the SDXL card is hidden from the start
    sd_models.select_checkpoint("ckpt", family="sdxl", filename=fake_checkpoint(tmp_path / "xl.safetensors", XL_KEYS))
    items, _ = cards(forge.folder)
    assert set(items) == {"xlnet"}


def test_forge_filter_attribute_carries_our_family(forge):
    from modules import shared, ui_extra_networks
    sd_hypernet.save_file(tiny([768], "sd1net"), str(forge.folder / "sd1net.safetensors"))
    sd_hypernet.save_file(tiny([2048], "xlnet"), str(forge.folder / "xlnet.safetensors"))
    sd_hypernet.save_file(tiny([640, 1280], "selfonly"), str(forge.folder / "selfonly.safetensors"))
    shared.opts.data["hypernet_show_all"] = True
    items, page = cards(forge.folder)
    ui_extra_networks.register_page(page)
    html_text = page.create_html("txt2img")
    assert 'data-name="sd1net"' in html_text
    for name, version in (("sd1net", "SdVersion.SD1"), ("xlnet", "SdVersion.SDXL"), ("selfonly", "SdVersion.Unknown")):
        card = page.create_item_html("txt2img", items[name], ui_extra_networks.CARD_TEMPLATE)
        assert f'data-sort-SDversion="{version}"' in card, card
