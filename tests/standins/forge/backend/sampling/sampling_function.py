"""Stand-in for Forge's `backend/sampling/sampling_function.py`: how one denoiser call reaches the UNet.

Per call, `transformer_options` is a shallow copy of the UnetPatcher's `model_options["transformer_options"]`
(so the patches registered on `forge_objects.unet` at sampling time) plus `cond_or_uncond`, `sigmas`,
`cond_mark`, `cond_indices`, `uncond_indices`. Cond and uncond run batched, uncond first (`[1, 0]`), as Forge's
reversed batching order gives.
"""
import torch

COND, UNCOND = 0, 1


def compute_cond_mark(cond_or_uncond, sigmas):
    per_chunk = int(sigmas.shape[0])
    return torch.Tensor([cx for cx in cond_or_uncond for _ in range(per_chunk)]).to(sigmas)


def compute_cond_indices(cond_or_uncond, sigmas):
    per_chunk = int(sigmas.shape[0])
    cond_indices, uncond_indices = [], []
    for i, cx in enumerate(cond_or_uncond):
        target = cond_indices if cx == COND else uncond_indices
        target += list(range(i * per_chunk, (i + 1) * per_chunk))
    return cond_indices, uncond_indices


def calc_cond_uncond_batch(model, cond, uncond, x_in, timestep, model_options):
    to_run = [(cond, COND)] + ([(uncond, UNCOND)] if uncond is not None else [])
    to_run.reverse()
    cond_or_uncond = [label for _, label in to_run]
    input_x = torch.cat([x_in] * len(to_run))
    context = torch.cat([c for c, _ in to_run])
    timestep_ = torch.cat([timestep] * len(to_run))

    transformer_options = model_options.get("transformer_options", {}).copy()
    transformer_options["cond_or_uncond"] = cond_or_uncond[:]
    transformer_options["sigmas"] = timestep
    transformer_options["cond_mark"] = compute_cond_mark(cond_or_uncond, timestep)
    transformer_options["cond_indices"], transformer_options["uncond_indices"] = \
        compute_cond_indices(cond_or_uncond, timestep)
    c = {"c_crossattn": context, "transformer_options": transformer_options}

    if "model_function_wrapper" in model_options:
        output = model_options["model_function_wrapper"](
            model.apply_model, {"input": input_x, "timestep": timestep_, "c": c, "cond_or_uncond": cond_or_uncond})
    else:
        output = model.apply_model(input_x, timestep_, **c)
    chunks = output.chunk(len(to_run))
    out = {label: chunks[i] for i, label in enumerate(cond_or_uncond)}
    return out[COND], out.get(UNCOND)


def sampling_function(unet_patcher, x, timestep, uncond, cond, cond_scale):
    """The Forge denoiser: reads `forge_objects.unet` (the patcher) at call time, runs cond/uncond, applies CFG."""
    model_options = unet_patcher.model_options
    uncond_ = None if cond_scale == 1.0 else uncond
    cond_pred, uncond_pred = calc_cond_uncond_batch(unet_patcher.model, cond, uncond_, x, timestep, model_options)
    if uncond_pred is None:
        return cond_pred
    return uncond_pred + (cond_pred - uncond_pred) * cond_scale
