"""Stand-in of the webui's k-diffusion sampler path (v1.10.1: sd_samplers.py, sd_samplers_common.py,
sd_samplers_cfg_denoiser.py, sd_samplers_kdiffusion.py folded into one module): samplers made from a config
(`SamplerData`, whose options say "second_order"), a CFGDenoiser that fires on_cfg_denoiser before every model
call with itself as `params.denoiser` (its `.step` call counter, `.sampler`, `.p`), and sampler functions that
call the model as k-diffusion's do: Euler once per step, Heun twice (the second call at the next sigma), DPM2
twice (the second call between the two sigmas). state.sampling_step is only set by the per-step callback, which
k-diffusion calls after a step's first model call."""
from collections import namedtuple

import torch

from modules import script_callbacks, sd_samplers_common, shared
from modules.script_callbacks import CFGDenoiserParams

SamplerDataTuple = namedtuple("SamplerData", ["name", "constructor", "aliases", "options"])


class SamplerData(SamplerDataTuple):
    def total_steps(self, steps):
        return steps * 2 if self.options.get("second_order", False) else steps


def model_sigmas():
    """The loaded model's sigmas from its alphas_cumprod, as k-diffusion's CompVisDenoiser holds them."""
    ac = shared.sd_model.alphas_cumprod.double()
    return ((1 - ac) / ac).sqrt().float()


def sigma_to_t(sigma):
    log_sigmas = model_sigmas().log()
    return (log_sigmas[None, :] - sigma.float().log()[:, None]).abs().argmin(dim=1).float()


class CFGDenoiser:
    def __init__(self, sampler):
        self.sampler = sampler
        self.p = None
        self.steps = None        # steps of this pass
        self.total_steps = None  # expected model calls of this pass
        self.step = 0            # model calls of this pass so far

    def __call__(self, x, sigma, **extra_args):
        return self.forward(x, sigma, **extra_args)

    def forward(self, x, sigma, uncond, cond, cond_scale, s_min_uncond, image_cond):
        state = shared.state
        if state.interrupted or state.skipped:
            raise InterruptedException
        x_in = torch.cat([x, x])
        sigma_in = torch.cat([sigma, sigma])
        params = CFGDenoiserParams(x_in, image_cond, sigma_in, state.sampling_step, state.sampling_steps, cond, uncond,
                                   self)
        script_callbacks.cfg_denoiser_callback(params)
        unet = shared.sd_model.model.diffusion_model
        cond_in = torch.cat([params.text_cond, params.text_uncond])
        out = unet(params.x, sigma_to_t(params.sigma), context=cond_in)
        c_out, u_out = out.chunk(2)
        self.step += 1
        return u_out + cond_scale * (c_out - u_out)


class InterruptedException(BaseException):
    pass


# -- k-diffusion's sampler functions, as far as model calls and callbacks go ------------------------------------
def _to_d(x, sigma, denoised):
    return (x - denoised) / sigma


def sample_euler(model, x, sigmas, extra_args=None, callback=None):
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        callback({"x": x, "i": i, "sigma": sigmas[i], "denoised": denoised})
        x = x + _to_d(x, sigmas[i], denoised) * (sigmas[i + 1] - sigmas[i])
    return x


def sample_heun(model, x, sigmas, extra_args=None, callback=None):
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        d = _to_d(x, sigmas[i], denoised)
        callback({"x": x, "i": i, "sigma": sigmas[i], "denoised": denoised})
        dt = sigmas[i + 1] - sigmas[i]
        if sigmas[i + 1] == 0:
            x = x + d * dt
            continue
        x_2 = x + d * dt
        denoised_2 = model(x_2, sigmas[i + 1] * s_in, **extra_args)
        x = x + (d + _to_d(x_2, sigmas[i + 1], denoised_2)) / 2 * dt
    return x


def sample_dpm_2(model, x, sigmas, extra_args=None, callback=None):
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        d = _to_d(x, sigmas[i], denoised)
        callback({"x": x, "i": i, "sigma": sigmas[i], "denoised": denoised})
        if sigmas[i + 1] == 0:
            x = x + d * (sigmas[i + 1] - sigmas[i])
            continue
        sigma_mid = sigmas[i].log().lerp(sigmas[i + 1].log(), 0.5).exp()
        x_2 = x + d * (sigma_mid - sigmas[i])
        denoised_2 = model(x_2, sigma_mid * s_in, **extra_args)
        x = x + _to_d(x_2, sigma_mid, denoised_2) * (sigmas[i + 1] - sigmas[i])
    return x


