"""What the trainer needs from a host, and two plain adapters for bare ldm / diffusers UNets.

A host adapter supplies:
- `unet`: the nn.Module holding the attention layers (the networks are hooked into it);
- `alphas_cumprod` (1-D) and `prediction_type` ("eps" or "v");
- `encode_images(pixels)` -> (mean, std) latents already multiplied by the VAE scale factor; `pixels` is
  (B, 3, H, W) in [-1, 1]; `std` may be None when the encoder has no distribution;
- `encode_text(texts, sizes)` -> conditioning: a dict of batch-first tensors (nested dicts allowed). The
  trainer only batches and slices it; `apply_unet` interprets it. `sizes` are the (height, width) in pixels
  of each image, for SDXL's size conditioning;
- `apply_unet(x_t, t, cond)` -> the UNet's prediction;
- optionally `preview(prompt, step, network) -> PIL.Image` and `device`;
- optionally `target_for(x_t, t, cond)` -> the prediction to regress on instead of the noise (or v): a teacher's
  predictions, for distillation (the learning check in tests/train/learning.py uses it).
Everything here runs under no_grad except `apply_unet`.
"""
from __future__ import annotations

from typing import Callable, Protocol, runtime_checkable

import torch

from .objective import linear_alphas_cumprod


@runtime_checkable
class TrainingHost(Protocol):
    unet: torch.nn.Module
    alphas_cumprod: torch.Tensor
    prediction_type: str

    def encode_images(self, pixels: torch.Tensor): ...

    def encode_text(self, texts: list[str], sizes: list[tuple[int, int]]) -> dict: ...

    def apply_unet(self, x_t: torch.Tensor, t: torch.Tensor, cond: dict) -> torch.Tensor: ...


def _no_images(pixels):
    raise NotImplementedError("this adapter has no VAE; build the dataset from latents")


class _BareUNetAdapter:
    """Shared parts: callables for the encoders, a linear SD noise schedule unless given."""

    def __init__(self, unet, encode_text: Callable, encode_images: Callable | None = None,
                 alphas_cumprod=None, prediction_type: str = "eps", preview: Callable | None = None):
        self.unet = unet
        self._encode_text = encode_text
        self._encode_images = encode_images or _no_images
        self.alphas_cumprod = linear_alphas_cumprod() if alphas_cumprod is None else torch.as_tensor(alphas_cumprod)
        self.prediction_type = prediction_type
        if preview is not None:
            self.preview = preview

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    def encode_images(self, pixels):
        return self._encode_images(pixels)

    def encode_text(self, texts, sizes):
        return self._encode_text(texts, sizes)


class LdmUNetAdapter(_BareUNetAdapter):
    """ldm/sgm `openaimodel.UNetModel`: cond {"context": (B, L, C)} plus optional {"y": (B, adm)} for SDXL."""

    def apply_unet(self, x_t, t, cond):
        dtype = next(self.unet.parameters()).dtype
        y = cond.get("y")
        return self.unet(x_t.to(dtype), timesteps=t, context=cond["context"].to(dtype),
                         y=None if y is None else y.to(dtype))


class DiffusersUNetAdapter(_BareUNetAdapter):
    """diffusers `UNet2DConditionModel`: cond {"context": ...} plus optional {"added_cond_kwargs":
    {"text_embeds": (B, P), "time_ids": (B, 6)}} for SDXL's text_time embedding."""

    def apply_unet(self, x_t, t, cond):
        dtype = next(self.unet.parameters()).dtype
        added = cond.get("added_cond_kwargs")
        if added is not None:
            added = {k: v.to(dtype) for k, v in added.items()}
        return self.unet(x_t.to(dtype), t, encoder_hidden_states=cond["context"].to(dtype),
                         added_cond_kwargs=added, return_dict=False)[0]


def cond_cat(conds: list[dict]) -> dict:
    """Concatenate conditioning dicts along the batch dimension."""
    first = conds[0]
    out = {}
    for key, value in first.items():
        if isinstance(value, dict):
            out[key] = cond_cat([c[key] for c in conds])
        elif torch.is_tensor(value):
            out[key] = torch.cat([c[key] for c in conds], dim=0)
        else:
            out[key] = value
    return out


def cond_split(cond: dict, n: int) -> list[dict]:
    """One conditioning dict per sample."""
    parts = [dict() for _ in range(n)]
    for key, value in cond.items():
        if isinstance(value, dict):
            for i, sub in enumerate(cond_split(value, n)):
                parts[i][key] = sub
        elif torch.is_tensor(value):
            if value.shape[0] != n:
                raise ValueError(f"conditioning {key!r} has batch {value.shape[0]}, expected {n}")
            for i in range(n):
                parts[i][key] = value[i:i + 1]
        else:
            for i in range(n):
                parts[i][key] = value
    return parts


def cond_to(cond: dict, device) -> dict:
    return {k: cond_to(v, device) if isinstance(v, dict) else (v.to(device) if torch.is_tensor(v) else v)
            for k, v in cond.items()}
