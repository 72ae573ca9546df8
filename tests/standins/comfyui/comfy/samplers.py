"""Stand-in for ComfyUI's sampling path (`comfy/samplers.py`), Euler with CFG, under `torch.inference_mode()` as
ComfyUI's executor runs every node.

As the real one: the MODEL is loaded first (`load_models_gpu`: patches moved); the pass's schedule goes into
`transformer_options["sample_sigmas"]`; each model call gets a fresh transformer_options dict (the patch lists are
the MODEL's own) with `cond_or_uncond` and `sigmas` = this call's sigma tensor, a new tensor object per call; cond
and uncond run as one batch.
"""
import torch

from comfy import model_management


def sampling_call(model_patcher, x, sigma, positive, negative, cfg, sample_sigmas):
    base = model_patcher.model
    options = dict(model_patcher.model_options["transformer_options"])
    options["sample_sigmas"] = sample_sigmas
    options["cond_or_uncond"] = [0, 1]
    options["sigmas"] = sigma
    out = base.apply_model(torch.cat([x, x]), torch.cat([sigma] * 2), c_crossattn=torch.cat([positive, negative]),
                           transformer_options=options)
    cond, uncond = out.chunk(2)
    return uncond + (cond - uncond) * cfg


def sample(model_patcher, noise, positive, negative, cfg=7.0, steps=4, sigmas=None):
    with torch.inference_mode():
        model_management.load_models_gpu([model_patcher])
        if sigmas is None:
            sigmas = model_patcher.get_model_object("model_sampling").schedule(steps)
        x = noise * sigmas[0]
        s_in = x.new_ones([x.shape[0]])
        for i in range(len(sigmas) - 1):
            denoised = sampling_call(model_patcher, x, sigmas[i] * s_in, positive, negative, cfg, sigmas)
            x = x + (x - denoised) / sigmas[i] * (sigmas[i + 1] - sigmas[i])
        return x
