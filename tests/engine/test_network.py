"""Module construction: webui key layout, activations, legacy defaults, eval mode."""
import os

import pytest
import torch

import sd_hypernet
from sd_hypernet import HypernetError
from sd_hypernet.network import HypernetworkModule


def param_indices(module):
    """Sequential indices that own parameters, e.g. {0: ('weight','bias'), 2: ...}."""
    found = {}
    for key in module.state_dict():
        _, index, pname = key.split(".")
        found.setdefault(int(index), set()).add(pname)
    return found


def test_keys_linear_121():
    m = HypernetworkModule(8, [1, 2, 1], "linear")
    assert list(m.state_dict()) == ["linear.0.weight", "linear.0.bias", "linear.1.weight", "linear.1.bias"]
    assert m.linear[0].in_features == 8 and m.linear[0].out_features == 16
    assert m.linear[1].in_features == 16 and m.linear[1].out_features == 8


def test_keys_relu_no_activate_output():
    m = HypernetworkModule(8, [1, 2, 1], "relu", activate_output=False)
    assert [type(x) for x in m.linear] == [torch.nn.Linear, torch.nn.ReLU, torch.nn.Linear]
    assert param_indices(m) == {0: {"weight", "bias"}, 2: {"weight", "bias"}}


def test_keys_activate_output_adds_last_activation():
    m = HypernetworkModule(8, [1, 2, 1], "relu", activate_output=True)
    assert [type(x) for x in m.linear] == [torch.nn.Linear, torch.nn.ReLU, torch.nn.Linear, torch.nn.ReLU]


def test_keys_layer_norm_also_after_last_linear():
    m = HypernetworkModule(8, [1, 2, 1], "linear", is_layer_norm=True)
    assert [type(x) for x in m.linear] == [torch.nn.Linear, torch.nn.LayerNorm, torch.nn.Linear, torch.nn.LayerNorm]
    assert m.linear[1].normalized_shape == (16,) and m.linear[3].normalized_shape == (8,)
    assert param_indices(m) == {0: {"weight", "bias"}, 1: {"weight", "bias"}, 2: {"weight", "bias"},
                                3: {"weight", "bias"}}


def test_keys_swish_dropout_1221():
    m = HypernetworkModule(8, [1, 2, 2, 1], "swish", dropout_structure=[0, 0.1, 0.2, 0])
    kinds = [type(x) for x in m.linear]
    assert kinds == [torch.nn.Linear, torch.nn.Hardswish, torch.nn.Dropout, torch.nn.Linear, torch.nn.Hardswish,
                     torch.nn.Dropout, torch.nn.Linear]
    assert m.linear[2].p == pytest.approx(0.1) and m.linear[5].p == pytest.approx(0.2)
    assert sorted(param_indices(m)) == [0, 3, 6]


def test_prelu_has_a_weight_key():
    m = HypernetworkModule(8, [1, 2, 1], "prelu", activate_output=False)
    assert "linear.1.weight" in m.state_dict()
    assert isinstance(m.linear[1], torch.nn.PReLU)


def test_swish_is_hardswish_and_fractional_widths():
    m = HypernetworkModule(10, [1, 0.25, 1], "swish")
    assert isinstance(m.linear[1], torch.nn.Hardswish)
    assert m.linear[0].out_features == int(10 * 0.25) == 2


@pytest.mark.parametrize("name", sd_hypernet.USABLE_ACTIVATIONS)
def test_every_usable_activation_builds_and_runs(name):
    net = sd_hypernet.create([16], [1, 2, 1], activation_func=name, activate_output=True)
    x = torch.randn(2, 3, 16)
    k, v = net.transform(x, 1.0)
    assert k.shape == x.shape and v.shape == x.shape
    assert torch.isfinite(k).all() and torch.isfinite(v).all()


def test_usable_list_covers_the_webui_names():
    for name in ("linear", "relu", "leakyrelu", "elu", "swish", "tanh", "sigmoid", "gelu", "silu", "mish", "prelu",
                 "celu", "selu", "softplus", "softsign"):
        assert name in sd_hypernet.USABLE_ACTIVATIONS, name


@pytest.mark.parametrize("name", ["threshold", "glu", "softmax", "multiheadattention", "no_such_activation"])
def test_unusable_or_unknown_activation_names_the_file(tmp_path, name):
    # a file that records the bad activation, with weights for a plain [1,2,1] module
    good = sd_hypernet.create([8], [1, 2, 1], "linear")
    data = {8: tuple(m.state_dict() for m in good.layers[8])}
    data.update({"layer_structure": [1, 2, 1], "activation_func": name, "activate_output": False})
    path = tmp_path / f"bad_{name}.pt"
    torch.save(data, path)
    with pytest.raises(HypernetError) as err:
        sd_hypernet.load_file(path)
    assert f"bad_{name}.pt" in str(err.value)
    assert name in str(err.value)
    with pytest.raises(HypernetError):
        sd_hypernet.create([8], [1, 2, 1], activation_func=name)


def test_loaded_networks_are_in_eval_mode_dropout_inactive(conformance):
    net = sd_hypernet.load_file(os.path.join(conformance, "gelu_dropout_1221.pt"))
    assert not net.training
    assert any(isinstance(layer, torch.nn.Dropout) for layer in net.layers[320][0].linear)
    x = torch.randn(2, 5, 320)
    a, _ = net.transform(x)
    b, _ = net.transform(x)
    assert torch.equal(a, b), "dropout must be inactive at inference"


