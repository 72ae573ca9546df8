"""Our .safetensors format: tensor names, JSON metadata with a marker, lossless round trips, no pickle."""
import json
import os
import pickle

import pytest
import torch
from safetensors import safe_open

import sd_hypernet
from sd_hypernet import formats

ROUND_TRIP_CASES = ["linear_121", "prelu_out_ln", "gelu_dropout_1221", "legacy_nai", "legacy_dropout_no_structure",
                    "sdxl_silu"]


def test_tensor_names_and_header(tmp_path):
    net = sd_hypernet.create([8, 16], [1, 2, 1], "prelu", is_layer_norm=True, name="named",
                             metadata={"optional_info": "hello", "step": 42})
    path = tmp_path / "n.safetensors"
    sd_hypernet.save_file(net, path)
    with safe_open(str(path), framework="pt") as f:
        names = set(f.keys())
        header = f.metadata()
    expected = {f"{dim}.{which}.{key}" for dim in (8, 16) for which, mod in zip("kv", net.layers[dim])
                for key in mod.state_dict()}
    assert names == expected
    assert "8.k.linear.1.weight" in names  # prelu weight
    assert header["format"] == formats.FORMAT_VALUE
    assert int(header["format_version"]) == formats.FORMAT_VERSION
    for key, value in net.metadata.items():
        assert json.loads(header[key]) == value, key
    assert json.loads(header["step"]) == 42 and json.loads(header["name"]) == "named"


def _same_outputs(a, b, sizes):
    torch.manual_seed(1)
    for size in sizes:
        x = torch.randn(2, 5, size)
        for m in (1.0, -0.8):
            ka, va = a.transform(x, m)
            kb, vb = b.transform(x, m)
            assert torch.equal(ka, kb) and torch.equal(va, vb), (size, m)


@pytest.mark.parametrize("case", ROUND_TRIP_CASES)
def test_pt_safetensors_pt_round_trip(tmp_path, conformance, case):
    original = sd_hypernet.load_file(os.path.join(conformance, f"{case}.pt"))
    st = tmp_path / f"{case}.safetensors"
    pt = tmp_path / f"{case}.pt"
    sd_hypernet.convert(os.path.join(conformance, f"{case}.pt"), str(st))
    sd_hypernet.convert(str(st), str(pt))
    via_st, via_pt = sd_hypernet.load_file(st), sd_hypernet.load_file(pt)
    assert via_st.sizes == via_pt.sizes == original.sizes
    assert via_st.metadata == original.metadata
    assert via_pt.metadata == original.metadata
    for a in (via_st, via_pt):
        for dim in original.sizes:
            for mod_a, mod_o in zip(a.layers[dim], original.layers[dim]):
                sd_a, sd_o = mod_a.state_dict(), mod_o.state_dict()
                assert list(sd_a) == list(sd_o)
                assert all(torch.equal(sd_a[k], sd_o[k]) and sd_a[k].dtype == sd_o[k].dtype for k in sd_o)
        _same_outputs(original, a, original.sizes)


def test_saved_pt_is_a_webui_style_dict(tmp_path):
    net = sd_hypernet.create([8], [1, 2, 1], "relu", name="w")
    path = tmp_path / "w.pt"
    sd_hypernet.save_file(net, path)
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert isinstance(raw[8], (tuple, list)) and len(raw[8]) == 2
    assert set(raw[8][0]) == {"linear.0.weight", "linear.0.bias", "linear.2.weight", "linear.2.bias"}
    for key in ("name", "layer_structure", "activation_func", "is_layer_norm", "weight_initialization",
                "use_dropout", "activate_output", "last_layer_dropout", "step", "sd_checkpoint",
                "sd_checkpoint_name"):
        assert key in raw, key


def test_save_is_atomic_and_leaves_no_temp(tmp_path):
    net = sd_hypernet.create([8])
    path = tmp_path / "a.safetensors"
    sd_hypernet.save_file(net, path)
    sd_hypernet.save_file(net, path)  # overwrite
    assert sorted(os.listdir(tmp_path)) == ["a.safetensors"]


def test_safetensors_load_never_unpickles(tmp_path, monkeypatch):
    net = sd_hypernet.create([8, 16], [1, 2, 1], "gelu", is_layer_norm=True)
    path = tmp_path / "n.safetensors"
    sd_hypernet.save_file(net, path)

    calls = []

    def forbidden(*args, **kwargs):
        calls.append(args)
        raise AssertionError("pickle used while loading safetensors")

    class ForbiddenUnpickler:
        def __init__(self, *args, **kwargs):
            forbidden()

    monkeypatch.setattr(pickle, "Unpickler", ForbiddenUnpickler)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(torch.serialization, "load", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    loaded = sd_hypernet.load_file(path)
    assert calls == []
    monkeypatch.undo()
    _same_outputs(net, loaded, [8, 16])
    # and the trap does work on a .pt
    pt = tmp_path / "n.pt"
    sd_hypernet.save_file(net, pt)
    monkeypatch.setattr(torch.serialization, "load", forbidden)
    with pytest.raises(AssertionError):
        sd_hypernet.load_file(pt)


def test_metadata_only_read(tmp_path):
    net = sd_hypernet.create([8], name="meta", metadata={"optional_info": {"nested": [1, 2.5, None]}})
    path = tmp_path / "m.safetensors"
    sd_hypernet.save_file(net, path)
    meta = formats.read_safetensors_metadata(str(path))
    assert meta["optional_info"] == {"nested": [1, 2.5, None]}
    assert meta["name"] == "meta"


def test_unserialisable_metadata_is_an_error(tmp_path):
    net = sd_hypernet.create([8], metadata={"bad": object()})
    with pytest.raises(sd_hypernet.HypernetError):
        sd_hypernet.save_file(net, tmp_path / "x.safetensors")
    assert not os.listdir(tmp_path)


def test_half_precision_file_loads_exactly_into_fp32(tmp_path):
    # webui keeps hypernetwork modules in fp32; fp16 values widen exactly
    net = sd_hypernet.create([8], weight_init="XavierNormal")
    net.to(dtype=torch.float16)
    path = tmp_path / "h.safetensors"
    sd_hypernet.save_file(net, path)
    with safe_open(str(path), framework="pt") as f:
        assert f.get_tensor("8.k.linear.0.weight").dtype == torch.float16
    back = sd_hypernet.load_file(path)
    w = back.layers[8][0].linear[0].weight
    assert w.dtype == torch.float32
    assert torch.equal(w, net.layers[8][0].linear[0].weight.float())
