"""Fine control on the real tiny ldm UNet: self/cross strengths, block weights, step ranges, the family guard."""
import os

import pytest
import torch

import sd_hypernet
from sd_hypernet import ChainEntry, Hypernetwork
from sd_hypernet.control import resolve_step
from engine_helpers import InputRecorder, build_ldm_unet, run_ldm

SMALL = [1, 0.0625, 1]  # wide networks, cheap to build


@pytest.fixture
def net_a(conformance):
    return sd_hypernet.load_file(os.path.join(conformance, "unet_a.pt"))  # widths 32, 48 (cross), 64


def subset(net, widths):
    return Hypernetwork({w: net.layers[w] for w in widths}, dict(net.metadata))


def layer_names(patcher, predicate):
    return {f"{s.name}.{which}" for s in patcher.sites if predicate(s) for which in ("to_k", "to_v")}


def outputs_with(unet, vectors, chain, step=None, total=None):
    patcher = sd_hypernet.attach(unet)
    patcher.set_chain(chain)
    patcher.set_step(step, total)
    out = run_ldm(unet, vectors)
    patcher.remove()
    return out


def test_self_zero_equals_cross_widths_only(ldm_unet, unet_vectors, net_a):
    only_cross = outputs_with(ldm_unet, unet_vectors, [(subset(net_a, [48]), 1.0)])
    patcher = sd_hypernet.attach(ldm_unet)
    patcher.set_chain([ChainEntry(net_a, 1.0, self_multiplier=0.0)])
    recorder = InputRecorder(ldm_unet)
    out = run_ldm(ldm_unet, unet_vectors)
    assert torch.equal(out, only_cross)
    assert not torch.equal(out, unet_vectors["out.none"])
    assert recorder.transformed() == layer_names(patcher, lambda s: s.kind == "cross")
    patcher.remove()


def test_cross_zero_equals_self_widths_only(ldm_unet, unet_vectors, net_a):
    only_self = outputs_with(ldm_unet, unet_vectors, [(subset(net_a, [32, 64]), 1.0)])
    patcher = sd_hypernet.attach(ldm_unet)
    patcher.set_chain([ChainEntry(net_a, 1.0, cross_multiplier=0.0)])
    recorder = InputRecorder(ldm_unet)
    out = run_ldm(ldm_unet, unet_vectors)
    assert torch.equal(out, only_self)
    assert recorder.transformed() == layer_names(patcher, lambda s: s.kind == "self")
    patcher.remove()


def test_self_and_cross_multipliers_reach_each_module(ldm_unet, unet_vectors, net_a):
    patcher = sd_hypernet.attach(ldm_unet)
    patcher.set_chain([ChainEntry(net_a, 1.0, self_multiplier=0.4, cross_multiplier=-1.5)])
    recorder = InputRecorder(ldm_unet)
    run_ldm(ldm_unet, unet_vectors)
    for site in patcher.sites:
        m = 0.4 if site.kind == "self" else -1.5
        for i, which in enumerate(("to_k", "to_v")):
            key = f"{site.name}.{which}"
            expected = net_a.transform(recorder.before[key], m)[i]
            assert torch.allclose(recorder.after[key], expected, atol=1e-6), key
    patcher.remove()


def test_patcher_received_records_inputs(ldm_unet, unet_vectors, net_a):
    patcher = sd_hypernet.attach(ldm_unet)
    patcher.set_chain([ChainEntry(net_a, 1.0, self_multiplier=0.0)])
    patcher.received = []
    run_ldm(ldm_unet, unet_vectors)
    context = unet_vectors["context"]
    changed = {name for name, _, t in patcher.received if not torch.equal(t, context) and t.shape[-1] == 48}
    assert changed == {s.name for s in patcher.sites if s.kind == "cross"}
    patcher.remove()


def test_block_names_of_tiny_unet(ldm_unet):
    patcher = sd_hypernet.attach(ldm_unet)
    assert {s.block for s in patcher.sites} == {"IN01", "IN03", "MID", "OUT00", "OUT01", "OUT02", "OUT03"}
    assert all(s.block in s.name.replace("input_blocks.", "IN0").replace("output_blocks.", "OUT0")
               or s.block == "MID" for s in patcher.sites)
    patcher.remove()


@pytest.mark.parametrize("block", ["IN01", "IN03", "MID", "OUT00", "OUT03"])
def test_one_block_at_zero_leaves_exactly_that_block(ldm_unet, unet_vectors, net_a, block):
    patcher = sd_hypernet.attach(ldm_unet)
    patcher.set_chain([ChainEntry(net_a, 1.0, block_weights={block: 0.0})])
    recorder = InputRecorder(ldm_unet)
    run_ldm(ldm_unet, unet_vectors)
    assert recorder.transformed() == layer_names(patcher, lambda s: s.block != block)
    patcher.remove()


