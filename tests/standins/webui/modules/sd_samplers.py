"""Stand-in of the k-diffusion sampler path: a CFGDenoiser that fires on_cfg_denoiser before every UNet call
and a sampler whose state bookkeeping matches the webui's (state.sampling_step is only updated by the
per-step callback, after the step's model call)."""
import torch

from modules import script_callbacks, shared
from modules.script_callbacks import CFGDenoiserParams


class CFGDenoiser:
    def __init__(self, sampler):
        self.sampler = sampler
        self.step = 0  # counts model calls of this pass, as the webui's CFGDenoiser does

    def forward(self, x, sigma, cond, uncond):
        state = shared.state
        params = CFGDenoiserParams(x, None, sigma, state.sampling_step, state.sampling_steps, cond, uncond, self)
        script_callbacks.cfg_denoiser_callback(params)
        unet = shared.sd_model.model.diffusion_model
        x_in = torch.cat([params.x, params.x])
        cond_in = torch.cat([params.text_cond, params.text_uncond])
        t = torch.full((x_in.shape[0],), float(sigma) * 100.0)
        out = unet(x_in, t, context=cond_in)
        self.step += 1
        c_out, u_out = out.chunk(2)
        return u_out + self.sampler.p.cfg_scale * (c_out - u_out)


class KDiffusionSampler:
    def __init__(self, name, sd_model):
        self.name = name
        self.p = None
        self.model_wrap_cfg = CFGDenoiser(self)

    def callback_state(self, i):
        shared.state.sampling_step = i

    def launch_sampling(self, steps, func):
        shared.state.sampling_steps = steps
        shared.state.sampling_step = 0
        return func()

    def _run(self, x, sigmas, cond, uncond):
        for i in range(len(sigmas) - 1):
            if shared.state.interrupted:
                break
            denoised = self.model_wrap_cfg.forward(x, sigmas[i], cond, uncond)
            x = x + (sigmas[i + 1] - sigmas[i]) * 0.01 * denoised
            self.callback_state(i)
        return x

    def sample(self, p, x, conditioning, unconditional_conditioning, steps=None):
        self.p = p
        steps = steps or p.steps
        sigmas = torch.linspace(1.0, 0.0, steps + 1)
        return self.launch_sampling(steps, lambda: self._run(x, sigmas, conditioning, unconditional_conditioning))

    def sample_img2img(self, p, x, noise, conditioning, unconditional_conditioning, steps=None):
        self.p = p
        steps = steps or p.steps
        t_enc = int(min(p.denoising_strength, 0.999) * steps)
        sigmas = torch.linspace(1.0, 0.0, steps + 1)[steps - t_enc - 1:]
        xi = x + noise * sigmas[0]
        return self.launch_sampling(t_enc + 1, lambda: self._run(xi, sigmas, conditioning, unconditional_conditioning))


def create_sampler(name, model):
    return KDiffusionSampler(name, model)