def test_loaded_networks_need_no_grad(conformance):
    # webui's eval_mode also freezes parameters; otherwise every call outside no_grad builds a graph
    # (which also keeps the context alive from the per-context cache)
    net = sd_hypernet.load_file(os.path.join(conformance, "linear_121.pt"))
    assert not any(p.requires_grad for p in net.parameters())
    k, _ = net.transform(torch.randn(2, 3, 320))
    assert k.grad_fn is None


def test_legacy_activate_output_defaults_true(conformance):
    net = sd_hypernet.load_file(os.path.join(conformance, "legacy_no_activate_output.pt"))
    assert net.metadata["activate_output"] is True
    assert isinstance(net.layers[320][0].linear[-1], torch.nn.Tanh)


def test_legacy_dropout_structure_rebuilt_shifts_indices(conformance):
    net = sd_hypernet.load_file(os.path.join(conformance, "legacy_dropout_no_structure.pt"))
    kinds = [type(x).__name__ for x in net.layers[320][0].linear]
    # [1,2,2,1], elu, layer norm, rebuilt dropout [0, 0.3, 0, 0]
    assert kinds == ["Linear", "ELU", "LayerNorm", "Dropout", "Linear", "ELU", "LayerNorm", "Linear", "LayerNorm"]
    assert net.metadata["use_dropout"] is True


def test_legacy_nai_linear1_linear2_renamed(conformance, tmp_path):
    net = sd_hypernet.load_file(os.path.join(conformance, "legacy_nai.pt"))
    assert list(net.layers[768][0].state_dict()) == ["linear.0.weight", "linear.0.bias", "linear.1.weight",
                                                     "linear.1.bias"]
    assert net.metadata["name"] == "legacy_nai"  # the file stem when the file has no name
    assert net.metadata["layer_structure"] == [1, 2, 1]
    # the renamed weights are the file's linear1/linear2 tensors
    raw = torch.load(os.path.join(conformance, "legacy_nai.pt"), map_location="cpu", weights_only=True)
    assert torch.equal(net.layers[768][1].linear[0].weight, raw[768][1]["linear1.weight"])
    assert torch.equal(net.layers[768][1].linear[1].bias, raw[768][1]["linear2.bias"])


def test_legacy_defaults_on_hand_made_old_file(tmp_path):
    """An old file with use_dropout and last_layer_dropout but no dropout_structure: webui's rebuild."""
    ref = HypernetworkModule(8, [1, 2, 1], "relu", activate_output=True, dropout_structure=[0, 0.3, 0])
    data = {8: (ref.state_dict(), ref.state_dict()), "layer_structure": [1, 2, 1], "activation_func": "relu",
            "use_dropout": True, "last_layer_dropout": True}
    path = tmp_path / "old.pt"
    torch.save(data, path)
    net = sd_hypernet.load_file(path)
    assert net.metadata["dropout_structure"] == [0, 0.3, 0]
    assert net.metadata["activate_output"] is True
    assert net.metadata["step"] == 0 and net.metadata["name"] == "old"
    assert [type(x) for x in net.layers[8][0].linear] == [torch.nn.Linear, torch.nn.ReLU, torch.nn.Dropout,
                                                          torch.nn.Linear, torch.nn.ReLU]


def test_forward_is_residual_times_multiplier():
    net = sd_hypernet.create([8], [1, 2, 1], "tanh", weight_init="XavierNormal")
    x = torch.randn(3, 8)
    k_mod = net.layers[8][0]
    with torch.no_grad():
        delta = k_mod.linear(x)
    k, _ = net.transform(x, 0.35)
    assert torch.allclose(k, x + delta * 0.35, atol=1e-6)
    k0, v0 = net.transform(x, 0.0)
    assert torch.equal(k0, x) and torch.equal(v0, x)


def test_bad_structures_are_refused():
    for ls in ([2, 1], [1], [1, 0, 1], [1, -1, 1]):
        with pytest.raises(HypernetError):
            sd_hypernet.create([8], ls)
    with pytest.raises(HypernetError):
        sd_hypernet.create([8], [1, 2, 1], dropout_structure=[0, 0.1])
    with pytest.raises(HypernetError):
        sd_hypernet.create([8], [1, 2, 1], dropout_structure=[0, 1.5, 0])


def test_family_from_sizes_and_metadata():
    SMALL = [1, 0.0625, 1]
    assert sd_hypernet.create([320, 768], SMALL).family == "sd1"
    assert sd_hypernet.create([1024], SMALL).family == "sd2"
    assert sd_hypernet.create([640, 2048], SMALL).family == "sdxl"
    assert sd_hypernet.create([320], SMALL).family is None
    assert sd_hypernet.create([320], SMALL, metadata={"sd_checkpoint_name": "sd_xl_base_1.0"}).family == "sdxl"
    assert sd_hypernet.family_for_context_dim(1024) == "sd2"
    assert sd_hypernet.CONTEXT_DIM == {"sd1": 768, "sd2": 1024, "sdxl": 2048}
