"""One UNet call computes the cross-attention context once, even with self-attention networks in between."""
import torch

import sd_hypernet
from sd_hypernet.hook import find_sites


def test_cross_context_computed_once_per_unet_call(tiny_unet, unet_inputs):
    x, t, ctx = unet_inputs
    torch.manual_seed(4)
    sites = find_sites(tiny_unet)
    n_self = sum(s.kind == "self" for s in sites)
    n_cross = sum(s.kind == "cross" for s in sites)
    assert n_self > 1 and n_cross > 1
    # widths 48 (cross), 32 and 64 (self): attn1 and attn2 alternate in every transformer block
    full = sd_hypernet.create([48, 32, 64], weight_init="XavierNormal", name="full")
    patcher = sd_hypernet.attach(tiny_unet)
    patcher.set_chain([(full, 0.7)])
    with torch.no_grad():
        tiny_unet(x, t, context=ctx.clone())  # a new context each call, as the webui's CFG denoiser makes it
    applier = patcher.applier
    patcher.remove()
    # each attn1 reads a new tensor (one computation, its to_v hits); the cross context: one computation
    assert applier.misses == n_self + 1, f"{applier.misses} computations for {n_self} self + 1 cross context"
    assert applier.hits == n_self + 2 * n_cross - 1
