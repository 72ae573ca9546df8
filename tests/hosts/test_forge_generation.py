"""Whole generations on the Forge v2 stand-in: tags → attn1/attn2 patches on a clone of forge_objects.unet →
what the real ldm UNet's to_k/to_v receive equals what attach() feeds them → nothing left for the next one."""
import copy

import pytest
import torch

import sd_hypernet
from sd_hypernet import ChainEntry

from host_helpers import find_sites, use_host


@pytest.fixture(autouse=True)
def one_thread():
    # tiny convolutions: thread start-up costs more than the work on a shared 2-core runner
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def sd1_unet(seed=0):
    from backend.nn.unet import build_unet
    return build_unet("sd1", seed=seed)  # the real SD1 block layout: IN01..IN08, MID, OUT03..OUT11


class Probe:
    """An AlwaysVisible script after ours: what forge_objects.unet holds when each sampling pass starts."""

    def __init__(self):
        self.seen = []

    def show(self, is_img2img):
        from modules import scripts
        return scripts.AlwaysVisible

    def process_before_every_sampling(self, p, *args, **kwargs):
        unet = p.sd_model.forge_objects.unet
        patches = unet.model_options["transformer_options"].get("patches", {})
        self.seen.append((bool(p.is_hr_pass), unet, {k: list(v) for k, v in patches.items()}))

    def __getattr__(self, name):  # every other runner hook: nothing to do
        if name.startswith("__"):
            raise AttributeError(name)
        return lambda *a, **k: None


def with_probe(p):
    probe = Probe()
    p.scripts.alwayson_scripts.append(probe)
    return probe


def images(driver):
    return torch.stack(driver.processed.images)


def test_model_loads_lazily_and_host_sees_no_unet_before(forge):
    from modules import sd_models
    from sd_hypernet.hosts import common
    forge.network("alpha")
    sd_models.select_checkpoint("standin", "sd1", unet=sd1_unet())
    host = common.current()
    assert host.name == "forge" and host.unet() is None
    assert type(sd_models.model_data.sd_model).__name__ == "FakeInitialModel"  # Forge's placeholder
    forge.unet = sd_models.model_data.forge_loading_parameters["unet"]
    got = forge.run_generation(forge.make_processing("<hypernet:alpha:1>"))
    assert sd_models.model_data.loads == 1 and host.unet() is forge.unet
    assert got.changed() and got.matches([ChainEntry(forge.load("alpha"), 1.0)])


def test_patches_live_on_a_clone_for_one_pass_only(forge):
    forge.network("alpha")
    forge.load_model(sd1_unet())
    from modules import shared
    original = shared.sd_model.forge_objects_original.unet

    p = forge.make_processing("<hypernet:alpha:0.8>", steps=2)
    probe = with_probe(p)
    got = forge.run_generation(p)
    assert got.changed()
    [(hr, unet, patches)] = probe.seen
    assert unet is not original and unet.model is original.model  # a clone of the same UNet
    assert [len(patches.get("attn1_patch", [])), len(patches.get("attn2_patch", []))] == [1, 1]
    assert "patches" not in original.model_options["transformer_options"]
    assert shared.sd_model.forge_objects_after_applying_lora.unet is original

    p = forge.make_processing("cat", steps=2)
    probe = with_probe(p)
    got = forge.run_generation(p)
    assert got and not got.changed()
    assert probe.seen[0][2] == {}  # nothing registered when no tag is given


def test_unet_receives_what_attach_gives_and_the_image_matches(forge):
    forge.network("alpha", sizes=(768, 32, 64, 128))
    forge.network("beta", seed=2)
    unet = sd1_unet()
    forge.load_model(unet)
    alpha, beta = forge.load("alpha"), forge.load("beta")
    chain = [ChainEntry(alpha, 0.7, cross_multiplier=1.3), ChainEntry(beta, -0.4)]
    tag = "<hypernet:alpha:0.7:cross=1.3> <hypernet:beta:-0.4>"

    forge.run_generation(forge.make_processing("cat", steps=2))
    plain_images = images(forge)
    patched = forge.run_generation(forge.make_processing(f"cat {tag}", steps=2))
    patched_images = images(forge)
    assert len(patched.changed()) == len(patched) and patched.matches(chain)  # alpha has every width

    # The same generation with our Forge script left out and attach()'s pre-hooks instead.
    p = forge.make_processing(f"cat {tag}", steps=2)
    p.scripts.alwayson_scripts = [s for s in p.scripts.alwayson_scripts if type(s).__name__ != "HypernetworksForge"]
    patcher = sd_hypernet.attach(unet)
    try:
        patcher.set_chain(chain)
        hooked = forge.run_generation(p)
    finally:
        patcher.remove()
    assert [r.site for r in hooked] == [r.site for r in patched]
    for a, b in zip(patched, hooked):
        assert torch.allclose(a.received, b.received, atol=1e-6, rtol=1e-5), (a.site, a.which)
    assert torch.allclose(images(forge), patched_images, atol=1e-5)
    assert not torch.allclose(plain_images, patched_images, atol=1e-3)

    again = forge.run_generation(forge.make_processing("cat", steps=2))  # nothing leaks
    assert not again.changed() and torch.equal(images(forge), plain_images)