def test_block_weight_scales_the_multiplier(ldm_unet, unet_vectors, net_a):
    patcher = sd_hypernet.attach(ldm_unet)
    patcher.set_chain([ChainEntry(net_a, 0.8, cross_multiplier=2.0, block_weights={"MID": 0.5})])
    recorder = InputRecorder(ldm_unet)
    run_ldm(ldm_unet, unet_vectors)
    for site in patcher.sites:
        m = (2.0 if site.kind == "cross" else 0.8) * (0.5 if site.block == "MID" else 1.0)
        key = f"{site.name}.to_v"
        assert torch.allclose(recorder.after[key], net_a.transform(recorder.before[key], m)[1], atol=1e-6), key
    patcher.remove()


def test_lbw_tag_on_unet(ldm_unet, unet_vectors, net_a):
    from sd_hypernet.tags import parse_tag
    # 17-value form; IN01 (2nd value) and MID (8th) at 0
    spec = parse_tag(["unet_a", "1", "lbw=1,0,1,1,1,1,1,0,1,1,1,1,1,1,1,1,1"])
    patcher = sd_hypernet.attach(ldm_unet)
    patcher.set_chain([spec.to_entry(net_a)])
    recorder = InputRecorder(ldm_unet)
    run_ldm(ldm_unet, unet_vectors)
    assert recorder.transformed() == layer_names(patcher, lambda s: s.block not in ("IN01", "MID"))
    patcher.remove()


def test_step_range_bit_identical_outside(ldm_unet, unet_vectors, net_a):
    none = run_ldm(ldm_unet, unet_vectors)
    always = outputs_with(ldm_unet, unet_vectors, [(net_a, 1.0)])
    assert not torch.equal(always, none)
    patcher = sd_hypernet.attach(ldm_unet)
    patcher.set_chain([ChainEntry(net_a, 1.0, start=2, stop=4)])
    for step in range(6):
        patcher.set_step(step, 10)
        misses = patcher.applier.misses
        out = run_ldm(ldm_unet, unet_vectors)
        if 2 <= step < 4:
            assert torch.equal(out, always), step
        else:
            assert torch.equal(out, none), step
            assert patcher.applier.misses == misses, "an inactive network must cost nothing"
    patcher.set_step(None)  # no step source: always active
    assert torch.equal(run_ldm(ldm_unet, unet_vectors), always)
    patcher.remove()


def test_fractional_range_follows_total_steps(ldm_unet, unet_vectors, net_a):
    none = run_ldm(ldm_unet, unet_vectors)
    patcher = sd_hypernet.attach(ldm_unet)
    patcher.set_chain([ChainEntry(net_a, 1.0, start=0.3, stop=0.5)])
    for total, active in ((10, {3, 4}), (20, {6, 7, 8, 9})):  # e.g. txt2img then a hires pass
        seen = set()
        for step in range(total):
            patcher.set_step(step, total)
            if not torch.equal(run_ldm(ldm_unet, unet_vectors), none):
                seen.add(step)
        assert seen == active, total
    patcher.remove()


def test_chain_with_one_entry_out_of_range(ldm_unet, unet_vectors, net_a, conformance):
    net_b = sd_hypernet.load_file(os.path.join(conformance, "unet_b.pt"))
    only_b = outputs_with(ldm_unet, unet_vectors, [(net_b, -0.5)])
    out = outputs_with(ldm_unet, unet_vectors, [ChainEntry(net_a, 0.8, start=5), (net_b, -0.5)], step=1, total=10)
    assert torch.equal(out, only_b)


def test_active_at_and_resolve_step():
    e = ChainEntry(None, start=2, stop=4)
    assert [e.active_at(s, 10) for s in range(6)] == [False, False, True, True, False, False]
    assert e.active_at(None, None)
    f = ChainEntry(None, start=0.25)
    assert not f.active_at(4, 20) and f.active_at(5, 20)
    assert resolve_step(0.5, 30) == 15 and resolve_step(3, 30) == 3 and resolve_step(None, 30) is None


def test_effective_multiplier():
    e = ChainEntry(None, 0.7, self_multiplier=0.2, block_weights={"IN04": 0.5})
    assert e.effective_multiplier("self", "IN04") == pytest.approx(0.1)
    assert e.effective_multiplier("cross", "IN04") == pytest.approx(0.35)
    assert e.effective_multiplier("cross", "OUT03") == pytest.approx(0.7)
    assert e.effective_multiplier() == pytest.approx(0.7)


