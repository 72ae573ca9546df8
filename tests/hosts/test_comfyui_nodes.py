"""ComfyUI nodes on the ComfyUI stand-in (tests/standins/comfyui): the webui's numbers through the nodes, chains,
self/cross/lbw/start/end, the tag node, the family guard, nothing registered at strength 0, clone isolation,
device moves, sampling under inference_mode."""
from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import sys
import types

import pytest
import torch

from host_helpers import REPO, use_host

import sd_hypernet
from sd_hypernet.network import CONTEXT_DIM_FAMILY

CONFORMANCE = os.path.join(REPO, "..", "shared", "conformance")


def _tolerance(expected):
    return 1e-5 * max(1.0, expected.abs().max().item())


@pytest.fixture(scope="module")
def cases(conformance):
    with open(os.path.join(conformance, "cases.json"), encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture
def comfy(tmp_path, conformance):
    """The stand-in on sys.path, a hypernetworks folder holding the conformance files, the nodes imported."""
    folder = tmp_path / "hypernetworks"
    folder.mkdir()
    for name in os.listdir(conformance):
        if name.endswith(".pt"):
            shutil.copy(os.path.join(conformance, name), folder / name)
    with use_host("comfyui"):
        import folder_paths
        from comfy import model_management, samplers
        from comfy.ldm.modules.diffusionmodules.openaimodel import adopt
        from comfy.model_base import BaseModel
        from comfy.model_patcher import ModelPatcher

        from sd_hypernet.hosts.comfyui import files, nodes, patching

        folder_paths.set_folder("hypernetworks", [str(folder)])
        yield types.SimpleNamespace(
            folder=folder, folder_paths=folder_paths, nodes=nodes, patching=patching, files=files,
            samplers=samplers, model_management=model_management, adopt=adopt, BaseModel=BaseModel,
            ModelPatcher=ModelPatcher, loader=nodes.SDHypernetworkLoader(), tags=nodes.SDHypernetworkTags())
        model_management.unload_all_models()


def make_model(comfy, config, weights=None, dtype=torch.float32, seed=0):
    from ldm.modules.diffusionmodules.openaimodel import UNetModel

    torch.manual_seed(seed)
    unet = UNetModel(**config)
    if weights is not None:
        unet.load_state_dict(weights, strict=True)
    else:
        with torch.no_grad():  # ldm zero-initialises output projections: random values make every path matter
            for p in unet.parameters():
                p.normal_(0.0, 0.05)
    base = comfy.BaseModel(comfy.adopt(unet.eval()), dtype=dtype)
    return comfy.ModelPatcher(base, torch.device("cpu"), torch.device("cpu"))


def family_model(comfy, self_width=32, context_dim=768, dtype=torch.float32, heads=4):
    """A one-level UNet with attention at `self_width` and cross-attention from `context_dim` (SD1/SD2/SDXL's)."""
    config = dict(image_size=8, in_channels=4, out_channels=4, model_channels=self_width, attention_resolutions=[1],
                  num_res_blocks=1, channel_mult=(1,), num_heads=heads, use_spatial_transformer=True,
                  transformer_depth=1, context_dim=context_dim, legacy=False)
    return make_model(comfy, config, dtype=dtype)


def sd1_layout_model(comfy):
    """SD1's block layout (attention in IN01-IN08, MID, OUT03-OUT11: the 17 LBW blocks) at a tiny width."""
    config = dict(image_size=8, in_channels=4, out_channels=4, model_channels=32, attention_resolutions=[4, 2, 1],
                  num_res_blocks=2, channel_mult=(1, 2, 4, 4), num_heads=4, use_spatial_transformer=True,
                  transformer_depth=1, context_dim=768, legacy=False)
    return make_model(comfy, config)


def tiny_conformance_model(comfy, cases, dtype=torch.float32):
    from safetensors.torch import load_file
    weights = load_file(os.path.join(CONFORMANCE, cases["unet"]["weights"]))
    return make_model(comfy, cases["unet"]["config"], weights, dtype=dtype)


def patches(model, kind):
    lists = model.model_options["transformer_options"].get("patches", {})
    return list(lists.get({"self": "attn1_patch", "cross": "attn2_patch"}[kind], []))


def run_patches(model, kind, context, block=("input", 1), sigmas=None, extra=None):
    """What the block hands to_k/to_v after every registered patch of that kind, as BasicTransformerBlock calls them."""
    options = {"block": block, "block_index": 0, "sigmas": sigmas if sigmas is not None else torch.ones(1)}
    options.update(extra or {})
    n, k, v = context, context, context
    for p in patches(model, kind):
        n, k, v = p(n, k, v, options)
    return k, v


def unet_out(model, vectors):
    """The UNet as ComfyUI runs it (the MODEL's transformer options), under inference_mode, on the oracle's inputs."""
    with torch.inference_mode():
        options = dict(model.model_options["transformer_options"])
        options["sigmas"] = torch.ones(1)
        unet = model.get_model_object("diffusion_model")
        return unet(vectors["x"], vectors["t"], context=vectors["context"], transformer_options=options).clone()


def load(comfy, model, name, strength=1.0, **kw):
    return comfy.loader.load(model, name, strength, **kw)[0]


# -- the package: mappings, inputs, pyproject ------------------------------------------------------------------
def test_root_init_gives_the_nodes_in_comfyui_and_nothing_elsewhere(comfy):
    spec = importlib.util.spec_from_file_location("hn_root_in_comfy", os.path.join(REPO, "__init__.py"),
                                                  submodule_search_locations=[REPO])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert set(module.NODE_CLASS_MAPPINGS) == {"SDHypernetworkLoader", "SDHypernetworkTags"}
    assert module.NODE_DISPLAY_NAME_MAPPINGS["SDHypernetworkLoader"] == "Load Hypernetwork (exact)"
    assert module.NODE_DISPLAY_NAME_MAPPINGS["SDHypernetworkTags"] == "Hypernetwork tags"
    loader = module.NODE_CLASS_MAPPINGS["SDHypernetworkLoader"]
    inputs = loader.INPUT_TYPES()
    assert list(inputs["required"]) == ["model", "hypernetwork_name", "strength"]
    assert list(inputs["optional"]) == ["self_strength", "cross_strength", "lbw", "start_percent", "end_percent",
                                        "force"]
    assert "linear_121.pt" in inputs["required"]["hypernetwork_name"][0]
    assert (inputs["required"]["strength"][1]["min"], inputs["required"]["strength"][1]["max"]) == (-10.0, 10.0)
    assert loader.CATEGORY == "loaders/hypernetworks" and loader.RETURN_TYPES == ("MODEL",)
    tags = module.NODE_CLASS_MAPPINGS["SDHypernetworkTags"]
    assert list(tags.INPUT_TYPES()["required"]) == ["model", "text"] and tags.RETURN_TYPES == ("MODEL", "STRING")


def test_root_init_outside_comfyui_imports_nothing_of_ours(monkeypatch):
    for name in list(sys.modules):
        if name in ("folder_paths", "comfy") or name.startswith(("comfy.", "sd_hypernet.hosts.comfyui")):
            monkeypatch.delitem(sys.modules, name)
    spec = importlib.util.spec_from_file_location("hn_root_elsewhere", os.path.join(REPO, "__init__.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.NODE_CLASS_MAPPINGS == {} and module.NODE_DISPLAY_NAME_MAPPINGS == {}
    assert "sd_hypernet.hosts.comfyui.nodes" not in sys.modules


def test_example_workflows_match_the_nodes(comfy):
    from sd_hypernet import tags
    folder = os.path.join(REPO, "docs", "comfyui")
    with open(os.path.join(folder, "hypernetworks_api.json"), encoding="utf-8") as f:
        api = json.load(f)
    with open(os.path.join(folder, "hypernetworks_workflow.json"), encoding="utf-8") as f:
        ui = json.load(f)
    for cls_name, cls in comfy.nodes.NODE_CLASS_MAPPINGS.items():
        spec = cls.INPUT_TYPES()
        names = set(spec["required"]) | set(spec.get("optional", {}))
        in_api = [n for n in api.values() if n["class_type"] == cls_name]
        assert in_api and all(set(n["inputs"]) == names for n in in_api), cls_name
        in_ui = [n for n in ui["nodes"] if n["type"] == cls_name]
        widgets = [k for k in names if k != "model"]
        assert in_ui and all(len(n["widgets_values"]) == len(widgets) for n in in_ui), cls_name
    for items in tags.extract_tags(next(n for n in api.values() if n["class_type"] == "SDHypernetworkTags")[
            "inputs"]["text"])[0]:
        tags.parse_tag(items, "sd1")
    ids = {n["id"] for n in ui["nodes"]}
    assert all(link[1] in ids and link[3] in ids for link in ui["links"])


def test_only_the_comfyui_package_imports_comfyui():
    import ast
    found = []
    for folder, _, names in os.walk(os.path.join(REPO, "sd_hypernet")):
        for name in names:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
                mods = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
                if any(m.split(".")[0] in ("comfy", "folder_paths", "nodes", "comfy_extras") for m in mods):
                    found.append(os.path.relpath(path, REPO))
    assert found and all(p.startswith(os.path.join("sd_hypernet", "hosts", "comfyui")) for p in found), found


def test_pyproject_has_the_registry_section():
    import tomllib
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        data = tomllib.load(f)
    comfy = data["tool"]["comfy"]
    assert comfy["PublisherId"] and comfy["DisplayName"] and "Icon" in comfy
    assert data["project"]["name"] == "sd-webui-hypernetworks"


# -- exactness ----------------------------------------------------------------------------------------------------
def _case_model(comfy, sizes, dtype=torch.float32):
    cross = [d for d in sizes if d in CONTEXT_DIM_FAMILY]
    selfw = [d for d in sizes if d not in CONTEXT_DIM_FAMILY]
    return family_model(comfy, self_width=selfw[0] if selfw else 32, context_dim=cross[0] if cross else 768,
                        dtype=dtype, heads=8 if (selfw and selfw[0] >= 320) else 4)


@pytest.mark.parametrize("case", ["linear_121", "relu_half", "swish_ln", "gelu_dropout_1221", "prelu_out_ln",
                                  "mish_frac", "sd2_leakyrelu", "sdxl_silu", "legacy_nai",
                                  "legacy_no_activate_output", "legacy_dropout_no_structure", "sigmoid_deep"])
def test_every_conformance_file_through_the_loader_is_the_webui_and_the_engine(comfy, cases, case):
    from safetensors.torch import load_file
    info = cases["cases"][case]
    vectors = load_file(os.path.join(CONFORMANCE, f"{case}.vectors.safetensors"))
    model = _case_model(comfy, info["sizes"])
    engine = sd_hypernet.load_file(os.path.join(CONFORMANCE, f"{case}.pt"))
    for i, m in enumerate(cases["multipliers"]):
        out = load(comfy, model, f"{case}.pt", m)
        if m == 0:
            assert out is model, "strength 0 must register nothing"
            continue
        for size in info["sizes"]:
            kind = "cross" if size in CONTEXT_DIM_FAMILY else "self"
            x = vectors[f"x.{size}"]
            with torch.inference_mode():
                k, v = run_patches(out, kind, x)
                ek, ev = engine.transform(x, m)
            assert torch.equal(k, ek) and torch.equal(v, ev), f"{case} {size} m={m}: not the engine's numbers"
            for got, key in ((k, f"k.{size}.m{i}"), (v, f"v.{size}.m{i}")):
                err = (got - vectors[key]).abs().max().item()
                assert err <= _tolerance(vectors[key]), f"{case} {key}: max error {err:.3g}"


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_models_get_the_webui_numbers_within_their_rounding(comfy, cases, dtype):
    from safetensors.torch import load_file
    case = "swish_ln"
    vectors = load_file(os.path.join(CONFORMANCE, f"{case}.vectors.safetensors"))
    model = _case_model(comfy, cases["cases"][case]["sizes"], dtype=dtype)
    out = load(comfy, model, f"{case}.pt", 1.0)
    x = vectors["x.320"].to(dtype)
    with torch.inference_mode():
        k, v = run_patches(out, "self", x)
    assert k.dtype == dtype and v.dtype == dtype
    eps = torch.finfo(dtype).eps
    for got, key in ((k, "k.320.m0"), (v, "v.320.m0")):
        expected = vectors[key]
        # fp32 compute from the rounded input, one rounding of the result: a few ulps of the model dtype
        assert ((got.float() - expected).abs() <= 4 * eps * (expected.abs() + x.float().abs() + 1)).all()


def test_tiny_unet_through_chained_nodes_is_the_webui(comfy, cases):
    from safetensors.torch import load_file
    vectors = load_file(os.path.join(CONFORMANCE, cases["unet"]["vectors"]))
    model = tiny_conformance_model(comfy, cases)
    for run, chain in cases["unet"]["runs"].items():
        out = model
        for name, m in chain:
            out = load(comfy, out, name, m)
        got = unet_out(out, vectors)
        err = (got - vectors[f"out.{run}"]).abs().max().item()
        assert err <= 1e-4, f"run {run}: max error {err:.3g}"
        if len(chain) == 2:
            # the second node added to the first's chain: one patch per kind, one applier, in tag order
            assert len(patches(out, "cross")) == 1 and len(patches(out, "self")) == 1
            assert [e.name for e in comfy.patching.chain_of(out)] == [os.path.splitext(n)[0] for n, _ in chain]
    assert patches(model, "cross") == [], "the input MODEL is never changed"


@pytest.mark.parametrize("index", [0, 1, 2, 3])
def test_two_chained_loaders_give_the_webui_chain(comfy, cases, index):
    from safetensors.torch import load_file
    spec = cases["chains"][index]
    vectors = load_file(os.path.join(CONFORMANCE, spec["file"]))
    size = spec["size"]
    model = family_model(comfy, self_width=size, context_dim=768, heads=8)
    out = model
    for name, m in spec["networks"]:
        out = load(comfy, out, f"{name}.pt", m, force=True)
    with torch.inference_mode():
        k, v = run_patches(out, "self", vectors["x"])
    for got, key in ((k, "k"), (v, "v")):
        err = (got - vectors[key]).abs().max().item()
        assert err <= _tolerance(vectors[key]), f"chain {index} {key}: max error {err:.3g}"


def test_a_foreign_patch_between_two_loaders_keeps_the_order_and_the_numbers(comfy, cases):
    from safetensors.torch import load_file
    vectors = load_file(os.path.join(CONFORMANCE, cases["unet"]["vectors"]))
    model = tiny_conformance_model(comfy, cases)
    calls = []

    def foreign(n, context, value, extra_options):  # another node's attn2 patch: changes nothing, new tensors
        calls.append(extra_options["block"])
        return n, context * 1.0, value * 1.0

    first = load(comfy, model, "unet_a.pt", 0.8)
    between = first.clone()
    between.set_model_attn2_patch(foreign)
    out = load(comfy, between, "unet_b.pt", -0.5)
    kinds = [type(p).__name__ for p in patches(out, "cross")]
    assert kinds == ["AttnPatch", "function", "AttnPatch"]
    got = unet_out(out, vectors)
    assert calls, "the foreign patch ran"
    err = (got - vectors["out.a_b"]).abs().max().item()
    assert err <= 1e-4, f"max error {err:.3g}"


# -- self / cross / lbw / step range ------------------------------------------------------------------------------
def test_self_and_cross_strengths_register_only_what_they_change(comfy):
    model = family_model(comfy, self_width=640, context_dim=768, heads=8)  # relu_half: 640 (self) and 768 (cross)
    both = load(comfy, model, "relu_half.pt", 1.0)
    assert len(patches(both, "self")) == 1 and len(patches(both, "cross")) == 1
    cross_only = load(comfy, model, "relu_half.pt", 1.0, self_strength="0")
    assert patches(cross_only, "self") == [] and len(patches(cross_only, "cross")) == 1
    self_only = load(comfy, model, "relu_half.pt", 1.0, cross_strength=0.0)
    assert len(patches(self_only, "self")) == 1 and patches(self_only, "cross") == []
    net = sd_hypernet.load_file(os.path.join(CONFORMANCE, "relu_half.pt"))
    x = torch.randn(2, 5, 768)
    split = load(comfy, model, "relu_half.pt", 1.0, self_strength="0.3", cross_strength="-0.7")
    with torch.inference_mode():
        k, v = run_patches(split, "cross", x)
        ek, ev = net.transform(x, -0.7)
    assert torch.equal(k, ek) and torch.equal(v, ev)


def test_lbw_weights_follow_the_block_comfyui_reports(comfy):
    model = sd1_layout_model(comfy)
    net = sd_hypernet.load_file(os.path.join(CONFORMANCE, "mish_frac.pt"))  # cross-only (768)
    weights = ["1"] * 17
    weights[1] = "0"     # IN01
    weights[8] = "0.5"   # OUT03
    out = load(comfy, model, "mish_frac.pt", 1.0, lbw=",".join(weights))
    x = torch.randn(2, 5, 768)
    with torch.inference_mode():
        k_in1, _ = run_patches(out, "cross", x, block=("input", 1))
        k_out3, _ = run_patches(out, "cross", x, block=("output", 3))
        k_mid, _ = run_patches(out, "cross", x, block=("middle", 0))
        assert torch.equal(k_in1, x)
        assert torch.equal(k_out3, net.transform(x, 0.5)[0])
        assert torch.equal(k_mid, net.transform(x, 1.0)[0])
    preset = load(comfy, model, "mish_frac.pt", 1.0, lbw="OUTALL")
    with torch.inference_mode():
        assert torch.equal(run_patches(preset, "cross", x, block=("input", 1))[0], x)
        assert torch.equal(run_patches(preset, "cross", x, block=("output", 5))[0], net.transform(x, 1.0)[0])
    assert load(comfy, model, "mish_frac.pt", 1.0, lbw="NONE") is model


def test_start_and_end_percent_use_the_models_sigmas(comfy):
    model = family_model(comfy, self_width=32, context_dim=768)
    sampling = model.get_model_object("model_sampling")
    schedule = sampling.schedule(10)
    out = load(comfy, model, "mish_frac.pt", 1.0, start_percent=0.25, end_percent=0.6)
    hi, lo = sampling.percent_to_sigma(0.25), sampling.percent_to_sigma(0.6)
    x = torch.randn(2, 5, 768)
    seen = []
    with torch.inference_mode():
        for sigma in schedule[:-1]:
            k, _ = run_patches(out, "cross", x, sigmas=sigma.reshape(1).clone(), extra={"sample_sigmas": schedule})
            active = not torch.equal(k, x)
            assert active == (lo <= float(sigma) <= hi), f"sigma {float(sigma):.3f}"
            seen.append(active)
    assert any(seen) and not all(seen)


def test_tag_start_stop_count_steps_of_the_pass_schedule(comfy):
    model = family_model(comfy, self_width=32, context_dim=768)
    out, text = comfy.tags.apply(model, "a cat <hypernet:mish_frac:1:start=2:stop=4>")
    schedule = model.get_model_object("model_sampling").schedule(6)
    x = torch.randn(2, 5, 768)
    with torch.inference_mode():
        active = [not torch.equal(run_patches(out, "cross", x, sigmas=s.reshape(1).clone(),
                                              extra={"sample_sigmas": schedule})[0], x) for s in schedule[:-1]]
    assert active == [False, False, True, True, False, False]


# -- the tag node ------------------------------------------------------------------------------------------------
def test_tag_node_is_the_same_as_chained_loaders_and_strips_its_tags(comfy, cases):
    from safetensors.torch import load_file
    vectors = load_file(os.path.join(CONFORMANCE, cases["unet"]["vectors"]))
    model = tiny_conformance_model(comfy, cases)
    out, text = comfy.tags.apply(model, "a <lora:x:1> cat <hypernet:unet_a:0.8>, <hypernet:unet_b:-0.5> in snow")
    assert text == "a <lora:x:1> cat ,  in snow"
    err = (unet_out(out, vectors) - vectors["out.a_b"]).abs().max().item()
    assert err <= 1e-4
    chained = load(comfy, load(comfy, model, "unet_a.pt", 0.8), "unet_b.pt", -0.5)
    assert torch.equal(unet_out(out, vectors), unet_out(chained, vectors))
    same, text = comfy.tags.apply(model, "no tags")
    assert same is model and text == "no tags"


def test_tag_node_reports_bad_tags_by_name_and_applies_the_rest(comfy, caplog):
    model = family_model(comfy, self_width=32, context_dim=768)
    with caplog.at_level(logging.WARNING):
        out, text = comfy.tags.apply(model, "<hypernet:nosuchnet:1> <hypernet:mish_frac:1:lbw=BOGUS> "
                                            "<hypernet:mish_frac:0.5:self=x> <hypernet:mish_frac:0.7>")
    log = caplog.text
    assert "nosuchnet" in log and "lbw=BOGUS" in log and "self" in log
    assert [e.multiplier for e in comfy.patching.chain_of(out)] == [0.7]
    assert text.strip() == ""


# -- guard, bad values, nothing registered ------------------------------------------------------------------------
def test_sdxl_network_on_sd1_is_refused_by_name_unless_forced(comfy, caplog):
    model = family_model(comfy, self_width=640, context_dim=768, heads=8)
    with caplog.at_level(logging.WARNING):
        out = load(comfy, model, "sdxl_silu.pt", 1.0)
    assert out is model
    assert "sdxl_silu" in caplog.text and "SDXL" in caplog.text
    forced = load(comfy, model, "sdxl_silu.pt", 1.0, force=True)
    assert len(patches(forced, "self")) == 1 and patches(forced, "cross") == []  # only its 640 width fits


@pytest.mark.parametrize("kw, words", [
    (dict(lbw="1,2,3"), ["mish_frac", "lbw=1,2,3", "17"]),
    (dict(self_strength="abc"), ["mish_frac", "self_strength"]),
    (dict(cross_strength="nan"), ["mish_frac", "cross_strength"]),
    (dict(start_percent=0.7, end_percent=0.2), ["mish_frac", "end_percent"]),
    (dict(strength=float("inf")), ["mish_frac", "strength"]),
])
def test_bad_values_are_reported_by_name_and_the_model_passes_through(comfy, caplog, kw, words):
    model = family_model(comfy, self_width=32, context_dim=768)
    strength = kw.pop("strength", 1.0)
    with caplog.at_level(logging.WARNING):
        out = load(comfy, model, "mish_frac.pt", strength, **kw)
    assert out is model
    for word in words:
        assert word in caplog.text


def test_a_network_without_any_of_the_models_widths_is_named(comfy, caplog):
    model = family_model(comfy, self_width=32, context_dim=768)
    with caplog.at_level(logging.WARNING):
        out = load(comfy, model, "unet_b.pt", 1.0)  # widths 48 and 64: none of this model's (32, 768)
    assert out is model and "unet_b" in caplog.text and "48, 64" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert load(comfy, model, "mish_frac.pt", 0.0) is model
    assert caplog.text == "", "strength 0 is the user's choice: nothing to report"


def test_a_broken_file_is_reported_by_name_not_raised(comfy, caplog):
    (comfy.folder / "broken.pt").write_bytes(b"not a checkpoint")
    model = family_model(comfy, self_width=32, context_dim=768)
    with caplog.at_level(logging.WARNING):
        out = load(comfy, model, "broken.pt", 1.0)
    assert out is model and "broken" in caplog.text


def test_strength_zero_and_zero_blocks_register_nothing(comfy):
    model = family_model(comfy, self_width=320, context_dim=768, heads=8)
    assert load(comfy, model, "linear_121.pt", 0.0) is model
    assert load(comfy, model, "linear_121.pt", 1.0, self_strength="0", cross_strength="0") is model
    sd1 = sd1_layout_model(comfy)
    assert load(comfy, sd1, "mish_frac.pt", 1.0, lbw="1," + ",".join(["0"] * 16)) is sd1  # BASE is not the UNet
    assert load(comfy, sd1, "mish_frac.pt", 1.0, lbw="NONE") is sd1
    assert load(comfy, sd1, "mish_frac.pt", 1.0, lbw="INS") is not sd1
    assert load(comfy, model, "linear_121.pt", 1.0) is not model
    assert model.model_options["transformer_options"] == {}


def test_safetensors_file_is_the_same_as_its_pt(comfy, cases):
    from safetensors.torch import load_file
    (comfy.folder / "sub").mkdir()
    sd_hypernet.convert(str(comfy.folder / "unet_a.pt"), str(comfy.folder / "sub" / "unet_a_st.safetensors"))
    assert "sub/unet_a_st.safetensors" in comfy.nodes.SDHypernetworkLoader.INPUT_TYPES()["required"][
        "hypernetwork_name"][0]
    vectors = load_file(os.path.join(CONFORMANCE, cases["unet"]["vectors"]))
    model = tiny_conformance_model(comfy, cases)
    from_pt = unet_out(load(comfy, model, "unet_a.pt", 1.0), vectors)
    from_st = unet_out(load(comfy, model, "sub/unet_a_st.safetensors", 1.0), vectors)
    assert torch.equal(from_pt, from_st)
    assert (from_st - vectors["out.a1"]).abs().max().item() <= 1e-4


def test_a_replaced_file_changes_the_loaders_is_changed_key(comfy):
    loader = comfy.nodes.SDHypernetworkLoader
    before = loader.IS_CHANGED(hypernetwork_name="mish_frac.pt", strength=1.0)
    assert before and loader.IS_CHANGED(hypernetwork_name="mish_frac.pt") == before
    shutil.copy(os.path.join(CONFORMANCE, "relu_half.pt"), comfy.folder / "mish_frac.pt")
    assert loader.IS_CHANGED(hypernetwork_name="mish_frac.pt") != before
    assert loader.IS_CHANGED(hypernetwork_name="gone.pt") == ""


# -- the model patcher: clones, moves, sampling --------------------------------------------------------------------
def test_a_clone_shares_no_mutable_state_with_its_source(comfy, cases):
    model = tiny_conformance_model(comfy, cases)
    out = load(comfy, model, "unet_a.pt", 1.0)
    clone = out.clone()
    ours, theirs = patches(out, "cross")[0], patches(clone, "cross")[0]
    assert ours is not theirs and ours.chain is not theirs.chain
    assert ours.chain.applier is not theirs.chain.applier
    assert patches(clone, "self")[0].chain is theirs.chain, "a clone's attn1 and attn2 patches still share one chain"
    assert [e.network for e in theirs.chain.entries] == [e.network for e in ours.chain.entries]  # read-only weights
    noise, pos, neg = torch.randn(1, 4, 8, 8), torch.randn(1, 5, 48), torch.randn(1, 5, 48)
    before = (ours.chain.applier.hits, ours.chain.applier.misses)
    comfy.samplers.sample(clone, noise, pos, neg, steps=2)
    assert (ours.chain.applier.hits, ours.chain.applier.misses) == before
    assert theirs.chain.applier.misses > 0
    extended = load(comfy, clone, "unet_b.pt", 0.5)
    assert [e.name for e in comfy.patching.chain_of(clone)] == ["unet_a"]
    assert [e.name for e in comfy.patching.chain_of(extended)] == ["unet_a", "unet_b"]


def test_model_patches_to_moves_private_copies_and_dtype_changes_nothing(comfy, cases):
    model = tiny_conformance_model(comfy, cases)
    out = load(comfy, model, "unet_a.pt", 1.0)
    other = out.clone()
    shared = out.model_options["transformer_options"]["patches"]["attn2_patch"][0].chain.entries[0].network
    out.model_patches_to(torch.device("meta"))
    out.model_patches_to(torch.float16)
    moved = patches(out, "cross")[0].chain
    assert all(n.device().type == "meta" for n in moved.networks)
    assert all(p.dtype == torch.float32 for n in moved.networks for p in n.parameters())
    assert patches(out, "self")[0].chain is moved
    assert shared.device().type == "cpu", "the library's network stays where it is"
    assert all(n.device().type == "cpu" for n in patches(other, "cross")[0].chain.networks)
    out.model_patches_to(torch.device("cpu"))
    assert moved.networks == [shared]


def test_sampling_under_inference_mode_load_and_unload(comfy, cases):
    model = tiny_conformance_model(comfy, cases)
    noise, pos, neg = torch.randn(1, 4, 8, 8), torch.randn(1, 5, 48), torch.randn(1, 5, 48)
    plain = comfy.samplers.sample(model, noise, pos, neg, steps=3)
    out = load(comfy, model, "unet_b.pt", 1.0, self_strength="0")  # cross only
    chain = patches(out, "cross")[0].chain
    got = comfy.samplers.sample(out, noise, pos, neg, steps=3)
    assert got.is_inference() and not torch.equal(got, plain)
    # cross-attention: one evaluation per model call (3 steps), every other layer a cache hit
    assert chain.applier.misses == 3 and chain.applier.hits > 0
    assert comfy.model_management.current_loaded_models == [model, out]
    comfy.model_management.unload_all_models()
    assert all(n.device().type == "cpu" for n in chain.networks)
    again = comfy.samplers.sample(out, noise, pos, neg, steps=3)
    assert torch.equal(again, got)
    assert torch.equal(comfy.samplers.sample(load(comfy, model, "unet_b.pt", 0.0), noise, pos, neg, steps=3), plain)


def test_a_network_failing_inside_sampling_is_dropped_and_named(comfy, cases, caplog, monkeypatch):
    model = tiny_conformance_model(comfy, cases)
    out = load(comfy, model, "unet_b.pt", 1.0)
    net = patches(out, "cross")[0].chain.networks[0]
    k_mod = net.layers[48][0]

    def boom(*args, **kwargs):
        raise RuntimeError("out of memory (simulated)")

    monkeypatch.setattr(k_mod, "forward", boom)
    noise, pos, neg = torch.randn(1, 4, 8, 8), torch.randn(1, 5, 48), torch.randn(1, 5, 48)
    with caplog.at_level(logging.WARNING):
        got = comfy.samplers.sample(out, noise, pos, neg, steps=2)
    assert torch.equal(got, comfy.samplers.sample(model, noise, pos, neg, steps=2))
    assert "unet_b" in caplog.text and "simulated" in caplog.text
