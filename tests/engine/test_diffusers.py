"""A small diffusers UNet2DConditionModel: hooks equal a hand-made transform; remove() is exact; dtypes kept."""
import pytest
import torch

import sd_hypernet
from sd_hypernet.hook import site_block

diffusers = pytest.importorskip("diffusers")


def make_unet(cross_dim):
    torch.manual_seed(0)
    unet = diffusers.UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=(32, 64), layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=cross_dim, attention_head_dim=8, norm_num_groups=8)
    return unet.eval()


def run(unet, x, ctx):
    with torch.no_grad():
        return unet(x, 10, encoder_hidden_states=ctx).sample


def attention_layers(unet):
    return [(name, m) for name, m in unet.named_modules() if name.endswith(("attn1", "attn2"))]


@pytest.fixture(params=[32, 48])
def setup(request):
    cross_dim = request.param
    unet = make_unet(cross_dim)
    torch.manual_seed(1)
    x = torch.randn(2, 4, 8, 8)
    ctx = torch.randn(2, 7, cross_dim)
    # widths: 32 and 64 (self-attention), cross_dim (cross-attention; 32 collides with a self width)
    net_a = sd_hypernet.create([32, 64, cross_dim], [1, 2, 1], "tanh", weight_init="XavierNormal", name="a")
    net_b = sd_hypernet.create([64, cross_dim], [1, 0.5, 1], "relu", weight_init="KaimingNormal", name="b")
    return unet, x, ctx, [(net_a, 0.7), (net_b, -1.1)]


def test_sites_found(setup):
    unet, _, ctx, _ = setup
    patcher = sd_hypernet.attach(unet)
    assert len(patcher.sites) == len(attention_layers(unet)) == 14
    assert patcher.context_dim == ctx.shape[-1]
    assert {s.kind for s in patcher.sites if s.name.endswith("attn1")} == {"self"}
    assert {s.kind for s in patcher.sites if s.name.endswith("attn2")} == {"cross"}
    patcher.remove()


def test_hooked_output_equals_hand_transform(setup):
    unet, x, ctx, chain = setup
    plain = run(unet, x, ctx)

    # reference: independent pre-hooks that feed to_k/to_v apply_chain(context)
    handles = []
    for _, attn in attention_layers(unet):
        for which, layer in ((0, attn.to_k), (1, attn.to_v)):
            def hook(module, args, which=which):
                return (sd_hypernet.apply_chain(chain, args[0])[which],) + tuple(args[1:])
            handles.append(layer.register_forward_pre_hook(hook))
    expected = run(unet, x, ctx)
    for h in handles:
        h.remove()
    assert torch.equal(run(unet, x, ctx), plain)
    assert not torch.allclose(expected, plain, atol=1e-4)

    patcher = sd_hypernet.attach(unet)
    patcher.set_chain(chain)
    hooked = run(unet, x, ctx)
    assert torch.equal(hooked, expected)
    patcher.remove()
    assert torch.equal(run(unet, x, ctx), plain)


def test_clear_restores_output(setup):
    unet, x, ctx, chain = setup
    plain = run(unet, x, ctx)
    patcher = sd_hypernet.attach(unet)
    patcher.set_chain(chain)
    assert not torch.equal(run(unet, x, ctx), plain)
    patcher.clear()
    assert torch.equal(run(unet, x, ctx), plain)
    patcher.remove()


def test_state_dict_unchanged(setup):
    unet, x, ctx, chain = setup
    keys = list(unet.state_dict())
    patcher = sd_hypernet.attach(unet)
    patcher.set_chain(chain)
    run(unet, x, ctx)
    assert list(unet.state_dict()) == keys
    patcher.remove()