def get_sigmas_karras(n, sigma_min, sigma_max, rho=7.0):
    ramp = torch.linspace(0, 1, n)
    min_inv, max_inv = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return torch.cat([(max_inv + ramp * (min_inv - max_inv)) ** rho, torch.zeros(1)])


class KDiffusionSampler:
    def __init__(self, funcname, sd_model):
        self.funcname = funcname
        self.func = globals()[funcname]
        self.config = None  # set by create_sampler
        self.p = None
        self.stop_at = None
        self.last_latent = None
        self.sampler_extra_args = None
        self.model_wrap_cfg = CFGDenoiser(self)

    def callback_state(self, d):
        shared.state.sampling_step = d["i"]

    def launch_sampling(self, steps, func):
        self.model_wrap_cfg.steps = steps
        self.model_wrap_cfg.total_steps = self.config.total_steps(steps)
        shared.state.sampling_steps = steps
        shared.state.sampling_step = 0
        try:
            return func()
        except InterruptedException:
            return self.last_latent

    def initialize(self, p):
        self.p = p
        self.model_wrap_cfg.p = p
        self.model_wrap_cfg.step = 0
        return {}

    def get_sigmas(self, p, steps):
        discard_next_to_last_sigma = self.config is not None and self.config.options.get("discard_next_to_last_sigma")
        steps += 1 if discard_next_to_last_sigma else 0
        sigmas_model = model_sigmas()
        if p.sampler_noise_scheduler_override:
            sigmas = p.sampler_noise_scheduler_override(steps)
        elif self.config is not None and self.config.options.get("scheduler") == "karras":
            sigmas = get_sigmas_karras(steps, float(sigmas_model[0]), float(sigmas_model[-1]))
        else:  # CompVisDenoiser.get_sigmas: evenly spaced timesteps
            t = torch.linspace(len(sigmas_model) - 1, 0, steps)
            sigmas = torch.cat([sigmas_model.log().index_select(0, t.round().long()).exp(), torch.zeros(1)])
        if discard_next_to_last_sigma:
            sigmas = torch.cat([sigmas[:-2], sigmas[-1:]])
        return sigmas

    def _extra_args(self, p, conditioning, unconditional_conditioning, image_conditioning):
        self.sampler_extra_args = {"cond": conditioning, "image_cond": image_conditioning,
                                   "uncond": unconditional_conditioning, "cond_scale": p.cfg_scale,
                                   "s_min_uncond": 0.0}
        return self.sampler_extra_args

    def sample(self, p, x, conditioning, unconditional_conditioning, steps=None, image_conditioning=None):
        steps = steps or p.steps
        sigmas = self.get_sigmas(p, steps)
        x = x * sigmas[0]
        self.initialize(p)
        extra_args = self._extra_args(p, conditioning, unconditional_conditioning, image_conditioning)
        self.last_latent = x
        return self.launch_sampling(steps, lambda: self.func(self.model_wrap_cfg, x, sigmas, extra_args=extra_args,
                                                             callback=self.callback_state))

    def sample_img2img(self, p, x, noise, conditioning, unconditional_conditioning, steps=None,
                       image_conditioning=None):
        steps, t_enc = sd_samplers_common.setup_img2img_steps(p, steps)
        sigma_sched = self.get_sigmas(p, steps)[steps - t_enc - 1:]
        xi = x + noise * sigma_sched[0]
        self.initialize(p)
        extra_args = self._extra_args(p, conditioning, unconditional_conditioning, image_conditioning)
        self.model_wrap_cfg.init_latent = x
        self.last_latent = x
        return self.launch_sampling(t_enc + 1, lambda: self.func(self.model_wrap_cfg, xi, sigma_sched,
                                                                 extra_args=extra_args, callback=self.callback_state))


samplers_k_diffusion = [
    ("Euler", "sample_euler", ["k_euler"], {}),
    ("Heun", "sample_heun", ["k_heun"], {"second_order": True}),
    ("DPM2", "sample_dpm_2", ["k_dpm_2"], {"scheduler": "karras", "discard_next_to_last_sigma": True,
                                           "second_order": True}),
]

all_samplers = [SamplerData(label, lambda model, funcname=funcname: KDiffusionSampler(funcname, model), aliases,
                            options) for label, funcname, aliases, options in samplers_k_diffusion]
all_samplers_map = {x.name: x for x in all_samplers}


def find_sampler_config(name):
    if name is not None:
        return all_samplers_map.get(name, None)
    return all_samplers[0]


def create_sampler(name, model):
    config = find_sampler_config(name)
    assert config is not None, f"bad sampler name: {name}"
    sampler = config.constructor(model)
    sampler.config = config
    return sampler
