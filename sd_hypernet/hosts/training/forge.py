"""Training on Forge's loaded model: the trainer's adapter (sd_hypernet/train/adapter.py) for Forge's engine.

Forge loads checkpoints under `torch.inference_mode()`, encodes under it, and its transformer blocks add their
residuals in place; the trainer's `frozen_for_training` copes with the latter (see docs/DESIGN.md, Training on
Forge), this file with the former: everything autograd must save is turned into a normal tensor first.
"""
from __future__ import annotations

import torch

from sd_hypernet.errors import HypernetError


def _memory_management():
    try:
        from backend import memory_management
        return memory_management
    except ImportError:
        return None


def plain_text(tensor):
    # Forge encodes under inference_mode; such tensors cannot be saved for backward, a clone can
    return tensor.clone() if torch.is_tensor(tensor) and tensor.is_inference() else tensor


def _own_tensors(module: torch.nn.Module) -> int:
    """Turn parameters and buffers made under inference_mode (Forge loads checkpoints, and may move models, under
    it) into normal tensors: autograd cannot save inference tensors for the hooked networks' backward pass.
    The tensor objects keep their identity (torch.utils.swap_tensors) so references held elsewhere stay valid."""
    swap = getattr(torch.utils, "swap_tensors", None)
    swapped = 0
    with torch.inference_mode(False):
        for m in module.modules():
            for store, make in ((m._parameters, lambda t: torch.nn.Parameter(t.clone(), t.requires_grad)),
                                (m._buffers, lambda t: t.clone())):
                for name, t in list(store.items()):
                    if t is None or not t.is_inference():
                        continue
                    fresh = make(t)
                    try:
                        swap(t, fresh)
                    except (TypeError, RuntimeError):  # old torch, or the tensor is pinned elsewhere
                        store[name] = fresh
                    swapped += 1
    return swapped


class ForgeTrainingAdapter:
    """Forge's loaded engine as the trainer's adapter (sd_hypernet/train/adapter.py): the backend UNet inside
    `forge_objects_original.unet` (the checkpoint without LoRAs), conditioning and latents from the engine's own
    `get_learned_conditioning` / `encode_first_stage` machinery, the schedule from the patcher's predictor.
    The UNet is called directly with empty `transformer_options`: no Forge patches take part, the network reaches
    the attention through the trainer's forward pre-hooks (training runs outside Forge's sampling)."""

    def __init__(self, sd_model, preview=None):
        objects = getattr(sd_model, "forge_objects_original", None) or sd_model.forge_objects
        self.sd_model = sd_model
        self.unet_patcher = objects.unet
        self.vae = objects.vae
        kmodel = self.unet_patcher.model
        self.unet = kmodel.diffusion_model
        predictor = kmodel.predictor
        kind = getattr(predictor, "prediction_type", "epsilon")
        if kind not in ("epsilon", "v_prediction"):
            raise HypernetError(f"the loaded model predicts {kind!r}; training needs an eps or v model (SD1/SD2/SDXL)")
        self.prediction_type = "v" if kind == "v_prediction" else "eps"
        ac = getattr(predictor, "alphas_cumprod", None)
        if ac is None:
            sigmas = getattr(predictor, "sigmas", None)
            if sigmas is None:
                raise HypernetError("the loaded model has no noise schedule; cannot train on it")
            ac = 1.0 / (1.0 + sigmas.double() ** 2)  # sigma = sqrt((1 - a) / a)
        self.alphas_cumprod = torch.as_tensor(ac).detach().cpu()
        self.dtype = getattr(kmodel, "computation_dtype", None) or next(self.unet.parameters()).dtype
        self.is_sdxl = bool(getattr(sd_model, "is_sdxl", False))
        self._preview = preview
        self._unet_loaded = False
        _own_tensors(self.unet)

    @property
    def device(self) -> torch.device:
        dev = getattr(self.unet_patcher, "load_device", None)
        return torch.device(dev) if dev is not None else next(self.unet.parameters()).device

    def _others_loaded(self):
        self._unet_loaded = False  # loading the text encoder or VAE may have pushed the UNet off the GPU

    def encode_images(self, pixels):
        self._others_loaded()
        bhwc = pixels.float().movedim(1, -1) * 0.5 + 0.5
        first = self.vae.first_stage_model
        mean = self._encode(bhwc, lambda posterior: posterior.mean)
        std = self._encode(bhwc, lambda posterior: posterior.std)
        if mean is not None and std is not None and bool((std > 0).all()):
            with torch.no_grad():
                scale = first.process_in(torch.ones_like(std)) - first.process_in(torch.zeros_like(std))
            return plain_text(first.process_in(mean)).float(), (std * scale).float()
        # a VAE path that ignores the regulation (tiled): one sampled latent, as Forge's img2img gets
        return plain_text(self.sd_model.encode_first_stage(pixels.to(torch.float32))).float(), None

    def _encode(self, bhwc, regulation):
        try:
            vae = self.vae.clone()
            vae.patcher.model_options["model_vae_regulation"] = regulation
            with torch.inference_mode():  # as Forge's encode_first_stage runs it
                latent = vae.encode(bhwc)
        except (AttributeError, TypeError):
            return None
        return plain_text(latent).float()

    def encode_text(self, texts, sizes):
        self._others_loaded()
        m = self.sd_model
        if not self.is_sdxl:
            return self._cond(m.get_learned_conditioning(list(texts)))
        from modules import prompt_parser
        out = [None] * len(texts)
        for size in dict.fromkeys(sizes):  # SDXL's vector carries the size: one call per size
            idx = [i for i, s in enumerate(sizes) if s == size]
            cond = self._cond(m.get_learned_conditioning(prompt_parser.SdConditioning(
                [texts[i] for i in idx], width=size[1], height=size[0])))
            for j, i in enumerate(idx):
                out[i] = {k: v[j:j + 1] for k, v in cond.items()}
        return {key: torch.cat([o[key] for o in out]) for key in out[0]}

    @staticmethod
    def _cond(cond) -> dict:
        if isinstance(cond, dict):
            out = {"context": plain_text(cond["crossattn"])}
            if cond.get("vector") is not None:
                out["y"] = plain_text(cond["vector"])
            return out
        return {"context": plain_text(cond)}

    def apply_unet(self, x_t, t, cond):
        if not self._unet_loaded:
            mm = _memory_management()
            if mm is not None:
                mm.load_model_gpu(self.unet_patcher)
            self._unet_loaded = True
        _own_tensors(self.unet)  # every call: a preview generation may have reloaded it under inference_mode
        dtype = self.dtype
        y = cond.get("y")
        out = self.unet(x_t.to(dtype), t, context=cond["context"].to(dtype), y=None if y is None else y.to(dtype),
                        transformer_options={})  # a fresh dict: Forge's forward writes into it
        return out.float()

    def preview(self, prompt, step, network):
        return self._preview(prompt, step, network) if self._preview else None


def forge_training_adapter(loaded_model, preview=None) -> ForgeTrainingAdapter:
    """The adapter for Forge's model; loads the selected checkpoint first when no generation has loaded it yet."""
    sd_model = loaded_model()
    if sd_model is None:
        try:
            from modules import sd_models
            sd_models.forge_model_reload()
        except Exception as e:
            raise HypernetError(f"no model is loaded and loading the selected one failed: {e}") from e
        sd_model = loaded_model()
    if sd_model is None or getattr(sd_model, "forge_objects", None) is None:
        raise HypernetError("no model is loaded; load a checkpoint first")
    return ForgeTrainingAdapter(sd_model, preview)