def test_bf16_unet_keeps_dtype(setup):
    unet, x, ctx, chain = setup
    unet = unet.to(torch.bfloat16)
    seen = []
    patcher = sd_hypernet.attach(unet)
    patcher.set_chain(chain)
    for _, attn in attention_layers(unet):
        attn.to_k.register_forward_pre_hook(lambda m, args: seen.append(args[0].dtype))
    out = run(unet, x.bfloat16(), ctx.bfloat16())
    assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()
    assert seen and set(seen) == {torch.bfloat16}
    # networks stay fp32
    assert {p.dtype for net, _ in chain for p in net.parameters()} == {torch.float32}
    patcher.remove()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_network_transform_keeps_low_precision_dtype(dtype):
    net = sd_hypernet.create([48], [1, 2, 1], "gelu", weight_init="XavierNormal")
    ctx = torch.randn(2, 7, 48).to(dtype)
    k, v = net.transform(ctx, 0.9)
    assert k.dtype == dtype and v.dtype == dtype
    # computed in fp32, then cast back
    k32, v32 = net.transform(ctx.float(), 0.9)
    assert torch.equal(k, k32.to(dtype)) and torch.equal(v, v32.to(dtype))
    ck, cv = sd_hypernet.apply_chain([(net, 0.9)], ctx)
    assert ck.dtype == dtype and torch.equal(ck, k)


def test_block_names_of_sd_layout():
    # SD1/SD2 diffusers layout: layers_per_block 2
    assert site_block("down_blocks.0.attentions.0.transformer_blocks.0.attn1") == "IN01"
    assert site_block("down_blocks.0.attentions.1.transformer_blocks.0.attn2") == "IN02"
    assert site_block("down_blocks.1.attentions.0.transformer_blocks.0.attn1") == "IN04"
    assert site_block("down_blocks.1.attentions.1.transformer_blocks.0.attn1") == "IN05"
    assert site_block("down_blocks.2.attentions.0.transformer_blocks.0.attn1") == "IN07"
    assert site_block("down_blocks.2.attentions.1.transformer_blocks.0.attn1") == "IN08"
    assert site_block("mid_block.attentions.0.transformer_blocks.0.attn2") == "MID"
    assert site_block("up_blocks.1.attentions.0.transformer_blocks.0.attn1") == "OUT03"
    assert site_block("up_blocks.1.attentions.2.transformer_blocks.0.attn1") == "OUT05"
    assert site_block("up_blocks.2.attentions.0.transformer_blocks.0.attn1") == "OUT06"
    assert site_block("up_blocks.3.attentions.2.transformer_blocks.0.attn2") == "OUT11"
    # SDXL: deeper transformer stacks, same numbering rule
    assert site_block("down_blocks.1.attentions.0.transformer_blocks.1.attn1") == "IN04"
    assert site_block("down_blocks.2.attentions.1.transformer_blocks.9.attn2") == "IN08"
    assert site_block("up_blocks.0.attentions.2.transformer_blocks.3.attn1") == "OUT02"
    assert site_block("up_blocks.1.attentions.0.transformer_blocks.0.attn1") == "OUT03"
    # ldm/sgm names, with the webui's prefix
    assert site_block("model.diffusion_model.input_blocks.7.1.transformer_blocks.0.attn2") == "IN07"
    assert site_block("middle_block.1.transformer_blocks.0.attn1") == "MID"
    assert site_block("output_blocks.11.1.transformer_blocks.0.attn1") == "OUT11"
    assert site_block("something.else.attn1") is None


def test_block_names_of_small_diffusers_unet():
    unet = make_unet(48)  # layers_per_block 1: down_blocks.1.attentions.0 is IN03
    patcher = sd_hypernet.attach(unet)
    blocks = {s.name.split(".transformer_blocks")[0]: s.block for s in patcher.sites}
    assert blocks == {"down_blocks.0.attentions.0": "IN01", "down_blocks.1.attentions.0": "IN03",
                      "mid_block.attentions.0": "MID", "up_blocks.0.attentions.0": "OUT00",
                      "up_blocks.0.attentions.1": "OUT01", "up_blocks.1.attentions.0": "OUT02",
                      "up_blocks.1.attentions.1": "OUT03"}
    patcher.remove()
