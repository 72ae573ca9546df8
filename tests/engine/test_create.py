"""create(): the webui's weight initialisations and metadata."""
import math

import pytest
import torch

import sd_hypernet
from sd_hypernet import HypernetError
from sd_hypernet.network import HypernetworkModule


def layers_of(net, cls):
    for k_mod, v_mod in net.layers.values():
        for mod in (k_mod, v_mod):
            for layer in mod.linear:
                if type(layer) is cls:
                    yield layer


def test_normal_init_linear_and_layernorm():
    torch.manual_seed(0)
    net = sd_hypernet.create([256], [1, 2, 1], "relu", weight_init="Normal", is_layer_norm=True)
    linears, norms = list(layers_of(net, torch.nn.Linear)), list(layers_of(net, torch.nn.LayerNorm))
    assert len(linears) == 4 and len(norms) == 4
    for layer in linears + norms:
        w = layer.weight.detach()
        assert torch.count_nonzero(layer.bias) == 0
        if w.numel() >= 10000:
            assert abs(w.std().item() - 0.01) < 0.001, w.std()
            assert abs(w.mean().item()) < 0.001
    # LayerNorm gains are ~N(0, 0.01), not 1 as torch's default
    all_gains = torch.cat([n.weight.detach() for n in norms])
    assert all_gains.abs().max() < 0.1
    assert abs(all_gains.std().item() - 0.01) < 0.002


def _webui_init(module, weight_init, activation_func):
    """The webui's initialisation call sequence for one freshly built module."""
    gain = "leaky_relu" if activation_func == "leakyrelu" else "relu"
    for layer in module.linear:
        if type(layer) not in (torch.nn.Linear, torch.nn.LayerNorm):
            continue
        w, b = layer.weight.data, layer.bias.data
        if weight_init == "Normal" or type(layer) is torch.nn.LayerNorm:
            torch.nn.init.normal_(w, mean=0.0, std=0.01)
            torch.nn.init.normal_(b, mean=0.0, std=0)
        elif weight_init == "XavierUniform":
            torch.nn.init.xavier_uniform_(w)
            torch.nn.init.zeros_(b)
        elif weight_init == "XavierNormal":
            torch.nn.init.xavier_normal_(w)
            torch.nn.init.zeros_(b)
        elif weight_init == "KaimingUniform":
            torch.nn.init.kaiming_uniform_(w, nonlinearity=gain)
            torch.nn.init.zeros_(b)
        else:
            torch.nn.init.kaiming_normal_(w, nonlinearity=gain)
            torch.nn.init.zeros_(b)


@pytest.mark.parametrize("weight_init", sd_hypernet.WEIGHT_INITS)
@pytest.mark.parametrize("activation,layer_norm", [("leakyrelu", False), ("relu", False), ("tanh", True)])
def test_init_matches_webui_with_same_seed(weight_init, activation, layer_norm):
    ours = HypernetworkModule(24, [1, 2, 1], activation, is_layer_norm=layer_norm)
    theirs = HypernetworkModule(24, [1, 2, 1], activation, is_layer_norm=layer_norm)
    torch.manual_seed(123)
    ours.init_weights(weight_init, activation)
    torch.manual_seed(123)
    _webui_init(theirs, weight_init, activation)
    a, b = ours.state_dict(), theirs.state_dict()
    for key in a:
        assert torch.equal(a[key], b[key]), f"{weight_init}/{activation}: {key} differs from webui's init"


def test_create_matches_webui_sequence_with_same_seed():
    # webui builds and initialises k, then v, width by width (in the order given)
    torch.manual_seed(7)
    ours = sd_hypernet.create([8, 16], [1, 2, 1], "relu", weight_init="XavierNormal")
    torch.manual_seed(7)
    for dim in (8, 16):
        for mine in ours.layers[dim]:
            theirs = HypernetworkModule(dim, [1, 2, 1], "relu")
            _webui_init(theirs, "XavierNormal", "relu")
            for key, value in theirs.state_dict().items():
                assert torch.equal(mine.state_dict()[key], value), f"width {dim}: {key}"


