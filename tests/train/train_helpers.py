"""Training test helpers: tiny random-weight UNets (ldm and diffusers), a deterministic fake text encoder.

Not a conftest.py: other test folders import their own `conftest` by name at run time.
"""
import zlib

import torch
from step_reference import randomise_zero_layers

from sd_hypernet.train import DiffusersUNetAdapter, LdmUNetAdapter, TrainingSet, TrainOptions

# Tiny tensors: extra intra-op threads only add contention on a small (2-core) CI machine.
torch.set_num_threads(1)

CONTEXT = 48
LDM_SIZES = (32, CONTEXT)


def _unzero(unet):
    # ldm zero-initialises output projections (a random UNet would ignore its attention entirely)
    return randomise_zero_layers(unet)


def tiny_ldm_unet(seed=0, use_checkpoint=False):
    from ldm.modules.diffusionmodules.openaimodel import UNetModel
    torch.manual_seed(seed)
    unet = UNetModel(image_size=8, in_channels=4, model_channels=32, out_channels=4, num_res_blocks=1,
                     attention_resolutions=[1], channel_mult=(1,), num_head_channels=16,
                     use_spatial_transformer=True, transformer_depth=1, context_dim=CONTEXT, legacy=False,
                     use_checkpoint=use_checkpoint)
    return _unzero(unet).eval()


def tiny_diffusers_unet(seed=0, sdxl=False):
    from diffusers import UNet2DConditionModel
    torch.manual_seed(seed)
    extra = {}
    if sdxl:
        extra = dict(addition_embed_type="text_time", addition_time_embed_dim=8,
                     projection_class_embeddings_input_dim=POOLED + 6 * 8)
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=CONTEXT, attention_head_dim=8, norm_num_groups=32, **extra)
    return _unzero(unet).eval()


POOLED = 16


def encode_text(texts, sizes=None, tokens=5):
    """A fixed random context per text (a stand-in for a frozen text encoder)."""
    out = []
    for t in texts:
        g = torch.Generator().manual_seed(zlib.crc32(t.encode()))
        out.append(torch.randn(1, tokens, CONTEXT, generator=g))
    return {"context": torch.cat(out)}


def encode_text_sdxl(texts, sizes):
    """SDXL-style: context plus pooled text embedding and the six size/crop numbers."""
    cond = encode_text(texts)
    pooled = cond["context"].mean(1)[:, :POOLED]
    time_ids = torch.tensor([[h, w, 0, 0, h, w] for h, w in sizes], dtype=torch.float32)
    cond["added_cond_kwargs"] = {"text_embeds": pooled, "time_ids": time_ids}
    return cond


def ldm_host(unet=None, prediction="eps"):
    return LdmUNetAdapter(unet or tiny_ldm_unet(), encode_text, prediction_type=prediction)


def diffusers_host(sdxl=False):
    unet = tiny_diffusers_unet(sdxl=sdxl)
    return DiffusersUNetAdapter(unet, encode_text_sdxl if sdxl else encode_text)


def latents(n, seed=1, shape=(4, 8, 8)):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=g) for _ in range(n)]


def latent_set(n=2, template="none", captions=None, **kwargs):
    caps = captions or [f"thing {i}, red, small" for i in range(n)]
    return TrainingSet.from_latents(latents(n), caps, template=template, name="t", **kwargs)


def options(tmp_path, **kw):
    base = dict(output_dir=str(tmp_path / "out"), steps=10, learn_rate="0.001", save_every=0, preview_every=0,
                plot_every=0)
    base.update(kw)
    return TrainOptions(**base)


def frozen_copy(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def assert_bit_identical(module, saved):
    now = module.state_dict()
    assert now.keys() == saved.keys()
    for k, v in saved.items():
        assert torch.equal(now[k], v), f"frozen parameter {k} changed"


def eval_loss(host, network, xs, seed=5, draws=8):
    """Mean loss of `network` (eval mode) on fixed draws of (t, noise) for the given latents."""
    import sd_hypernet
    from sd_hypernet.train.objective import NoiseSchedule, compute_loss
    g = torch.Generator().manual_seed(seed)
    x = torch.stack(xs).repeat(draws, 1, 1, 1)
    noise = torch.randn(x.shape, generator=g)
    t = torch.randint(0, 1000, (x.shape[0],), generator=g)
    sizes = [(64, 64)] * x.shape[0]
    cond = host.encode_text(["image"] * x.shape[0], sizes)
    patcher = sd_hypernet.attach(host.unet)
    try:
        if network is not None:
            network.eval()
            patcher.set_chain([sd_hypernet.ChainEntry(network, 1.0, force=True)])
        with torch.no_grad():
            return compute_loss(host.apply_unet, NoiseSchedule(host.alphas_cumprod), host.prediction_type,
                                x, t, noise, cond).item()
    finally:
        patcher.remove()


def make_net(sizes=LDM_SIZES, dropout=None, name="t", seed=0, **kw):
    """A small seeded network (linear, [1, 2, 1])."""
    import sd_hypernet
    torch.manual_seed(seed)
    return sd_hypernet.create(sizes, (1, 2, 1), kw.pop("activation_func", "linear"), "Normal",
                              dropout_structure=dropout, name=name, **kw)
