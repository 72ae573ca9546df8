"""Stand-in for `comfy/model_sampling.py`'s discrete eps sampling (SD1/SD2/SDXL): 1000 sigmas from the scaled
linear beta schedule; `percent_to_sigma` maps a fraction of the sampling to a sigma (0 → above every sigma,
1 → 0), interpolating log-sigmas between timesteps."""
import torch


class ModelSamplingDiscrete(torch.nn.Module):
    def __init__(self, linear_start=0.00085, linear_end=0.012, timesteps=1000):
        super().__init__()
        betas = torch.linspace(linear_start ** 0.5, linear_end ** 0.5, timesteps, dtype=torch.float64) ** 2
        alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        sigmas = ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5
        self.register_buffer("sigmas", sigmas.float())
        self.register_buffer("log_sigmas", sigmas.log().float())

    @property
    def sigma_min(self):
        return self.sigmas[0]

    @property
    def sigma_max(self):
        return self.sigmas[-1]

    def timestep(self, sigma):
        dists = sigma.log().to(self.log_sigmas.device) - self.log_sigmas[:, None]
        return dists.abs().argmin(dim=0).view(sigma.shape).to(sigma.device)

    def sigma(self, timestep):
        t = torch.clamp(timestep.float(), min=0, max=len(self.sigmas) - 1)
        low, high, w = t.floor().long(), t.ceil().long(), t.frac()
        return ((1 - w) * self.log_sigmas[low] + w * self.log_sigmas[high]).exp()

    def percent_to_sigma(self, percent):
        if percent <= 0.0:
            return 999999999.9
        if percent >= 1.0:
            return 0.0
        return self.sigma(torch.tensor((1.0 - percent) * 999.0)).item()

    def calculate_input(self, sigma, noise):
        sigma = sigma.view(sigma.shape[:1] + (1,) * (noise.ndim - 1))
        return noise / (sigma ** 2 + 1.0) ** 0.5

    def calculate_denoised(self, sigma, model_output, model_input):
        sigma = sigma.view(sigma.shape[:1] + (1,) * (model_output.ndim - 1))
        return model_input - model_output * sigma

    def schedule(self, steps):
        """The sampler's sigmas for `steps` steps (evenly spaced timesteps), ending with 0."""
        ts = torch.linspace(len(self.sigmas) - 1, 0, steps)
        return torch.cat([self.sigma(ts), torch.zeros(1)])
