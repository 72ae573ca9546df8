"""Stand-in for `comfy/model_base.py`'s BaseModel: the UNet (`diffusion_model`), its `model_sampling`, and
`apply_model(x, sigma, c_crossattn, transformer_options)`: scaled input in the model's dtype, timestep from the
sigma, the UNet with the transformer options, the denoised latent back."""
import torch

from comfy.model_sampling import ModelSamplingDiscrete


class BaseModel(torch.nn.Module):
    def __init__(self, diffusion_model, dtype=torch.float32):
        super().__init__()
        self.diffusion_model = diffusion_model.to(dtype)
        self.model_sampling = ModelSamplingDiscrete()
        self.dtype = dtype

    def get_dtype(self):
        return self.dtype

    def apply_model(self, x, t, c_crossattn=None, transformer_options={}, **kwargs):
        sigma = t
        xc = self.model_sampling.calculate_input(sigma, x).to(self.dtype)
        timesteps = self.model_sampling.timestep(t).float()
        context = c_crossattn.to(self.dtype) if c_crossattn is not None else None
        out = self.diffusion_model(xc, timesteps, context=context, transformer_options=transformer_options).float()
        return self.model_sampling.calculate_denoised(sigma, out, x)
