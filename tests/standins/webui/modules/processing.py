"""Stand-in of modules/processing.py: the processing objects and `process_images` with the webui's order of
extra-network activation, conditioning, sampling (cfg-denoiser callbacks) and the hires pass. Conditioning is a
deterministic tensor per prompt (no text encoder): what matters here is what the UNet's attention receives."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import torch

from modules import devices, extra_networks, infotext_utils, sd_samplers, shared
from modules.shared import opts, state

opt_C = 4
opt_f = 8
COND_TOKENS = 4


def fake_encoder_output(prompts, context_dim):
    """The text encoder's output: one (tokens, context_dim) tensor per prompt, seeded by the prompt text."""
    rows = []
    for prompt in prompts:
        seed = int(hashlib.sha256(prompt.encode("utf8")).hexdigest()[:8], 16)
        g = torch.Generator().manual_seed(seed)
        rows.append(torch.randn(COND_TOKENS, context_dim, generator=g))
    return torch.stack(rows)


def restore_mean(z):
    """The default emphasis ("Original", modules/sd_emphasis.py) after the encoder: tokens times their weights
    (all 1 here), then the batch rescaled by its mean before over its mean after. An output whose mean is exactly
    0 comes out NaN (0/0): on Forge Classic the random test checkpoint, whose CLIP ends in an identity LayerNorm,
    gave that for one caption, in txt2img and in training alike (the webui and reForge have the same step)."""
    original = z.mean()
    return z * (original / z.mean())


def fake_conditioning(prompts, context_dim):
    """What get_learned_conditioning returns: the encoder's output after the emphasis step."""
    return restore_mean(fake_encoder_output(prompts, context_dim))


def unet_context_dim():
    unet = shared.sd_model.model.diffusion_model
    for module in unet.modules():
        if hasattr(module, "to_k") and hasattr(module, "to_q") and module.to_k.in_features != module.to_q.in_features:
            return module.to_k.in_features
    raise RuntimeError("UNet has no cross-attention")


@dataclass(repr=False)
class StableDiffusionProcessing:
    prompt: str = ""
    negative_prompt: str = ""
    styles: list = None
    seed: int = -1
    sampler_name: str = "Euler"
    batch_size: int = 1
    n_iter: int = 1
    steps: int = 50
    cfg_scale: float = 7.0
    width: int = 64
    height: int = 64
    extra_generation_params: dict = None
    override_settings: dict = None
    denoising_strength: float = None
    disable_extra_networks: bool = False

    comments: dict = None
    is_hr_pass: bool = field(default=False, init=False)
    all_prompts: list = field(default=None, init=False)
    all_negative_prompts: list = field(default=None, init=False)
    all_seeds: list = field(default=None, init=False)
    iteration: int = field(default=0, init=False)
    main_prompt: str = field(default=None, init=False)
    prompts: list = field(default=None, init=False)
    negative_prompts: list = field(default=None, init=False)
    seeds: list = field(default=None, init=False)
    subseeds: list = field(default=None, init=False)
    extra_network_data: dict = field(default=None, init=False)
    scripts: Any = field(default=None, init=False)
    sampler: Any = field(default=None, init=False)
    c: Any = field(default=None, init=False)
    uc: Any = field(default=None, init=False)
    is_api: bool = field(default=False, init=False)
    sampler_noise_scheduler_override: Any = field(default=None, init=False)

    def __post_init__(self):
        self.comments = {}
        self.styles = self.styles or []
        self.extra_generation_params = self.extra_generation_params or {}
        self.override_settings = self.override_settings or {}

    @property
    def sd_model(self):
        return shared.sd_model

    def comment(self, text):
        self.comments[text] = 1

    def setup_prompts(self):
        if isinstance(self.prompt, list):
            self.all_prompts = self.prompt
        else:
            self.all_prompts = self.batch_size * self.n_iter * [self.prompt]
        if isinstance(self.negative_prompt, list):
            self.all_negative_prompts = self.negative_prompt
        else:
            self.all_negative_prompts = self.batch_size * self.n_iter * [self.negative_prompt]
        self.main_prompt = self.all_prompts[0]

    def parse_extra_network_prompts(self):
        self.prompts, self.extra_network_data = extra_networks.parse_prompts(self.prompts)

    def setup_conds(self):
        dim = unet_context_dim()
        self.c = fake_conditioning(self.prompts, dim)
        self.uc = fake_conditioning(self.negative_prompts, dim)

    def init(self, all_prompts, all_seeds, all_subseeds):
        pass

    def sample(self, conditioning, unconditional_conditioning, seeds, subseeds, subseed_strength, prompts):
        raise NotImplementedError

    def get_token_merging_ratio(self, for_hr=False):
        return 0

    def close(self):
        self.sampler = None
        self.c = None
        self.uc = None


