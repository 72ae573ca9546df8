"""The ldm denoising objective: noise a clean latent at timestep t, predict eps or v, mean-squared error.

Matches `ldm.models.diffusion.ddpm.DDPM.p_losses` with its defaults (logvar 0, l_simple_weight 1,
original_elbo_weight 0): loss = mean over the batch of mean((model(x_t, t, c) - target)^2).
"""
from __future__ import annotations

import torch

PREDICTIONS = ("eps", "v")


def linear_alphas_cumprod(timesteps: int = 1000, linear_start: float = 0.00085, linear_end: float = 0.012):
    """The 'linear' beta schedule of the SD configs (betas linear in sqrt space), cumulative alphas in float64."""
    betas = torch.linspace(linear_start ** 0.5, linear_end ** 0.5, timesteps, dtype=torch.float64) ** 2
    return torch.cumprod(1.0 - betas, dim=0)


class NoiseSchedule:
    """sqrt(alphas_cumprod) and sqrt(1 - alphas_cumprod), computed in float64 and stored in float32 as ldm does."""

    def __init__(self, alphas_cumprod):
        ac = torch.as_tensor(alphas_cumprod).detach().to("cpu", torch.float64)
        if ac.ndim != 1 or len(ac) == 0:
            raise ValueError("alphas_cumprod must be a non-empty 1-D tensor")
        self.num_timesteps = len(ac)
        self.sqrt_ac = ac.sqrt().float()
        self.sqrt_one_minus_ac = (1.0 - ac).sqrt().float()

    def _at(self, table: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        out = table.to(like.device)[t.to(like.device).long()]
        return out.reshape(-1, *([1] * (like.ndim - 1))).to(like.dtype)

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return self._at(self.sqrt_ac, t, x0) * x0 + self._at(self.sqrt_one_minus_ac, t, x0) * noise

    def target(self, prediction: str, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        if prediction == "eps":
            return noise
        if prediction == "v":
            return self._at(self.sqrt_ac, t, x0) * noise - self._at(self.sqrt_one_minus_ac, t, x0) * x0
        raise ValueError(f"prediction type {prediction!r}; expected one of {PREDICTIONS}")


def denoising_loss(model_out: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Per-sample mean squared error averaged over the batch (fp32). `weight` (B,1,H,W) scales each element,
    as the webui's PNG-alpha loss weighting does."""
    err = (model_out.float() - target.float()) ** 2
    if weight is not None:
        err = err * weight.to(err)
    return err.flatten(1).mean(1).mean()


def compute_loss(apply_unet, schedule: NoiseSchedule, prediction: str, x0, t, noise, cond, weight=None,
                 target_for=None):
    """One evaluation of the objective for given (latent, timestep, noise, conditioning). `target_for(x_t, t,
    cond)`, when given, replaces the noise (or v) target: distillation from a teacher's predictions."""
    x_t = schedule.q_sample(x0, t, noise)
    out = apply_unet(x_t, t, cond)
    if target_for is not None:
        with torch.no_grad():
            target = target_for(x_t, t, cond)
    else:
        target = schedule.target(prediction, x0, t, noise)
    return denoising_loss(out, target, weight)
