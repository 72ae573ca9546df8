"""AUTOMATIC1111 webui v1.10: forward pre-hooks on the loaded UNet, steps from the cfg-denoiser callback."""
from __future__ import annotations

import torch
from modules import shared

import sd_hypernet

from sd_hypernet.hosts import common
from sd_hypernet.hosts.adapters.sampling_steps import SigmaSteps


class WebuiHost(common.Host):
    name = "webui"

    def __init__(self):
        self.patcher = None
        self._step = (None, None)
        self._ranged = False   # the chain has a start/stop: steps must be exact, worth one sync per call
        self._sigmas = None    # SigmaSteps of the current sampling pass

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
        family = common.family_from_flags(shared.sd_model)
        if family:
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
            self.patcher.on_error = lambda names, e: self.warn(
                f"skipped {names} for the rest of this generation: {type(e).__name__}: {e}", toast=True)
        return self.patcher

    def detach(self):
        if self.patcher is not None:
            self.patcher.remove()
        self.patcher = None
        self._step = (None, None)
        self._ranged, self._sigmas = False, None

    def set_chain(self, p, chain):
        patcher = self.attach()
        if patcher is None:
            return [(e.name, "no model is loaded") for e in chain]
        patcher.apply_to_self = bool(self.opt(common.OPT_SELF_ATTENTION, True))
        self._step = (None, None)
        self._ranged, self._sigmas = False, None
        patcher.set_step(None, None)  # a new pass: no step until the sampler reports one
        if not chain:
            patcher.clear()
            return []
        refused = patcher.set_chain(chain, self.model_family())
        self._ranged = any(e.has_step_range for e in patcher.chain)
        return refused

    # -- steps ---------------------------------------------------------------------------------------------
    def on_cfg_denoiser(self, params):
        step, total = self._counted_step(params)
        if self._ranged:
            exact = self._schedule_step(params)
            if exact is not None:
                step, total = exact
        self._step = (step, total)
        if self.patcher is not None:
            self.patcher.set_step(step, total)

    @staticmethod
    def _second_call(denoiser, calls) -> bool:
        """Whether this denoiser call is the second model call of a step (Heun, DPM2, DPM++ 2S a, DPM++ SDE:
        two calls per step, only the last step has one, so the odd calls are the second ones)."""
        config = getattr(getattr(denoiser, "sampler", None), "config", None)
        options = getattr(config, "options", None) or {}
        return bool(options.get("second_order")) and isinstance(calls, int) and calls % 2 == 1

    def _counted_step(self, params):
        """The step from the host's counters, no sync: state.sampling_step is set by the sampler's per-step
        callback, after the step's first model call, so it lags by one; the denoiser's call counter never lags
        and is exact for one call per step. The second call of a two-call step comes after that step's callback:
        it belongs to calls // 2."""
        step = int(params.sampling_step)
        denoiser = getattr(params, "denoiser", None)
        calls = getattr(denoiser, "step", None)
        if isinstance(calls, int):
            step = min(calls, step + 1)
            if self._second_call(denoiser, calls):
                step = min(step, calls // 2)
        return step, params.total_sampling_steps

    def _schedule_step(self, params):
        """The step from the call's sigma in the sampler's schedule (k-diffusion samplers); None without one.
        Costs one host-device sync per denoiser call (reading the sigma), so only chains with a step range pay."""
        denoiser = getattr(params, "denoiser", None)
        sampler = getattr(denoiser, "sampler", None)
        p = getattr(denoiser, "p", None) or getattr(sampler, "p", None)
        sigma = getattr(params, "sigma", None)
        if p is None or sampler is None or not torch.is_tensor(sigma):
            return None
        calls = getattr(denoiser, "step", None)
        tracker = self._sigmas
        if tracker is None or tracker.sampler is not sampler or tracker.p is not p or calls == 0:
            tracker = self._sigmas = SigmaSteps(p, sampler)  # a new pass: its own schedule
        if tracker.schedule() is None:
            return None
        step, total = tracker.at(sigma)
        if self._second_call(denoiser, calls):
            step = min(step, calls // 2)  # Heun's second call sits on the next step's sigma
        return step, total

    def step(self):
        return self._step

    def interrupted(self):
        return bool(getattr(shared.state, "interrupted", False))

    def warn(self, message, toast=False):
        print(f"[hypernetworks] {message}")
        if toast:
            from sd_hypernet.hosts.ui.notify import toast_in_request
            toast_in_request(message)


def install(host_class=WebuiHost):
    """Make the webui host current and register its callbacks (see scripts/hypernetworks.py)."""
    from sd_hypernet.hosts.wiring import wire

    host = host_class()
    wire(host, extra_callbacks=[("on_cfg_denoiser", host.on_cfg_denoiser)])
    return None
