"""Training on the webui's loaded model (and reForge's, a webui 1.x tree): the trainer's adapter for ldm's
`LatentDiffusion` / sgm's `DiffusionEngine`, the preview render, and what the file records of the base model."""
from __future__ import annotations

import torch

from sd_hypernet.errors import HypernetError

from sd_hypernet.hosts import common


class SdModelAdapter:
    """ldm `LatentDiffusion` or sgm `DiffusionEngine` (SDXL) as the webui loads them."""

    def __init__(self, sd_model, width: int = 512, height: int = 512, preview=None):
        self.sd_model = sd_model
        self.unet = sd_model.model.diffusion_model
        ac = getattr(sd_model, "alphas_cumprod", None)
        if ac is None:
            raise HypernetError("the loaded model has no noise schedule (alphas_cumprod); cannot train on it")
        self.alphas_cumprod = torch.as_tensor(ac).detach().cpu()
        self.prediction_type = "v" if getattr(sd_model, "parameterization", "eps") == "v" else "eps"
        self.is_sgm = bool(getattr(sd_model, "is_sdxl", False))
        self.size = (height, width)
        self._preview = preview

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    def encode_images(self, pixels):
        m = self.sd_model
        pixels = pixels.to(self.device, next(m.first_stage_model.parameters()).dtype
                           if hasattr(m, "first_stage_model") else pixels.dtype)
        dist = m.encode_first_stage(pixels)
        mean, std = getattr(dist, "mean", None), getattr(dist, "std", None)
        scale = float(getattr(m, "scale_factor", 1.0))
        if torch.is_tensor(mean) and torch.is_tensor(std) and not self.is_sgm:
            return mean.float() * scale, std.float() * scale
        if hasattr(m, "get_first_stage_encoding"):
            return m.get_first_stage_encoding(dist).float(), None
        return dist.float(), None  # sgm: already sampled and scaled

    def encode_text(self, texts, sizes):
        m = self.sd_model
        if not self.is_sgm:
            return {"context": m.get_learned_conditioning(list(texts))}
        from modules import prompt_parser
        out = [None] * len(texts)
        for size in dict.fromkeys(sizes):
            idx = [i for i, s in enumerate(sizes) if s == size]
            cond = m.get_learned_conditioning(prompt_parser.SdConditioning(
                [texts[i] for i in idx], width=size[1], height=size[0]))
            for j, i in enumerate(idx):
                out[i] = {"context": cond["crossattn"][j:j + 1], "y": cond["vector"][j:j + 1]}
        return {key: torch.cat([o[key] for o in out]) for key in ("context", "y")}

    def apply_unet(self, x_t, t, cond):
        dtype = next(self.unet.parameters()).dtype
        y = cond.get("y")
        return self.unet(x_t.to(dtype), timesteps=t, context=cond["context"].to(dtype),
                         y=None if y is None else y.to(dtype))

    def preview(self, prompt, step, network):
        return self._preview(prompt, step, network) if self._preview else None


def webui_preview(width: int, height: int, steps: int = 20, seed: int = -1):
    """A txt2img render with the network already hooked in (so extra networks are off), or None."""
    def render(prompt, step, network):
        try:
            from modules import processing, shared
            p = processing.StableDiffusionProcessingTxt2Img(
                sd_model=shared.sd_model, prompt=prompt, steps=steps, width=width, height=height, seed=seed,
                do_not_save_grid=True, do_not_save_samples=True)
            p.disable_extra_networks = True
            processed = processing.process_images(p)
            return processed.images[0] if processed.images else None
        except Exception as e:  # a failed preview must not end the training
            print(f"[hypernetworks] preview at step {step} failed: {e}")
            return None
    return render


def base_model_info(sd_model) -> dict:
    info = getattr(sd_model, "sd_checkpoint_info", None)
    family = common.family_from_flags(sd_model)
    return {"name": getattr(info, "name_for_extra", None) or getattr(info, "name", None),
            "hash": getattr(info, "shorthash", None) or getattr(sd_model, "sd_model_hash", None),
            "family": family}
