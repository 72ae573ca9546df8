"""Stand-in for Forge's `backend/modules/k_model.py`: KModel wraps the UNet (`.diffusion_model`) with an
eps-prediction sigma<->timestep mapping (`.predictor`), as Forge does for SD1/SD2/SDXL."""
import torch


class EpsPredictor:
    """The scaled-linear DDPM schedule of SD1/SDXL (1000 timesteps)."""

    def __init__(self, timesteps=1000, beta_start=0.00085, beta_end=0.012, prediction_type="epsilon"):
        betas = torch.linspace(beta_start ** 0.5, beta_end ** 0.5, timesteps, dtype=torch.float64) ** 2
        alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        self.prediction_type = prediction_type  # Forge: "epsilon" | "v_prediction" (from the diffusers scheduler)
        self.alphas_cumprod = alphas_cumprod.float()
        self.sigmas = (((1 - alphas_cumprod) / alphas_cumprod) ** 0.5).float()
        self.log_sigmas = self.sigmas.log()

    @property
    def sigma_min(self):
        return self.sigmas[0]

    @property
    def sigma_max(self):
        return self.sigmas[-1]

    def timestep(self, sigma):
        # Interpolated index of sigma in the table (what k-diffusion's sigma_to_t does).
        log_sigma = sigma.float().log()
        dists = log_sigma[:, None] - self.log_sigmas[None, :].to(sigma.device)
        low = dists.ge(0).cumsum(dim=1).argmax(dim=1).clamp(max=self.log_sigmas.shape[0] - 2)
        high = low + 1
        lo, hi = self.log_sigmas.to(sigma.device)[low], self.log_sigmas.to(sigma.device)[high]
        w = ((lo - log_sigma) / (lo - hi)).clamp(0, 1)
        return ((1 - w) * low + w * high).view(sigma.shape)

    def calculate_input(self, sigma, x):
        return x / (sigma.view(sigma.shape[:1] + (1,) * (x.ndim - 1)) ** 2 + 1.0) ** 0.5

    def calculate_denoised(self, sigma, model_output, model_input):
        return model_input - model_output * sigma.view(sigma.shape[:1] + (1,) * (model_output.ndim - 1))


class KModel(torch.nn.Module):
    def __init__(self, model, predictor, computation_dtype=torch.float32):
        super().__init__()
        self.computation_dtype = computation_dtype
        self.diffusion_model = model
        self.predictor = predictor

    def apply_model(self, x, t, c_crossattn=None, control=None, transformer_options={}, **kwargs):
        sigma = t
        xc = self.predictor.calculate_input(sigma, x)
        timesteps = self.predictor.timestep(t).float()
        out = self.diffusion_model(xc, timesteps, context=c_crossattn, control=control,
                                   transformer_options=transformer_options).float()
        return self.predictor.calculate_denoised(sigma, out, x)
