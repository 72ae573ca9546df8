"""Stand-in of modules/sd_models.py: a loaded checkpoint is an object whose `.model.diffusion_model` is the UNet
(as for ldm and sgm models), with the family flags of v1.10; loading fires on_model_loaded.

For training, the object also has what ldm's LatentDiffusion gives the webui's trainer: `alphas_cumprod`,
`parameterization`, `get_learned_conditioning` (the stand-in's per-prompt tensor), `encode_first_stage` (a tiny
random VAE encoder returning ldm's DiagonalGaussianDistribution), `get_first_stage_encoding` and `scale_factor`."""
import types

import torch

from modules import script_callbacks, shared


class TinyFirstStage(torch.nn.Module):
    """The VAE encoder's shape only: (B, 3, H, W) -> mean and log-variance at 1/8 size."""

    def __init__(self, latent_channels=4, seed=0):
        super().__init__()
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.encoder = torch.nn.Conv2d(3, 2 * latent_channels, 8, stride=8)

    def encode(self, x):
        from ldm.modules.distributions.distributions import DiagonalGaussianDistribution
        return DiagonalGaussianDistribution(self.encoder(x))


def _training_parts(sd_model, unet, parameterization):
    from modules import processing

    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2
    sd_model.alphas_cumprod = torch.cumprod(1.0 - betas, dim=0).float()  # LatentDiffusion's "linear" schedule
    sd_model.parameterization = parameterization
    sd_model.scale_factor = 0.18215
    sd_model.first_stage_model = TinyFirstStage()
    context_dim = next(m.to_k.in_features for m in unet.modules()
                       if hasattr(m, "to_k") and m.to_k.in_features != m.to_q.in_features)
    sd_model.get_learned_conditioning = lambda c: processing.fake_conditioning(list(c), context_dim)
    sd_model.encode_first_stage = lambda x: sd_model.first_stage_model.encode(x)
    sd_model.get_first_stage_encoding = lambda posterior: sd_model.scale_factor * posterior.sample()


class CheckpointInfo:
    def __init__(self, name, shorthash="0123456789"):
        self.name = self.name_for_extra = self.title = self.short_title = name
        self.shorthash = shorthash


def load_model(unet, family="sd1", name="standin", parameterization="eps"):
    """Make `unet` the loaded model and fire the model-loaded callbacks, as sd_models.load_model does."""
    sd_model = types.SimpleNamespace()
    sd_model.model = types.SimpleNamespace(diffusion_model=unet, conditioning_key="crossattn")
    sd_model.is_sd1 = family == "sd1"
    sd_model.is_sd2 = family == "sd2"
    sd_model.is_sdxl = family == "sdxl"
    sd_model.is_sd3 = False
    sd_model.sd_checkpoint_info = CheckpointInfo(name)
    sd_model.sd_model_hash = sd_model.sd_checkpoint_info.shorthash
    sd_model.cond_stage_key = "txt"
    _training_parts(sd_model, unet, parameterization)
    shared.sd_model = sd_model
    script_callbacks.model_loaded_callback(sd_model)
    return sd_model


def reload_model_weights(sd_model=None, info=None):
    return shared.sd_model


def model_hash(filename):
    """The pre-2023 short model hash ("Hypernet hash" in old infotexts): 8 hex of 64 KiB at offset 1 MiB."""
    import hashlib
    try:
        with open(filename, "rb") as file:
            m = hashlib.sha256()
            file.seek(0x100000)
            m.update(file.read(0x10000))
            return m.hexdigest()[0:8]
    except FileNotFoundError:
        return 'NOFILE'