@dataclass(repr=False)
class StableDiffusionProcessingTxt2Img(StableDiffusionProcessing):
    enable_hr: bool = False
    denoising_strength: float = 0.75
    hr_scale: float = 2.0
    hr_second_pass_steps: int = 0
    hr_sampler_name: str = None
    hr_prompt: str = ''
    hr_negative_prompt: str = ''

    hr_c: Any = field(default=None, init=False)
    hr_uc: Any = field(default=None, init=False)
    all_hr_prompts: list = field(default=None, init=False)
    all_hr_negative_prompts: list = field(default=None, init=False)
    hr_prompts: list = field(default=None, init=False)
    hr_negative_prompts: list = field(default=None, init=False)
    hr_extra_network_data: list = field(default=None, init=False)

    def init(self, all_prompts, all_seeds, all_subseeds):
        if self.enable_hr:
            if tuple(self.hr_prompt) != tuple(self.prompt):
                self.extra_generation_params["Hires prompt"] = self.hr_prompt
            if self.hr_second_pass_steps:
                self.extra_generation_params["Hires steps"] = self.hr_second_pass_steps

    def setup_prompts(self):
        super().setup_prompts()
        if not self.enable_hr:
            return
        if self.hr_prompt == '':
            self.hr_prompt = self.prompt
        if self.hr_negative_prompt == '':
            self.hr_negative_prompt = self.negative_prompt
        self.all_hr_prompts = self.hr_prompt if isinstance(self.hr_prompt, list) else self.batch_size * self.n_iter * [self.hr_prompt]
        self.all_hr_negative_prompts = (self.hr_negative_prompt if isinstance(self.hr_negative_prompt, list)
                                        else self.batch_size * self.n_iter * [self.hr_negative_prompt])

    def parse_extra_network_prompts(self):
        super().parse_extra_network_prompts()
        if self.enable_hr:
            lo, hi = self.iteration * self.batch_size, (self.iteration + 1) * self.batch_size
            self.hr_prompts = self.all_hr_prompts[lo:hi]
            self.hr_negative_prompts = self.all_hr_negative_prompts[lo:hi]
            self.hr_prompts, self.hr_extra_network_data = extra_networks.parse_prompts(self.hr_prompts)

    def sample(self, conditioning, unconditional_conditioning, seeds, subseeds, subseed_strength, prompts):
        self.sampler = sd_samplers.create_sampler(self.sampler_name, self.sd_model)
        g = torch.Generator().manual_seed(int(seeds[0]))
        x = torch.randn(len(seeds), opt_C, self.height // opt_f, self.width // opt_f, generator=g)
        samples = self.sampler.sample(self, x, conditioning, unconditional_conditioning)
        if not self.enable_hr:
            return samples
        return self.sample_hr_pass(samples, seeds)

    def sample_hr_pass(self, samples, seeds):
        if shared.state.interrupted:
            return samples
        self.is_hr_pass = True
        self.sampler = sd_samplers.create_sampler(self.hr_sampler_name or self.sampler_name, self.sd_model)
        samples = torch.nn.functional.interpolate(samples, scale_factor=self.hr_scale, mode="nearest")
        shared.state.nextjob()
        noise = torch.randn(samples.shape, generator=torch.Generator().manual_seed(int(seeds[0]) + 1))
        if not self.disable_extra_networks:
            with devices.autocast():
                extra_networks.activate(self, self.hr_extra_network_data)
        with devices.autocast():
            self.calculate_hr_conds()
        if self.scripts is not None:
            self.scripts.before_hr(self)
        samples = self.sampler.sample_img2img(self, samples, noise, self.hr_c, self.hr_uc,
                                              steps=self.hr_second_pass_steps or self.steps)
        self.sampler = None
        self.is_hr_pass = False
        return samples

    def calculate_hr_conds(self):
        dim = unet_context_dim()
        self.hr_c = fake_conditioning(self.hr_prompts, dim)
        self.hr_uc = fake_conditioning(self.hr_negative_prompts, dim)


@dataclass(repr=False)
class StableDiffusionProcessingImg2Img(StableDiffusionProcessing):
    init_latent: Any = None
    denoising_strength: float = 0.75

    def sample(self, conditioning, unconditional_conditioning, seeds, subseeds, subseed_strength, prompts):
        self.sampler = sd_samplers.create_sampler(self.sampler_name, self.sd_model)
        g = torch.Generator().manual_seed(int(seeds[0]))
        shape = (len(seeds), opt_C, self.height // opt_f, self.width // opt_f)
        x = self.init_latent if self.init_latent is not None else torch.zeros(shape)
        noise = torch.randn(shape, generator=g)
        return self.sampler.sample_img2img(self, x, noise, conditioning, unconditional_conditioning)


class Processed:
    def __init__(self, p, images_list, seed=-1, info="", infotexts=None):
        self.images = images_list
        self.prompt = p.prompt
        self.all_prompts = p.all_prompts
        self.seed = seed
        self.info = info
        self.infotexts = infotexts or [info]
        self.comments = "".join(f"{comment}\n" for comment in p.comments)
        self.extra_generation_params = p.extra_generation_params
        self.all_seeds = p.all_seeds

    def js(self):
        return json.dumps({"prompt": self.prompt, "all_prompts": self.all_prompts, "seed": self.seed,
                           "all_seeds": self.all_seeds, "infotexts": self.infotexts,
                           "extra_generation_params": self.extra_generation_params})


def create_infotext(p, all_prompts, all_seeds, all_subseeds, comments=None, iteration=0, position_in_batch=0,
                    use_main_prompt=False, index=None, all_negative_prompts=None):
    if index is None:
        index = position_in_batch + iteration * p.batch_size
    if all_negative_prompts is None:
        all_negative_prompts = p.all_negative_prompts
    generation_params = {
        "Steps": p.steps,
        "Sampler": p.sampler_name,
        "CFG scale": p.cfg_scale,
        "Seed": p.all_seeds[0] if use_main_prompt else all_seeds[index],
        "Size": f"{p.width}x{p.height}",
        "Model hash": getattr(shared.sd_model, "sd_model_hash", None),
        "Denoising strength": getattr(p, 'denoising_strength', None) if getattr(p, "enable_hr", True) else None,
        **p.extra_generation_params,
    }
    text = ", ".join([k if k == v else f'{k}: {infotext_utils.quote(v)}' for k, v in generation_params.items() if v is not None])
    prompt_text = p.main_prompt if use_main_prompt else all_prompts[index]
    negative = f"\nNegative prompt: {all_negative_prompts[index]}" if all_negative_prompts[index] else ""
    return f"{prompt_text}{negative}\n{text}".strip()


def process_images(p: StableDiffusionProcessing) -> Processed:
    stored_opts = {k: opts.data.get(k) for k in p.override_settings.keys()}
    try:
        for k, v in p.override_settings.items():
            opts.set(k, v, is_api=True, run_callbacks=False)
        return process_images_inner(p)
    finally:
        for k, v in stored_opts.items():
            setattr(opts, k, v)


def process_images_inner(p: StableDiffusionProcessing) -> Processed:
    seed = p.seed if p.seed != -1 else 1234
    p.setup_prompts()
    p.all_seeds = [int(seed) + x for x in range(len(p.all_prompts))]
    p.all_subseeds = list(p.all_seeds)
    if p.scripts is not None:
        p.scripts.process(p)
    infotexts = []
    output = []
    with torch.no_grad():
        p.init(p.all_prompts, p.all_seeds, p.all_subseeds)
        if state.job_count == -1:
            state.job_count = p.n_iter
        for n in range(p.n_iter):
            p.iteration = n
            if state.interrupted:
                break
            p.prompts = p.all_prompts[n * p.batch_size:(n + 1) * p.batch_size]
            p.negative_prompts = p.all_negative_prompts[n * p.batch_size:(n + 1) * p.batch_size]
            p.seeds = p.all_seeds[n * p.batch_size:(n + 1) * p.batch_size]
            p.subseeds = p.all_subseeds[n * p.batch_size:(n + 1) * p.batch_size]
            if p.scripts is not None:
                p.scripts.before_process_batch(p, batch_number=n, prompts=p.prompts, seeds=p.seeds, subseeds=p.subseeds)
            if len(p.prompts) == 0:
                break
            p.parse_extra_network_prompts()
            if not p.disable_extra_networks:
                with devices.autocast():
                    extra_networks.activate(p, p.extra_network_data)
            if p.scripts is not None:
                p.scripts.process_batch(p, batch_number=n, prompts=p.prompts, seeds=p.seeds, subseeds=p.subseeds)
            p.setup_conds()
            samples = p.sample(conditioning=p.c, unconditional_conditioning=p.uc, seeds=p.seeds, subseeds=p.subseeds,
                               subseed_strength=0, prompts=p.prompts)
            # the webui restores the unstripped prompts before writing infotexts
            p.prompts = p.all_prompts[n * p.batch_size:(n + 1) * p.batch_size]
            p.negative_prompts = p.all_negative_prompts[n * p.batch_size:(n + 1) * p.batch_size]
            for i in range(samples.shape[0]):
                infotexts.append(create_infotext(p, p.prompts, p.seeds, p.subseeds, index=i,
                                                 all_negative_prompts=p.negative_prompts))
                output.append(samples[i])
            state.nextjob()
    # as in the webui: skipped when no network was mentioned (state must already be clean via activate(p, []))
    if not p.disable_extra_networks and p.extra_network_data:
        extra_networks.deactivate(p, p.extra_network_data)
    res = Processed(p, output, seed=p.all_seeds[0], info=infotexts[0] if infotexts else "", infotexts=infotexts)
    if p.scripts is not None:
        p.scripts.postprocess(p, res)
    return res
