"""Each kind of bad file gives a HypernetError that names the file and says what is wrong."""
import json
import os
import struct

import pytest
import torch
from safetensors.torch import save_file as save_tensors

import sd_hypernet
import sd_hypernet.info
from sd_hypernet import HypernetError


def expect_error(path, *words):
    with pytest.raises(HypernetError) as err:
        sd_hypernet.load_file(path)
    message = str(err.value)
    assert os.path.basename(str(path)) in message, message
    for word in words:
        assert word.lower() in message.lower(), message
    # a listing describes files from their header only: it must refuse every file a load refuses
    with pytest.raises(HypernetError) as header_err:
        sd_hypernet.info.describe_header(str(path))
    assert os.path.basename(str(path)) in str(header_err.value), str(header_err.value)
    return message


@pytest.fixture
def small_net():
    return sd_hypernet.create([8, 16], [1, 2, 1], "relu", weight_init="XavierNormal", name="small")


def test_truncated_pt(tmp_path, conformance):
    data = open(os.path.join(conformance, "linear_121.pt"), "rb").read()
    path = tmp_path / "cut.pt"
    path.write_bytes(data[: len(data) // 2])
    expect_error(path)


def test_truncated_safetensors(tmp_path, small_net):
    full = tmp_path / "full.safetensors"
    sd_hypernet.save_file(small_net, full)
    data = full.read_bytes()
    for n, cut in enumerate((len(data) - 10, len(data) // 2, 12, 5)):
        path = tmp_path / f"cut{n}.safetensors"
        path.write_bytes(data[:cut])
        expect_error(path)


@pytest.mark.parametrize("ext", [".pt", ".ckpt", ".safetensors"])
def test_empty_file(tmp_path, ext):
    path = tmp_path / f"empty{ext}"
    path.write_bytes(b"")
    expect_error(path, "empty")


@pytest.mark.parametrize("ext", [".pt", ".safetensors"])
def test_random_bytes(tmp_path, ext):
    path = tmp_path / f"noise{ext}"
    path.write_bytes(os.urandom(4096))
    expect_error(path)


def test_many_random_byte_files_all_get_a_clear_error(tmp_path):
    # seeded, so a rare failure shape (seed 355: an IndexError from the legacy unpickler) is always tried
    import random
    for seed in range(360):
        rng = random.Random(seed)
        path = tmp_path / f"noise{seed}.pt"
        path.write_bytes(bytes(rng.randrange(256) for _ in range(4096)))
        expect_error(path)


def test_safetensors_with_huge_header_length(tmp_path):
    path = tmp_path / "huge.safetensors"
    path.write_bytes(struct.pack("<Q", 1 << 40) + b"{}")
    expect_error(path)


def test_lora_dict_pt(tmp_path):
    path = tmp_path / "lora.pt"
    torch.save({"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": torch.zeros(4, 8),
                "lora_unet_down_blocks_0_attentions_0_proj_in.alpha": torch.tensor(4.0)}, path)
    expect_error(path, "lora")


def test_lora_safetensors(tmp_path):
    path = tmp_path / "lora.safetensors"
    save_tensors({"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": torch.zeros(4, 8),
                  "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight": torch.zeros(8, 4)},
                 str(path), metadata={"ss_network_module": "networks.lora"})
    expect_error(path, "lora")


def test_checkpoint_dict(tmp_path):
    path = tmp_path / "model.ckpt"
    torch.save({"state_dict": {"model.diffusion_model.out.0.weight": torch.zeros(2)}, "global_step": 10}, path)
    expect_error(path, "checkpoint")


def test_checkpoint_safetensors(tmp_path):
    path = tmp_path / "model.safetensors"
    save_tensors({"model.diffusion_model.out.0.weight": torch.zeros(2)}, str(path))
    expect_error(path, "checkpoint")


def test_non_hypernetwork_safetensors(tmp_path):
    path = tmp_path / "other.safetensors"
    save_tensors({"weight": torch.zeros(3)}, str(path))
    expect_error(path, "not a hypernetwork")


def test_safetensors_without_tensors_or_marker(tmp_path):
    path = tmp_path / "nothing.safetensors"
    save_tensors({}, str(path), metadata={"hello": "world"})
    expect_error(path)


def test_not_a_dict(tmp_path):
    path = tmp_path / "list.pt"
    torch.save([torch.zeros(2)], path)
    expect_error(path)


def test_dict_without_widths(tmp_path):
    path = tmp_path / "meta_only.pt"
    torch.save({"name": "x", "step": 3}, path)
    expect_error(path, "not a hypernetwork")


def test_width_not_a_pair(tmp_path):
    path = tmp_path / "odd.pt"
    torch.save({768: {"linear.0.weight": torch.zeros(2, 2)}}, path)
    expect_error(path, "768")


def test_shape_mismatch(tmp_path):
    # weights of a [1, 0.5, 1] network recorded as [1, 2, 1]
    other = sd_hypernet.create([8], [1, 0.5, 1], "linear")
    data = {8: tuple(m.state_dict() for m in other.layers[8]), "layer_structure": [1, 2, 1],
            "activation_func": "linear", "activate_output": False}
    path = tmp_path / "mismatch.pt"
    torch.save(data, path)
    expect_error(path, "8")


def test_missing_keys(tmp_path, small_net):
    k_sd, v_sd = (m.state_dict() for m in small_net.layers[8])
    del v_sd["linear.2.bias"]
    data = {8: (k_sd, v_sd), **{k: v for k, v in small_net.metadata.items()}}
    path = tmp_path / "missing.pt"
    torch.save(data, path)
    expect_error(path)


def test_unknown_activation(tmp_path, small_net):
    data = {8: tuple(m.state_dict() for m in small_net.layers[8]), **small_net.metadata}
    data["activation_func"] = "sparkle"
    path = tmp_path / "sparkle.pt"
    torch.save(data, path)
    expect_error(path, "sparkle")


def test_unknown_activation_safetensors(tmp_path, small_net):
    small_net.metadata["activation_func"] = "sparkle"
    path = tmp_path / "sparkle.safetensors"
    sd_hypernet.save_file(small_net, path)
    expect_error(path, "sparkle")


def test_wrong_format_version(tmp_path, small_net):
    good = tmp_path / "good.safetensors"
    sd_hypernet.save_file(small_net, good)
    from safetensors import safe_open
    with safe_open(str(good), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        meta = dict(f.metadata())
    meta["format_version"] = "99"
    path = tmp_path / "future.safetensors"
    save_tensors(tensors, str(path), metadata=meta)
    expect_error(path, "version")


def test_bad_tensor_name_in_safetensors(tmp_path, small_net):
    good = tmp_path / "good.safetensors"
    sd_hypernet.save_file(small_net, good)
    from safetensors import safe_open
    with safe_open(str(good), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        meta = dict(f.metadata())
    tensors["extra"] = torch.zeros(1)
    path = tmp_path / "extra.safetensors"
    save_tensors(tensors, str(path), metadata=meta)
    expect_error(path, "extra")


def test_missing_file(tmp_path):
    expect_error(tmp_path / "nowhere.pt", "not found")
    expect_error(tmp_path / "nowhere.safetensors", "not found")


@pytest.mark.parametrize("name", ["net.bin", "net.txt", "net"])
def test_unsupported_extension(tmp_path, name, small_net):
    path = tmp_path / name
    path.write_bytes(b"whatever")
    expect_error(path, "extension")
    with pytest.raises(HypernetError):
        sd_hypernet.save_file(small_net, tmp_path / f"out_{name}")


def test_directory_instead_of_file(tmp_path):
    folder = tmp_path / "dir.pt"
    folder.mkdir()
    expect_error(folder)


def test_bad_metadata_json_does_not_break(tmp_path, small_net):
    # a hand-written header value that is not JSON is kept as text, not an error
    good = tmp_path / "good.safetensors"
    sd_hypernet.save_file(small_net, good)
    from safetensors import safe_open
    with safe_open(str(good), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        meta = dict(f.metadata())
    meta["optional_info"] = "plain text, not json"
    path = tmp_path / "text.safetensors"
    save_tensors(tensors, str(path), metadata=meta)
    assert sd_hypernet.load_file(path).metadata["optional_info"] == "plain text, not json"
    assert json.loads(meta["layer_structure"]) == small_net.metadata["layer_structure"]


MALFORMED_METADATA = {
    "layer_structure_text_entry": {"layer_structure": [1, "a", 1]},
    "layer_structure_number": {"layer_structure": 5},
    "layer_structure_string": {"layer_structure": "1, 2, 1"},
    "dropout_structure_string": {"dropout_structure": "0, 0.1, 0"},
    "dropout_structure_none_entry": {"dropout_structure": [0, None, 0]},
    "activation_list": {"activation_func": ["relu"]},
    "name_is_a_tensor": {"name": torch.zeros(2)},
}


@pytest.mark.parametrize("case", sorted(MALFORMED_METADATA))
def test_malformed_metadata_is_a_hypernet_error(tmp_path, small_net, case):
    data = {8: tuple(m.state_dict() for m in small_net.layers[8]), **small_net.metadata}
    data.update(MALFORMED_METADATA[case])
    path = tmp_path / f"{case}.pt"
    torch.save(data, path)
    expect_error(path)


def test_negative_width_is_a_hypernet_error(tmp_path, small_net):
    path = tmp_path / "negative.pt"
    torch.save({-8: tuple(m.state_dict() for m in small_net.layers[8]), **small_net.metadata}, path)
    expect_error(path)


def test_structure_is_checked_before_allocating(tmp_path, small_net):
    # a tiny file must not make the loader build (allocate) modules far larger than its own tensors
    data = {8: tuple(m.state_dict() for m in small_net.layers[8]), **small_net.metadata}
    data["layer_structure"] = [1, 1e12, 1]
    path = tmp_path / "huge.pt"
    torch.save(data, path)
    expect_error(path)
