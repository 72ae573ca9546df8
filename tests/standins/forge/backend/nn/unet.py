"""Stand-in for Forge's `backend/nn/unet.py`: a real ldm UNetModel run the way Forge runs its own UNet.

`IntegratedUNet2DConditionModel` keeps ldm's modules (and module names: `input_blocks.4.1.transformer_blocks.0.
attn2.to_k`) but replaces the forward with Forge's: `transformer_options` carries `block`, `block_index`,
`transformer_index`, `original_shape`, and each BasicTransformerBlock hands `(n, context, value, extra_options)`
to the registered attn1/attn2 patches before `to_q`/`to_k`/`to_v`, exactly in Forge's order.
"""
import torch
from einops import rearrange
from ldm.modules.attention import BasicTransformerBlock, SpatialTransformer
from ldm.modules.diffusionmodules.openaimodel import TimestepBlock, UNetModel, Upsample
from ldm.modules.diffusionmodules.util import timestep_embedding

from backend.operations import ForgeOperations


def _attention(attn, q_in, context=None, value=None):
    """Forge's CrossAttention.forward: k from `context` (default: the query input), v from `value` if given."""
    q = attn.to_q(q_in)
    context = q_in if context is None else context
    k = attn.to_k(context)
    v = attn.to_v(context if value is None else value)
    h = attn.heads
    q, k, v = (rearrange(t, "b n (h d) -> b h n d", h=h) for t in (q, k, v))
    weights = (torch.einsum("bhid,bhjd->bhij", q, k) * attn.scale).softmax(dim=-1)
    out = rearrange(torch.einsum("bhij,bhjd->bhid", weights, v), "b h n d -> b n (h d)")
    return attn.to_out(out)


def transformer_block_forward(block: BasicTransformerBlock, x, context=None, transformer_options={}):
    """Forge's BasicTransformerBlock._forward, on an ldm block's modules: residuals added in place, as Forge adds them."""
    extra_options = {}
    patches = {}
    for k, v in transformer_options.items():
        if k == "patches":
            patches = v
        elif k != "patches_replace":
            extra_options[k] = v
    extra_options["n_heads"] = block.attn1.heads
    extra_options["dim_head"] = block.attn1.to_q.out_features // block.attn1.heads

    n = block.norm1(x)
    context_attn1 = context if block.disable_self_attn else None
    value_attn1 = None
    if "attn1_patch" in patches:
        if context_attn1 is None:
            context_attn1 = n
        value_attn1 = context_attn1
        for p in patches["attn1_patch"]:
            n, context_attn1, value_attn1 = p(n, context_attn1, value_attn1, extra_options)
    n = _attention(block.attn1, n, context_attn1, value_attn1)
    for p in patches.get("attn1_output_patch", []):
        n = p(n, extra_options)
    x += n  # in place, as Forge does: autograd through here trips over the LayerNorm's saved input
    for p in patches.get("middle_patch", []):
        x = p(x, extra_options)

    n = block.norm2(x)
    context_attn2 = context
    value_attn2 = None
    if "attn2_patch" in patches:
        value_attn2 = context_attn2
        for p in patches["attn2_patch"]:
            n, context_attn2, value_attn2 = p(n, context_attn2, value_attn2, extra_options)
    n = _attention(block.attn2, n, context_attn2, value_attn2)
    for p in patches.get("attn2_output_patch", []):
        n = p(n, extra_options)
    x += n
    x_skip = x
    x = block.ff(block.norm3(x))
    x += x_skip
    return x


def spatial_transformer_forward(st: SpatialTransformer, x, context=None, transformer_options={}):
    if not isinstance(context, list):
        context = [context] * len(st.transformer_blocks)
    b, c, h, w = x.shape
    x_in = x
    x = st.norm(x)
    if not st.use_linear:
        x = st.proj_in(x)
    x = rearrange(x, "b c h w -> b (h w) c").contiguous()
    if st.use_linear:
        x = st.proj_in(x)
    for i, block in enumerate(st.transformer_blocks):
        transformer_options["block_index"] = i
        x = transformer_block_forward(block, x, context=context[i], transformer_options=transformer_options)
    if st.use_linear:
        x = st.proj_out(x)
    x = rearrange(x, "b (h w) c -> b c h w", h=h, w=w).contiguous()
    if not st.use_linear:
        x = st.proj_out(x)
    return x + x_in


