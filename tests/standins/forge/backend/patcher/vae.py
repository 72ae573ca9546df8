"""Stand-in for Forge's `backend/patcher/vae.py` and its AutoencoderKL: `VAE.encode` takes (B, H, W, 3) pixels in
[0, 1], loads its patcher, and returns a draw from the encoder's diagonal Gaussian, or what the
`model_vae_regulation` callable in the patcher's model_options makes of that distribution;
`first_stage_model.process_in` applies the latent shift and scale (`encode_first_stage` then gives scaled latents).
A tiny random encoder: one strided conv to mean and log-variance."""
import torch
from ldm.modules.distributions.distributions import DiagonalGaussianDistribution

from backend import memory_management
from backend.patcher.base import ModelPatcher


class TinyAutoencoderKL(torch.nn.Module):
    def __init__(self, latent_channels=4, downscale=8, scaling_factor=0.18215, shift_factor=0.0, seed=0):
        super().__init__()
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.encoder = torch.nn.Conv2d(3, 2 * latent_channels, downscale, stride=downscale)
        self.quant_conv = None
        self.scaling_factor = scaling_factor
        self.shift_factor = shift_factor

    def encode(self, x, regulation=None):
        posterior = DiagonalGaussianDistribution(self.encoder(x))
        return regulation(posterior) if regulation is not None else posterior.sample()

    def process_in(self, latent):
        return (latent - self.shift_factor) * self.scaling_factor


class VAE:
    def __init__(self, model=None, no_init=False):
        if no_init:
            return
        self.first_stage_model = model.eval()
        self.latent_channels = model.encoder.out_channels // 2
        self.downscale_ratio = model.encoder.stride[0]
        self.patcher = ModelPatcher(self.first_stage_model)

    def clone(self):
        n = VAE(no_init=True)
        n.patcher = self.patcher.clone()
        n.first_stage_model = self.first_stage_model
        n.latent_channels = self.latent_channels
        n.downscale_ratio = self.downscale_ratio
        return n

    def encode(self, pixel_samples):
        regulation = self.patcher.model_options.get("model_vae_regulation", None)
        memory_management.load_models_gpu([self.patcher])
        pixels = (2.0 * pixel_samples.movedim(-1, 1) - 1.0)
        return self.first_stage_model.encode(pixels, regulation).float()
