"""Stand-in for `comfy/ldm/modules/attention.py` (v0.3.64) on ldm's modules: the attention with a separate
`value` input and BasicTransformerBlock's forward with the patch calls.

The block builds `extra_options` from `transformer_options` (everything but the patch lists: `block`,
`block_index`, `sigmas`, `sample_sigmas`, `cond_or_uncond`, …, plus n_heads/dim_head), calls every attn1 patch
as `n, context, value = p(n, context, value, extra_options)` with context = value = the normed hidden states
before attn1, every attn2 patch likewise with context = value = the text context before attn2; residuals are
added out of place (`x = n + x`), as this ComfyUI release does.
"""
import torch
from einops import rearrange


def attention(attn, x, context=None, value=None):
    """ComfyUI's CrossAttention.forward: q from x, k from `context` (default x), v from `value` (default context)."""
    q = attn.to_q(x)
    context = x if context is None else context
    k = attn.to_k(context)
    v = attn.to_v(context if value is None else value)
    h = attn.heads
    q, k, v = (rearrange(t, "b n (h d) -> b h n d", h=h) for t in (q, k, v))
    weights = (torch.einsum("bhid,bhjd->bhij", q, k) * attn.scale).softmax(dim=-1)
    out = rearrange(torch.einsum("bhij,bhjd->bhid", weights, v), "b h n d -> b n (h d)")
    return attn.to_out(out)


def transformer_block_forward(block, x, context=None, transformer_options={}):
    extra_options = {}
    patches = {}
    for k, v in transformer_options.items():
        if k == "patches":
            patches = v
        elif k != "patches_replace":
            extra_options[k] = v
    extra_options["n_heads"] = block.attn1.heads
    extra_options["dim_head"] = block.attn1.to_q.out_features // block.attn1.heads
    extra_options["attn_precision"] = None

    n = block.norm1(x)
    context_attn1 = context if block.disable_self_attn else None
    value_attn1 = None
    if "attn1_patch" in patches:
        if context_attn1 is None:
            context_attn1 = n
        value_attn1 = context_attn1
        for p in patches["attn1_patch"]:
            n, context_attn1, value_attn1 = p(n, context_attn1, value_attn1, extra_options)
    n = attention(block.attn1, n, context_attn1, value_attn1)
    for p in patches.get("attn1_output_patch", []):
        n = p(n, extra_options)
    x = n + x

    n = block.norm2(x)
    context_attn2 = context
    value_attn2 = None
    if "attn2_patch" in patches:
        value_attn2 = context_attn2
        for p in patches["attn2_patch"]:
            n, context_attn2, value_attn2 = p(n, context_attn2, value_attn2, extra_options)
    n = attention(block.attn2, n, context_attn2, value_attn2)
    for p in patches.get("attn2_output_patch", []):
        n = p(n, extra_options)
    x = n + x
    return block.ff(block.norm3(x)) + x


def spatial_transformer_forward(st, x, context=None, transformer_options={}):
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
