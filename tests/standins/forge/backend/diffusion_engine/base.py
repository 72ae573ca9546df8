"""Stand-in for Forge's `backend/diffusion_engine/*`: the loaded model (`shared.sd_model`) holds `forge_objects`
(unet/clip/vae patchers) and two spare copies that processing restores from before each batch and sampling."""
import hashlib

import torch

from backend.modules.k_model import EpsPredictor
from backend.nn.unet import adopt_unet, build_unet
from backend.patcher.unet import UnetPatcher
from backend.patcher.vae import VAE, TinyAutoencoderKL

COND_TOKENS = 77


class ForgeObjects:
    def __init__(self, unet, clip, vae, clipvision):
        self.unet = unet
        self.clip = clip
        self.vae = vae
        self.clipvision = clipvision

    def shallow_copy(self):
        return ForgeObjects(self.unet, self.clip, self.vae, self.clipvision)


class ForgeDiffusionEngine:
    """A tiny SD1/SD2/SDXL-shaped engine: a real ldm UNet behind a UnetPatcher; text "encoding" is a
    deterministic tensor per prompt (what matters here is what the UNet's attention receives), plus, for a UNet
    with an ADM input (SDXL's `label_emb`), the pooled/size vector Forge's SDXL engine returns as "vector".
    Like Forge's engines, conditioning and VAE encoding run under inference mode."""

    def __init__(self, family="sd1", seed=0, unet=None, prediction_type="epsilon"):
        unet = build_unet(family, seed=seed) if unet is None else adopt_unet(unet)
        patcher = UnetPatcher.from_model(unet, EpsPredictor(prediction_type=prediction_type))
        vae = VAE(model=TinyAutoencoderKL(seed=seed))
        self.forge_objects = ForgeObjects(unet=patcher, clip=None, vae=vae, clipvision=None)
        self.forge_objects_original = self.forge_objects.shallow_copy()
        self.forge_objects_after_applying_lora = self.forge_objects.shallow_copy()
        self.context_dim = next(m.attn2.to_k.in_features for m in unet.modules() if hasattr(m, "attn2"))
        self.latent_channels = 4
        self.cond_stage_key = "txt"
        self.is_sd1 = family == "sd1"
        self.is_sd2 = family == "sd2"
        self.is_sdxl = family == "sdxl"
        self.is_sd3 = False

    @torch.inference_mode()
    def get_learned_conditioning(self, prompts):
        rows = []
        for prompt in prompts:
            seed = int(hashlib.sha256(prompt.encode("utf8")).hexdigest()[:8], 16)
            rows.append(torch.randn(COND_TOKENS, self.context_dim, generator=torch.Generator().manual_seed(seed)))
        crossattn = torch.stack(rows)
        unet = self.forge_objects.unet.model.diffusion_model
        if getattr(unet, "num_classes", None) is None:
            return crossattn
        # SDXL: pooled text (here: from the context) then the embedded size numbers, as Forge's sdxl.py does
        width = getattr(prompts, "width", 1024) or 1024
        height = getattr(prompts, "height", 1024) or 1024
        adm = unet.label_emb[0][0].in_features
        pooled = crossattn.mean(1)
        rest = max(adm - pooled.shape[1], 0)
        sizes = torch.tensor([height, width, 0, 0, height, width], dtype=torch.float32) / 1024.0
        flat = sizes.repeat(rest // 6 + 1)[:rest]
        vector = torch.cat([pooled, flat[None].repeat(len(rows), 1)], dim=1)[:, :adm]
        return {"crossattn": crossattn, "vector": vector}

    @torch.inference_mode()
    def encode_first_stage(self, x):
        sample = self.forge_objects.vae.encode(x.movedim(1, -1) * 0.5 + 0.5)
        sample = self.forge_objects.vae.first_stage_model.process_in(sample)
        return sample.to(x)
