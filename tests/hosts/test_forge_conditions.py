"""Forge under the conditions the real one creates: inference tensors everywhere in sampling, nothing of ours
registered when no tag applies, only the attention kinds a chain changes, and a failing network skipped."""
import pytest
import torch

from test_forge_generation import images, one_thread, sd1_unet, with_probe  # noqa: F401  (autouse fixture)


def _patch_names(probe_entry):
    _, _, patches = probe_entry
    return {name for name, fns in patches.items()
            if any(getattr(f, "_sd_hypernet_patch", False) for f in fns)}


def test_sampling_sees_inference_tensors(forge):
    forge.network("alpha")
    forge.load_model(sd1_unet())
    seen = []
    from sd_hypernet.hosts.adapters import forge as forge_host
    original = forge_host.make_patch

    def spying(applier, steps, kind, on_step, on_error):
        inner = original(applier, steps, kind, on_step, on_error)

        def patch(n, context, value, extra_options):
            seen.append((context.is_inference(), extra_options["sigmas"].is_inference(), torch.is_inference_mode_enabled()))
            return inner(n, context, value, extra_options)
        patch._sd_hypernet_patch = True
        return patch
    forge_host.make_patch = spying
    try:
        forge.run_generation(forge.make_processing("<hypernet:alpha:1:start=1>", steps=3))
    finally:
        forge_host.make_patch = original
    assert seen and all(seen_one == (True, True, True) for seen_one in seen)


@pytest.mark.parametrize("prompt", ["<hypernet:missing:1>", "<hypernet:alpha:0>", "<hypernet:alpha:1:self=0:cross=0>"])
def test_a_tag_that_applies_nothing_registers_nothing_and_changes_no_pixel(forge, prompt):
    forge.network("alpha")
    forge.load_model(sd1_unet())
    plain_p = forge.make_processing("a cat ", steps=2)  # what the prompt reads once the tag is stripped
    forge.run_generation(plain_p)
    plain = images(forge)
    p = forge.make_processing(f"a cat {prompt}", steps=2)
    probe = with_probe(p)
    before = p.sd_model.forge_objects_after_applying_lora.unet
    forge.run_generation(p)
    assert probe.seen and all(_patch_names(e) == set() for e in probe.seen)
    assert all(e[1] is before for e in probe.seen), "the UNet patcher was cloned although nothing applies"
    assert torch.equal(images(forge), plain)


@pytest.mark.parametrize("sizes,expected", [((768,), {"attn2_patch"}), ((32, 64), {"attn1_patch"}),
                                            ((768, 32, 64), {"attn1_patch", "attn2_patch"})])
def test_only_the_attention_kinds_a_chain_changes_are_patched(forge, sizes, expected):
    forge.network("net", sizes=sizes)
    forge.load_model()
    p = forge.make_processing("<hypernet:net:1>", steps=1)
    probe = with_probe(p)
    got = forge.run_generation(p)
    assert _patch_names(probe.seen[0]) == expected
    assert {r.kind for r in got.changed()} == {"cross" if n == "attn2_patch" else "self" for n in expected}


def test_self_multiplier_zero_patches_only_cross_attention(forge):
    forge.network("alpha")
    forge.load_model()
    p = forge.make_processing("<hypernet:alpha:1:self=0>", steps=1)
    probe = with_probe(p)
    forge.run_generation(p)
    assert _patch_names(probe.seen[0]) == {"attn2_patch"}


def test_a_network_failing_mid_generation_is_skipped_and_named(forge, capsys):
    from sd_hypernet.hosts import common
    forge.network("alpha")
    forge.load_model()
    k_mod = common.current().library().load("alpha").layers[768][0]

    def broken(*args, **kwargs):
        raise RuntimeError("device lost")
    k_mod.forward = broken
    try:
        got = forge.run_generation(forge.make_processing("<hypernet:alpha:1>", steps=2))
    finally:
        del k_mod.forward
    assert len(forge.processed.images) == 1  # the image is made
    out = capsys.readouterr().out
    assert "skipped alpha" in out and "device lost" in out
    first_cross = next(i for i, r in enumerate(got) if r.kind == "cross")
    assert not [r for r in got[first_cross:] if not torch.equal(r.raw, r.received)], "applied after the failure"


def test_one_model_call_is_one_call_for_both_patches(forge):
    # attn1 and attn2 patches share the applier: a model call starts the inference-tensor cache once
    from sd_hypernet import hook
    forge.network("alpha")  # self and cross widths: both patches registered
    forge.load_model()
    calls = []
    original = hook.ChainApplier.new_call

    def counted(self):
        calls.append(self)
        original(self)
    hook.ChainApplier.new_call = counted
    try:
        p = forge.make_processing("<hypernet:alpha:1>", steps=3)
        probe = with_probe(p)
        forge.run_generation(p)
    finally:
        hook.ChainApplier.new_call = original
    assert _patch_names(probe.seen[0]) == {"attn1_patch", "attn2_patch"}
    assert len(calls) == 3  # one batched (cond, uncond) model call per step