def _sequential_forward(seq, x, emb, context, transformer_options):
    for layer in seq:
        if isinstance(layer, TimestepBlock):
            x = layer(x, emb)
        elif isinstance(layer, SpatialTransformer):
            x = spatial_transformer_forward(layer, x, context, transformer_options)
            if "transformer_index" in transformer_options:
                transformer_options["transformer_index"] += 1
        elif isinstance(layer, Upsample):
            x = layer(x)
        else:
            x = layer(x)
    return x


class IntegratedUNet2DConditionModel(UNetModel):
    def forward(self, x, timesteps=None, context=None, y=None, control=None, transformer_options={}, **kwargs):
        transformer_options["original_shape"] = list(x.shape)
        transformer_options["transformer_index"] = 0
        emb = self.time_embed(timestep_embedding(timesteps, self.model_channels, repeat_only=False).to(x.dtype))
        assert (y is not None) == (self.num_classes is not None)  # SDXL: the pooled text + size vector
        if self.num_classes is not None:
            emb = emb + self.label_emb(y)
        hs = []
        h = x
        for i, module in enumerate(self.input_blocks):
            transformer_options["block"] = ("input", i)
            h = _sequential_forward(module, h, emb, context, transformer_options)
            hs.append(h)
        transformer_options["block"] = ("middle", 0)
        h = _sequential_forward(self.middle_block, h, emb, context, transformer_options)
        for i, module in enumerate(self.output_blocks):
            transformer_options["block"] = ("output", i)
            h = torch.cat([h, hs.pop()], dim=1)
            h = _sequential_forward(module, h, emb, context, transformer_options)
        transformer_options["block"] = ("last", 0)
        return self.out(h).type(x.dtype)


# Tiny UNets with the real block layouts (which input/output indices hold attention), random weights.
FAMILY_CONFIGS = {
    "sd1": dict(context_dim=768, channel_mult=(1, 2, 4, 4), attention_resolutions=(4, 2, 1), transformer_depth=1,
                use_linear_in_transformer=False),
    "sd2": dict(context_dim=1024, channel_mult=(1, 2, 4, 4), attention_resolutions=(4, 2, 1), transformer_depth=1,
                use_linear_in_transformer=True),
    "sdxl": dict(context_dim=[2048, 2048],  # a list: ldm gives depth>1 blocks one entry per depth
                 channel_mult=(1, 2, 4), attention_resolutions=(4, 2), transformer_depth=2,
                 use_linear_in_transformer=True),
}


def _swap_linears(module):
    # Forge builds attention projections from its own operations class.
    for name, child in list(module.named_children()):
        if isinstance(child, torch.nn.Linear) and name in ("to_q", "to_k", "to_v"):
            setattr(module, name, ForgeOperations.Linear.from_linear(child))
        else:
            _swap_linears(child)


def adopt_unet(unet: UNetModel) -> IntegratedUNet2DConditionModel:
    """Run an existing ldm UNetModel (same modules, same names) the Forge way, in place."""
    if not isinstance(unet, IntegratedUNet2DConditionModel):
        unet.__class__ = IntegratedUNet2DConditionModel
        _swap_linears(unet)
    return unet


def build_unet(family="sd1", seed=0, model_channels=32, forge_ops=True):
    cfg = FAMILY_CONFIGS[family]
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        unet = IntegratedUNet2DConditionModel(
            image_size=8, in_channels=4, out_channels=4, model_channels=model_channels, num_res_blocks=2,
            num_heads=2, use_spatial_transformer=True, legacy=False, **cfg)
        # Random (not zero-initialised) output projections so every attention changes the result.
        for m in unet.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) and m.weight.abs().sum() == 0:
                torch.nn.init.normal_(m.weight, std=0.05)
    if forge_ops:
        _swap_linears(unet)
    return unet.eval()
