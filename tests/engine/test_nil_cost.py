"""What the hooks cost, counted in calls of ours inside one UNet forward (an SD1-shaped ldm UNet: 16 cross- and
16 self-attention sites): nothing without a chain, only the sites a chain touches, a cache lookup per hooked
site. Counted with the interpreter's profiler, so it is exact and independent of the machine's speed."""
import pytest
import torch

import sd_hypernet
from sd_hypernet import ChainEntry

from call_count import calls_of_ours


def sd1_shaped_unet():
    from ldm.modules.diffusionmodules.openaimodel import UNetModel
    torch.manual_seed(0)
    return UNetModel(image_size=8, in_channels=4, out_channels=4, model_channels=32, attention_resolutions=(4, 2, 1),
                     num_res_blocks=2, channel_mult=(1, 2, 4, 4), num_heads=2, use_spatial_transformer=True,
                     transformer_depth=1, context_dim=768, legacy=False).eval()


@pytest.fixture(scope="module")
def unet():
    return sd1_shaped_unet()


@pytest.fixture(scope="module")
def inputs():
    torch.manual_seed(1)
    return torch.randn(2, 4, 8, 8), torch.tensor([500, 500]), torch.randn(2, 77, 768)


def forward(unet, inputs):
    x, t, ctx = inputs
    with torch.no_grad():
        return unet(x, timesteps=t, context=ctx)


def net(sizes, seed=0):
    torch.manual_seed(seed)
    return sd_hypernet.create(list(sizes), weight_init="XavierNormal", name=f"n{seed}")


def test_sd1_shape(unet):
    sites = sd_hypernet.attach(unet).sites
    assert sum(s.kind == "cross" for s in sites) == 16 and sum(s.kind == "self" for s in sites) == 16


def test_no_chain_no_hooks_no_calls_and_bit_identical(unet, inputs):
    plain = forward(unet, inputs)
    patcher = sd_hypernet.attach(unet)
    assert patcher.hook_count == 0
    assert calls_of_ours(lambda: forward(unet, inputs)) == 0
    patcher.set_chain([(net([768]), 1.0)])
    patcher.clear()
    assert patcher.hook_count == 0
    assert calls_of_ours(lambda: forward(unet, inputs)) == 0
    assert torch.equal(forward(unet, inputs), plain)
    patcher.remove()


@pytest.mark.parametrize("entry", [
    lambda: ChainEntry(net([768, 32, 64, 128]), 0.0),
    lambda: ChainEntry(net([768, 32, 64, 128]), 1.0, self_multiplier=0.0, cross_multiplier=0.0),
    lambda: ChainEntry(net([1024]), 1.0, force=True),  # a width this UNet does not have
])
def test_a_chain_that_changes_nothing_hooks_nothing(unet, inputs, entry):
    patcher = sd_hypernet.attach(unet)
    patcher.set_chain([entry()])
    assert patcher.hook_count == 0
    assert calls_of_ours(lambda: forward(unet, inputs)) == 0
    patcher.remove()


def test_cross_only_chain_hooks_only_cross_attention_and_costs_a_lookup_per_site(unet, inputs):
    patcher = sd_hypernet.attach(unet)
    patcher.set_chain([(net([768]), 1.0)])
    assert {s.kind for s in patcher.hooked} == {"cross"} and len(patcher.hooked) == 16
    calls = calls_of_ours(lambda: forward(unet, inputs))
    assert 0 < calls <= 3 * 16, calls
    patcher.remove()


def test_self_only_chain_hooks_only_self_attention(unet, inputs):
    patcher = sd_hypernet.attach(unet)
    patcher.set_chain([(net([32, 64, 128]), 1.0)])
    assert {s.kind for s in patcher.hooked} == {"self"} and len(patcher.hooked) == 16
    patcher.apply_to_self = False
    assert patcher.hook_count == 0
    patcher.remove()


def test_block_weights_hook_only_the_blocks_left_on(unet):
    patcher = sd_hypernet.attach(unet)
    patcher.set_chain([ChainEntry(net([768]), 1.0, block_weights={"IN01": 0.0, "MID": 0.0})])
    assert {s.block for s in patcher.hooked} == {s.block for s in patcher.sites if s.kind == "cross"} - {"IN01", "MID"}
    patcher.remove()


def test_hooked_results_equal_the_engine(unet, inputs):
    a, b = net([768, 32, 64, 128], 1), net([768], 2)
    chain = [ChainEntry(a, 0.7, self_multiplier=-0.4), ChainEntry(b, 1.2, block_weights={"OUT05": 0.0})]
    from engine_helpers import InputRecorder
    patcher = sd_hypernet.attach(unet)
    patcher.set_chain(chain)
    recorder = InputRecorder(unet)
    forward(unet, inputs)
    for site in patcher.sites:
        for i, which in enumerate(("to_k", "to_v")):
            key = f"{site.name}.{which}"
            want = sd_hypernet.apply_chain(chain, recorder.before[key], site.kind, site.block)[i]
            assert torch.allclose(recorder.after[key], want, atol=1e-6), key
    recorder.remove()
    patcher.remove()


def test_inference_mode_forward_matches_no_grad(unet, inputs):
    patcher = sd_hypernet.attach(unet)
    patcher.set_chain([(net([768, 32, 64, 128], 3), 0.9)])
    expected = forward(unet, inputs)
    x, t, ctx = inputs
    with torch.inference_mode():
        x_i, t_i, ctx_i = x.clone(), t.clone(), ctx.clone()
        got = unet(x_i, timesteps=t_i, context=ctx_i)
        again = unet(x_i, timesteps=t_i, context=ctx_i)
    assert torch.equal(got, expected) and torch.equal(again, expected)
    patcher.remove()


def test_a_failing_network_is_dropped_and_the_forward_completes(unet, inputs):
    plain = forward(unet, inputs)
    broken = net([768], 4)

    def fail(*args, **kwargs):
        raise RuntimeError("out of memory")
    broken.layers[768][0].forward = fail
    patcher = sd_hypernet.attach(unet)
    seen = []
    patcher.on_error = lambda names, e: seen.append((names, str(e)))
    patcher.set_chain([(broken, 1.0)])
    assert torch.equal(forward(unet, inputs), plain)
    assert seen == [("n4", "out of memory")]
    patcher.set_step(3, 10)  # a later step of the same generation still applies nothing
    assert torch.equal(forward(unet, inputs), plain)
    patcher.remove()