@pytest.mark.parametrize("weight_init,fn", [("KaimingUniform", "kaiming_uniform_"),
                                            ("KaimingNormal", "kaiming_normal_")])
@pytest.mark.parametrize("activation,gain", [("leakyrelu", "leaky_relu"), ("relu", "relu"), ("gelu", "relu")])
def test_kaiming_gain(monkeypatch, weight_init, fn, activation, gain):
    seen = []
    real = getattr(torch.nn.init, fn)

    def spy(tensor, *args, **kwargs):
        if "a" in kwargs:  # torch's own default init while nn.Linear is built
            return real(tensor, *args, **kwargs)
        seen.append(kwargs.get("nonlinearity", args[2] if len(args) > 2 else None))
        return real(tensor, *args, **kwargs)

    monkeypatch.setattr(torch.nn.init, fn, spy)
    net = sd_hypernet.create([16], [1, 2, 1], activation, weight_init=weight_init)
    assert seen and set(seen) == {gain}
    assert len(seen) == 4  # two Linear layers in each of k and v
    assert all(torch.count_nonzero(layer.bias) == 0 for layer in layers_of(net, torch.nn.Linear))


@pytest.mark.parametrize("weight_init,bound", [
    ("XavierUniform", lambda fi, fo: math.sqrt(6 / (fi + fo))),
    ("KaimingUniform", lambda fi, fo: math.sqrt(2) * math.sqrt(3 / fi)),
])
def test_uniform_bounds(weight_init, bound):
    torch.manual_seed(0)
    net = sd_hypernet.create([128], [1, 2, 1], "relu", weight_init=weight_init)
    for layer in layers_of(net, torch.nn.Linear):
        limit = bound(layer.in_features, layer.out_features)
        w = layer.weight.detach()
        assert w.abs().max().item() <= limit + 1e-6
        assert w.abs().max().item() > 0.95 * limit


@pytest.mark.parametrize("weight_init,std", [
    ("XavierNormal", lambda fi, fo: math.sqrt(2 / (fi + fo))),
    ("KaimingNormal", lambda fi, fo: math.sqrt(2 / fi)),
])
def test_normal_stds(weight_init, std):
    torch.manual_seed(0)
    net = sd_hypernet.create([128], [1, 2, 1], "relu", weight_init=weight_init)
    for layer in layers_of(net, torch.nn.Linear):
        expected = std(layer.in_features, layer.out_features)
        assert abs(layer.weight.std().item() - expected) < 0.05 * expected


def test_bad_init_name():
    with pytest.raises(HypernetError) as err:
        sd_hypernet.create([8], weight_init="Uniformish")
    assert "Uniformish" in str(err.value)
    with pytest.raises(HypernetError):
        sd_hypernet.create([8], weight_init=None)


def test_metadata_fields():
    net = sd_hypernet.create([768, 320, 320], [1, 0.5, 1], "gelu", weight_init="XavierUniform", is_layer_norm=True,
                             dropout_structure=[0, 0.1, 0], activate_output=True, name="fresh",
                             metadata={"optional_info": "note"})
    assert net.sizes == [320, 768]
    meta = net.metadata
    assert meta["name"] == "fresh" and net.name == "fresh"
    assert meta["layer_structure"] == [1.0, 0.5, 1.0]
    assert meta["activation_func"] == "gelu"
    assert meta["weight_initialization"] == "XavierUniform"
    assert meta["is_layer_norm"] is True and meta["activate_output"] is True
    assert meta["use_dropout"] is True and meta["dropout_structure"] == [0, 0.1, 0]
    assert meta["step"] == 0 and meta["optional_info"] == "note"
    assert not net.training
    assert any(isinstance(x, torch.nn.Dropout) for x in net.layers[320][0].linear)


def test_create_needs_a_width():
    with pytest.raises(HypernetError):
        sd_hypernet.create([])


def test_k_and_v_are_independent():
    torch.manual_seed(0)
    net = sd_hypernet.create([32], weight_init="XavierNormal")
    k_mod, v_mod = net.layers[32]
    assert not torch.equal(k_mod.linear[0].weight, v_mod.linear[0].weight)
