"""AUTOMATIC1111 webui v1.10: forward pre-hooks on the loaded UNet, steps from the cfg-denoiser callback."""
from __future__ import annotations

from modules import script_callbacks, shared

import sd_hypernet

from . import common


class WebuiHost(common.Host):
    name = "webui"

    def __init__(self):
        self.patcher = None
        self._step = (None, None)

    def hypernetwork_dir(self) -> str:
        return getattr(shared.cmd_opts, "hypernetwork_dir", None) or common.DEFAULT_DIR

    def opt(self, key, default=None):
        opts = shared.opts
        if opts is None:
            return default
        if key in opts.data:
            return opts.data[key]
        info = opts.data_labels.get(key)
        return default if info is None else info.default

    def unet(self):
        model = getattr(shared.sd_model, "model", None)
        return getattr(model, "diffusion_model", None)

    def model_family(self):
        sd_model = shared.sd_model
        for flag, family in (("is_sdxl", "sdxl"), ("is_sd2", "sd2"), ("is_sd1", "sd1")):
            if getattr(sd_model, flag, False):
                return family
        return self.patcher.family if self.patcher is not None else None

    # -- hooks ---------------------------------------------------------------------------------------------
    def attach(self, sd_model=None):
        """Hooks on the current UNet; a new UNet (checkpoint change) moves them, keeping the chain off."""
        model = getattr(sd_model, "model", None) if sd_model is not None else None
        unet = getattr(model, "diffusion_model", None) if model is not None else self.unet()
        if self.patcher is not None and self.patcher.attached and self.patcher.unet_ref() is unet:
            return self.patcher
        self.detach()
        if unet is not None:
            self.patcher = sd_hypernet.attach(unet, apply_to_self=bool(self.opt(common.OPT_SELF_ATTENTION, True)))
        return self.patcher

    def detach(self):
        if self.patcher is not None:
            self.patcher.remove()
        self.patcher = None
        self._step = (None, None)

    def set_chain(self, p, chain):
        patcher = self.attach()
        if patcher is None:
            return [(e.name, "no model is loaded") for e in chain]
        patcher.apply_to_self = bool(self.opt(common.OPT_SELF_ATTENTION, True))
        self._step = (None, None)
        patcher.set_step(None, None)  # a new pass: no step until the sampler reports one
        if not chain:
            patcher.clear()
            return []
        return patcher.set_chain(chain, self.model_family())

    # -- steps ---------------------------------------------------------------------------------------------
    def on_cfg_denoiser(self, params):
        # state.sampling_step is updated after each step's model call, so it lags by one; the denoiser's own
        # call counter is exact for one-call-per-step samplers and never lags: take the smaller of the two.
        step = int(params.sampling_step)
        calls = getattr(getattr(params, "denoiser", None), "step", None)
        if isinstance(calls, int):
            step = min(calls, step + 1)
        total = params.total_sampling_steps
        self._step = (step, total)
        if self.patcher is not None:
            self.patcher.set_step(step, total)

    def step(self):
        return self._step

    def interrupted(self):
        return bool(getattr(shared.state, "interrupted", False))

    def warn(self, message, toast=False):
        print(f"[hypernetworks] {message}")
        if toast:
            try:
                import gradio as gr
                gr.Warning(message)
            except Exception:  # no request context (API, tests): the console line is enough
                pass


def install():
    """Make the webui host current and register its callbacks (see scripts/hypernetworks.py)."""
    from . import wire

    host = WebuiHost()
    wire(host, extra_callbacks=[(script_callbacks.on_cfg_denoiser, host.on_cfg_denoiser)])
    return None