def test_apply_chain_kind_and_block():
    net = sd_hypernet.create([16], weight_init="XavierNormal")
    ctx = torch.randn(2, 3, 16)
    entry = ChainEntry(net, 1.0, self_multiplier=0.0, block_weights={"MID": 0.5})
    k, v = sd_hypernet.apply_chain([entry], ctx, kind="self")
    assert torch.equal(k, ctx) and torch.equal(v, ctx)
    k, _ = sd_hypernet.apply_chain([entry], ctx, kind="cross", block="MID")
    assert torch.equal(k, net.transform(ctx, 0.5)[0])


# ---- the model-family guard ---------------------------------------------------------------------------------

@pytest.fixture
def unet768(cases):
    config = dict(cases["unet"]["config"], context_dim=768)
    return build_ldm_unet(config, seed=3)


@pytest.fixture
def vectors768(unet_vectors):
    torch.manual_seed(5)
    return {"x": unet_vectors["x"], "t": unet_vectors["t"], "context": torch.randn(2, 7, 768)}


def test_guard_refuses_sdxl_network_on_sd1_unet(unet768, vectors768):
    none = run_ldm(unet768, vectors768)
    assert torch.isfinite(none).all() and none.abs().max() > 0
    xl = sd_hypernet.create([32, 2048], SMALL, weight_init="XavierNormal", name="xl")
    patcher = sd_hypernet.attach(unet768)
    assert patcher.context_dim == 768 and patcher.family == "sd1"
    refused = patcher.set_chain([ChainEntry(xl, 1.0, label="xl")])
    assert len(refused) == 1 and refused[0][0] == "xl"
    assert "2048" in refused[0][1] and "force" in refused[0][1]
    assert patcher.refused == refused
    assert torch.equal(run_ldm(unet768, vectors768), none)

    assert patcher.set_chain([ChainEntry(xl, 1.0, force=True)]) == []
    assert not torch.equal(run_ldm(unet768, vectors768), none)
    patcher.remove()


def test_a_forced_network_sharing_no_width_with_the_model_is_refused_and_named(unet768, vectors768):
    # an SD1 network forced onto SDXL matches no layer: it would change nothing, so it must not be reported
    # (or hashed into the infotext) as applied
    none = run_ldm(unet768, vectors768)
    elsewhere = sd_hypernet.create([1024, 320], SMALL, weight_init="XavierNormal", name="elsewhere")
    patcher = sd_hypernet.attach(unet768)
    refused = patcher.set_chain([ChainEntry(elsewhere, 1.0, force=True, label="elsewhere")])
    assert [label for label, _ in refused] == ["elsewhere"]
    assert "nothing of it fits this model" in refused[0][1] and "(320, 1024)" in refused[0][1]
    assert patcher.hook_count == 0 and torch.equal(run_ldm(unet768, vectors768), none)
    patcher.remove()


def test_guard_keeps_the_rest_of_the_chain(unet768, vectors768):
    xl = sd_hypernet.create([32, 2048], SMALL, weight_init="XavierNormal", name="xl")
    sd1 = sd_hypernet.create([64, 768], SMALL, weight_init="XavierNormal", name="sd1")
    alone = outputs_with(unet768, vectors768, [(sd1, 0.9)])
    patcher = sd_hypernet.attach(unet768)
    refused = patcher.set_chain([(xl, 1.0), (sd1, 0.9)])
    assert [label for label, _ in refused] == ["xl"]
    assert torch.equal(run_ldm(unet768, vectors768), alone)
    patcher.remove()


def test_guard_allows_self_attention_only_network(unet768, vectors768):
    none = run_ldm(unet768, vectors768)
    selfish = sd_hypernet.create([32, 64], weight_init="XavierNormal")
    patcher = sd_hypernet.attach(unet768)
    assert patcher.set_chain([(selfish, 1.0)]) == []
    assert not torch.equal(run_ldm(unet768, vectors768), none)
    patcher.remove()


def test_guard_uses_recorded_base_model_without_cross_width(unet768):
    recorded_xl = sd_hypernet.create([32, 64], metadata={"sd_checkpoint_name": "sd_xl_base_1.0"})
    patcher = sd_hypernet.attach(unet768)
    refused = patcher.set_chain([(recorded_xl, 1.0)])
    assert len(refused) == 1 and "SDXL" in refused[0][1]
    assert patcher.set_chain([ChainEntry(recorded_xl, 1.0, force=True)]) == []
    patcher.remove()


def test_check_family_directly():
    sd1 = sd_hypernet.create([768], SMALL)
    assert sd_hypernet.check_family(sd1, 768) is None
    assert sd_hypernet.check_family(sd1, 1024) is not None
    assert sd_hypernet.check_family(sd_hypernet.create([2048, 640], SMALL), 2048) is None
    assert sd_hypernet.check_family(sd_hypernet.create([320, 640], SMALL), 2048) is None
