"""Forge's k-diffusion sampler path: a Karras schedule from `get_sigmas`, a CFGDenoiser that fires
on_cfg_denoiser (as the webui's does) and then runs Forge's `sampling_function` on whatever
`p.sd_model.forge_objects.unet` is at that moment."""
import torch

from backend.sampling.sampling_function import sampling_function
from modules import script_callbacks, sd_samplers_common, shared
from modules.script_callbacks import CFGDenoiserParams


def karras_sigmas(n, sigma_min, sigma_max, rho=7.0):
    ramp = torch.linspace(0, 1, n)
    min_inv, max_inv = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    sigmas = (max_inv + ramp * (min_inv - max_inv)) ** rho
    return torch.cat([sigmas, sigmas.new_zeros([1])])


class CFGDenoiser:
    def __init__(self, sampler):
        self.sampler = sampler
        self.step = 0

    def forward(self, x, sigma, uncond, cond, cond_scale):
        state = shared.state
        params = CFGDenoiserParams(x, None, sigma, state.sampling_step, state.sampling_steps, cond, uncond, self)
        script_callbacks.cfg_denoiser_callback(params)
        unet_patcher = self.sampler.p.sd_model.forge_objects.unet
        denoised = sampling_function(unet_patcher, params.x, params.sigma, params.text_uncond, params.text_cond,
                                     cond_scale)
        self.step += 1
        return denoised


class KDiffusionSampler:
    def __init__(self, name, sd_model):
        self.name = name
        self.p = None
        self.predictor = sd_model.forge_objects.unet.model.predictor
        self.model_wrap_cfg = CFGDenoiser(self)
        self.sigmas_used = None

    def get_sigmas(self, p, steps):
        return karras_sigmas(steps, float(self.predictor.sigma_min), float(self.predictor.sigma_max))

    def callback_state(self, i):
        shared.state.sampling_step = i

    def launch_sampling(self, steps, func):
        shared.state.sampling_steps = steps
        shared.state.sampling_step = 0
        return func()

    def _euler(self, x, sigmas, cond, uncond, cond_scale):
        self.sigmas_used = sigmas
        for i in range(len(sigmas) - 1):
            if shared.state.interrupted:
                break
            sigma = sigmas[i] * x.new_ones([x.shape[0]])
            denoised = self.model_wrap_cfg.forward(x, sigma, uncond, cond, cond_scale)
            x = x + (x - denoised) / sigmas[i] * (sigmas[i + 1] - sigmas[i])
            self.callback_state(i)
        return x

    def sample(self, p, x, conditioning, unconditional_conditioning, steps=None, image_conditioning=None):
        self.p = p
        steps = steps or p.steps
        sigmas = self.get_sigmas(p, steps)
        x = x * sigmas[0]
        return self.launch_sampling(
            steps, lambda: self._euler(x, sigmas, conditioning, unconditional_conditioning, p.cfg_scale))

    def sample_img2img(self, p, x, noise, conditioning, unconditional_conditioning, steps=None,
                       image_conditioning=None):
        self.p = p
        steps, t_enc = sd_samplers_common.setup_img2img_steps(p, steps)
        sigma_sched = self.get_sigmas(p, steps)[steps - t_enc - 1:]
        xi = x + noise * sigma_sched[0]
        return self.launch_sampling(
            t_enc + 1, lambda: self._euler(xi, sigma_sched, conditioning, unconditional_conditioning, p.cfg_scale))


def create_sampler(name, model):
    return KDiffusionSampler(name, model)