def test_hires_pass_gets_its_own_tags_and_one_patch_despite_two_calls(forge):
    forge.network("alpha")
    forge.network("beta", seed=2)
    forge.load_model()
    p = forge.make_processing("<hypernet:alpha:1>", steps=2, enable_hr=True, hr_prompt="<hypernet:beta:0.5>",
                              hr_second_pass_steps=2, denoising_strength=0.6)
    probe = with_probe(p)
    got = forge.run_generation(p)
    first, hires = [r for r in got if not r.hr], [r for r in got if r.hr]
    assert first and hires
    from host_helpers import Received
    assert Received(first).matches([ChainEntry(forge.load("alpha"), 1.0)])
    assert Received(hires).matches([ChainEntry(forge.load("beta"), 0.5)])
    assert [hr for hr, _, _ in probe.seen] == [False, True, True]  # Forge calls the hook twice in hires fix
    for _, _, patches in probe.seen:
        assert len(patches["attn1_patch"]) == 1 and len(patches["attn2_patch"]) == 1


def test_block_weights_follow_extra_options_block(forge):
    forge.network("alpha", sizes=(768, 32, 64, 128))
    forge.load_model(sd1_unet())
    # LoRA Block Weight order: BASE, IN01, IN02, IN04, IN05, IN07, IN08, MID, OUT03..OUT11; IN04 and OUT07 off
    lbw = "1,1,1,0,1,1,1,1,1,1,1,1,0,1,1,1,1"
    got = forge.run_generation(forge.make_processing(f"<hypernet:alpha:1:lbw={lbw}>", steps=1))
    off = {r.block for r in got if torch.equal(r.raw, r.received)}
    on = {r.block for r in got if not torch.equal(r.raw, r.received)}
    assert off == {"IN04", "OUT07"}
    assert on == {"IN01", "IN02", "IN05", "IN07", "IN08", "MID", "OUT03", "OUT04", "OUT05", "OUT06", "OUT08",
                  "OUT09", "OUT10", "OUT11"}
    entry = ChainEntry(forge.load("alpha"), 1.0, block_weights={"IN04": 0.0, "OUT07": 0.0})
    assert got.matches([entry])


def test_step_range_uses_the_sigma_of_each_call(forge):
    from sd_hypernet.hosts import common
    forge.network("alpha")
    forge.load_model()
    sites = find_sites(forge.unet)
    steps_seen = []
    host = common.current()
    original = host._on_step

    def spy(step, total):
        steps_seen.append((step, total))
        original(step, total)

    host._on_step = spy
    p = forge.make_processing("<hypernet:alpha:1:start=2:stop=4>", steps=5)
    got = forge.run_generation(p)
    per_call = [got[i:i + 2 * len(sites)] for i in range(0, len(got), 2 * len(sites))]
    assert [any(not torch.equal(r.raw, r.received) for r in c) for c in per_call] == [False, False, True, True,
                                                                                     False]
    assert steps_seen == [(i, 5) for i in range(5)]


def test_sigma_to_step_mapping_in_txt2img_and_img2img_passes():
    with use_host("forge"):
        from modules import processing, sd_samplers
        from sd_hypernet.hosts.adapters.forge import SigmaSteps
        from backend.modules.k_model import EpsPredictor
        from types import SimpleNamespace

        sampler = sd_samplers.KDiffusionSampler("Euler", SimpleNamespace(
            forge_objects=SimpleNamespace(unet=SimpleNamespace(model=SimpleNamespace(predictor=EpsPredictor())))))
        p = processing.StableDiffusionProcessingTxt2Img(prompt="x", steps=6, hr_second_pass_steps=8,
                                                        denoising_strength=0.5)
        p.sampler = sampler
        sched = sampler.get_sigmas(p, 6)
        tracker = SigmaSteps(p)
        assert [tracker.at(sched[i:i + 1]) for i in range(6)] == [(i, 6) for i in range(6)]
        midway = (sched[2:3] + sched[3:4]) / 2  # a second-order sampler's in-between call stays in its step
        assert tracker.at(midway) == (2, 6)

        p.is_hr_pass = True  # hires: exactly its own 8 steps, the tail of a int(8 / 0.5) = 16-step schedule
        tracker = SigmaSteps(p)
        hr = sampler.get_sigmas(p, 16)[16 - 7 - 1:]
        assert [tracker.at(hr[i:i + 1]) for i in range(8)] == [(i, 8) for i in range(8)]


def test_our_patches_survive_another_extensions_clone_as_the_same_functions(forge):
    forge.network("alpha")
    forge.load_model()
    p = forge.make_processing("<hypernet:alpha:1>", steps=1)
    probe = with_probe(p)
    forge.run_generation(p)
    unet = probe.seen[0][1]
    clone = unet.clone()  # Forge deep-copies model_options on every clone
    ours = unet.model_options["transformer_options"]["patches"]["attn2_patch"]
    theirs = clone.model_options["transformer_options"]["patches"]["attn2_patch"]
    assert theirs[0] is ours[0] and copy.deepcopy(ours[0]) is ours[0]


def test_forge_builtins_replaced_and_no_builtin_load(forge):
    from modules import extra_networks, shared, ui_extra_networks
    forge.network("alpha", ext=".pt")
    forge.load_model()
    forge.run_generation(forge.make_processing("<hypernet:alpha:1>", steps=1))
    assert type(extra_networks.extra_network_registry["hypernet"]).__name__ == "HypernetHandler"
    assert shared.loaded_hypernetworks == []
    pages = [pg for pg in ui_extra_networks.extra_pages if pg.name == "hypernetworks"]
    assert len(pages) == 1 and pages[0].title == "Hypernetworks"


def test_forge_registers_no_hypernetworks_page_by_itself():
    with use_host("forge"):
        from modules import ui_extra_networks
        ui_extra_networks.initialize()
        ui_extra_networks.register_default_pages()
        assert not [pg for pg in ui_extra_networks.extra_pages if pg.name == "hypernetworks"]
