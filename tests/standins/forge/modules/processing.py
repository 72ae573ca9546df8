"""Forge's modules/processing.py: the webui's processing objects with Forge's sampling order.

Per batch: `forge_objects` restored from `forge_objects_original`, extra networks activated, then restored from
`forge_objects_after_applying_lora`; before every sampling pass (txt2img, img2img, and in hires fix once before
and once after another restore) `forge_objects` is restored again and `process_before_every_sampling` runs. The
model is loaded lazily at the start of `process_images`.
"""
import torch

from mirror_webui import run_webui_module

run_webui_module("processing.py", globals())  # dataclasses, Processed, create_infotext, process_images

from modules import devices, extra_networks, sd_models, sd_samplers, shared  # noqa: E402
from modules.shared import state  # noqa: E402


def _reset_forge_objects(sd_model):
    sd_model.forge_objects = sd_model.forge_objects_after_applying_lora.shallow_copy()


def _setup_conds(self):
    self.c = self.sd_model.get_learned_conditioning(self.prompts)
    self.uc = self.sd_model.get_learned_conditioning(self.negative_prompts)


def _calculate_hr_conds(self):
    self.hr_c = self.sd_model.get_learned_conditioning(self.hr_prompts)
    self.hr_uc = self.sd_model.get_learned_conditioning(self.hr_negative_prompts)


def _noise(shape, seed):
    return torch.randn(shape, generator=torch.Generator().manual_seed(int(seed)))


def _txt2img_sample(self, conditioning, unconditional_conditioning, seeds, subseeds, subseed_strength, prompts):
    self.sampler = sd_samplers.create_sampler(self.sampler_name, self.sd_model)
    x = _noise((len(seeds), opt_C, self.height // opt_f, self.width // opt_f), seeds[0])  # noqa: F821
    _reset_forge_objects(self.sd_model)
    if self.scripts is not None:
        self.scripts.process_before_every_sampling(self, x=x, noise=x, c=conditioning, uc=unconditional_conditioning)
    samples = self.sampler.sample(self, x, conditioning, unconditional_conditioning)
    if not self.enable_hr:
        return samples
    return self.sample_hr_pass(samples, seeds)


def _sample_hr_pass(self, samples, seeds):
    if state.interrupted:
        return samples
    self.is_hr_pass = True
    self.sampler = sd_samplers.create_sampler(self.hr_sampler_name or self.sampler_name, self.sd_model)
    samples = torch.nn.functional.interpolate(samples, scale_factor=self.hr_scale, mode="nearest")
    state.nextjob()
    noise = _noise(samples.shape, int(seeds[0]) + 1)
    if not self.disable_extra_networks:
        with devices.autocast():
            extra_networks.activate(self, self.hr_extra_network_data)
    self.calculate_hr_conds()
    if self.scripts is not None:
        self.scripts.before_hr(self)
        # Forge calls the hook twice here: once before and once after restoring forge_objects.
        self.scripts.process_before_every_sampling(self, x=samples, noise=noise, c=self.hr_c, uc=self.hr_uc)
    _reset_forge_objects(self.sd_model)
    if self.scripts is not None:
        self.scripts.process_before_every_sampling(self, x=samples, noise=noise, c=self.hr_c, uc=self.hr_uc)
    samples = self.sampler.sample_img2img(self, samples, noise, self.hr_c, self.hr_uc,
                                          steps=self.hr_second_pass_steps or self.steps)
    self.sampler = None
    self.is_hr_pass = False
    return samples


def _img2img_sample(self, conditioning, unconditional_conditioning, seeds, subseeds, subseed_strength, prompts):
    self.sampler = sd_samplers.create_sampler(self.sampler_name, self.sd_model)
    shape = (len(seeds), opt_C, self.height // opt_f, self.width // opt_f)  # noqa: F821
    x = self.init_latent if self.init_latent is not None else torch.zeros(shape)
    noise = _noise(shape, seeds[0])
    _reset_forge_objects(self.sd_model)
    if self.scripts is not None:
        self.scripts.process_before_every_sampling(self, x=x, noise=noise, c=conditioning, uc=unconditional_conditioning)
    return self.sampler.sample_img2img(self, x, noise, conditioning, unconditional_conditioning)


StableDiffusionProcessing.setup_conds = _setup_conds  # noqa: F821 - defined by the webui source
StableDiffusionProcessingTxt2Img.calculate_hr_conds = _calculate_hr_conds  # noqa: F821
StableDiffusionProcessingTxt2Img.sample = _txt2img_sample  # noqa: F821
StableDiffusionProcessingTxt2Img.sample_hr_pass = _sample_hr_pass  # noqa: F821
StableDiffusionProcessingImg2Img.sample = _img2img_sample  # noqa: F821


def process_images_inner(p):  # noqa: F811 - Forge's loop
    sd_models.forge_model_reload()  # lazy: the checkpoint loads on the first generation
    seed = p.seed if p.seed != -1 else 1234
    p.setup_prompts()
    p.all_seeds = [int(seed) + x for x in range(len(p.all_prompts))]
    p.all_subseeds = list(p.all_seeds)
    if p.scripts is not None:
        p.scripts.process(p)
    infotexts, output = [], []
    with torch.inference_mode():  # as Forge's: contexts, sigmas and latents are inference tensors
        p.init(p.all_prompts, p.all_seeds, p.all_subseeds)
        if state.job_count == -1:
            state.job_count = p.n_iter
        for n in range(p.n_iter):
            p.iteration = n
            if state.interrupted:
                break
            p.sd_model.forge_objects = p.sd_model.forge_objects_original.shallow_copy()
            lo, hi = n * p.batch_size, (n + 1) * p.batch_size
            p.prompts, p.negative_prompts = p.all_prompts[lo:hi], p.all_negative_prompts[lo:hi]
            p.seeds, p.subseeds = p.all_seeds[lo:hi], p.all_subseeds[lo:hi]
            if p.scripts is not None:
                p.scripts.before_process_batch(p, batch_number=n, prompts=p.prompts, seeds=p.seeds, subseeds=p.subseeds)
            if len(p.prompts) == 0:
                break
            p.parse_extra_network_prompts()
            if not p.disable_extra_networks:
                extra_networks.activate(p, p.extra_network_data)
            p.sd_model.forge_objects = p.sd_model.forge_objects_after_applying_lora.shallow_copy()
            if p.scripts is not None:
                p.scripts.process_batch(p, batch_number=n, prompts=p.prompts, seeds=p.seeds, subseeds=p.subseeds)
            p.setup_conds()
            samples = p.sample(conditioning=p.c, unconditional_conditioning=p.uc, seeds=p.seeds, subseeds=p.subseeds,
                               subseed_strength=0, prompts=p.prompts)
            p.prompts, p.negative_prompts = p.all_prompts[lo:hi], p.all_negative_prompts[lo:hi]
            for i in range(samples.shape[0]):
                infotexts.append(create_infotext(p, p.prompts, p.seeds, p.subseeds, index=i,  # noqa: F821
                                                 all_negative_prompts=p.negative_prompts))
                output.append(samples[i])
            state.nextjob()
    if not p.disable_extra_networks and p.extra_network_data:
        extra_networks.deactivate(p, p.extra_network_data)
    res = Processed(p, output, seed=p.all_seeds[0], info=infotexts[0] if infotexts else "",  # noqa: F821
                    infotexts=infotexts)
    if p.scripts is not None:
        p.scripts.postprocess(p, res)
    return res
