"""Sampling steps from the sampler's own schedule: which (step, total) a model call belongs to (webui and Forge
adapters)."""
from __future__ import annotations


def is_img2img_pass(p) -> bool:
    return bool(getattr(p, "is_hr_pass", False)) or any(
        c.__name__ == "StableDiffusionProcessingImg2Img" for c in type(p).__mro__)


class SigmaSteps:
    """Maps the sigma of a model call to (step, total) of the current pass, from the sampler's own schedule.

    Step i covers sigmas in (schedule[i+1], schedule[i]]: exact for one-call-per-step samplers and for the
    in-between call of DPM2 / DPM++ SDE; Heun's corrector call lands on schedule[i+1] and maps to step i+1 here
    (the webui host corrects it with its call counter). Without a schedule, the host's step counter.
    """

    def __init__(self, p, sampler=None):
        self.p = p
        self.sampler = sampler if sampler is not None else getattr(p, "sampler", None)
        self._schedule = None
        self._tried = False
        self._last = (None, -1, None)  # (sigmas, its version, result): one sync per tensor, not per layer

    def schedule(self):
        if not self._tried:
            self._tried = True
            try:
                self._schedule = self._compute()
            except Exception:
                self._schedule = None
        return self._schedule

    def _compute(self):
        p, sampler = self.p, self.sampler
        if sampler is None or not hasattr(sampler, "get_sigmas"):
            return None
        hires = bool(getattr(p, "is_hr_pass", False))
        steps = (getattr(p, "hr_second_pass_steps", 0) or p.steps) if hires else p.steps
        if not is_img2img_pass(p):
            return sampler.get_sigmas(p, steps).detach().float().cpu()
        try:
            from modules import sd_samplers_common
            # as the host's samplers call it: hires passes its step count, plain img2img passes none
            steps, t_enc = sd_samplers_common.setup_img2img_steps(p, steps if hires else None)
        except (ImportError, AttributeError):
            t_enc = int(min(p.denoising_strength, 0.999) * steps)
        return sampler.get_sigmas(p, steps).detach().float().cpu()[steps - t_enc - 1:]

    def at(self, sigmas) -> tuple[int | None, int | None]:
        last, version, result = self._last
        if sigmas is not None and sigmas is last and _version(sigmas) == version:
            return result
        schedule = self.schedule()
        if schedule is None or sigmas is None or len(schedule) < 2:
            from modules import shared
            state = getattr(shared, "state", None)
            return getattr(state, "sampling_step", None), getattr(state, "sampling_steps", None)
        sigma = float(sigmas.reshape(-1)[0])  # the one host-device sync
        above = int((schedule[:-1] >= sigma * (1 - 1e-5)).sum())
        result = (max(above - 1, 0), len(schedule) - 1)
        self._last = (sigmas, _version(sigmas), result)
        return result


def _version(t) -> int | None:
    """A tensor's version counter; None for an inference tensor (Forge and reForge sample under inference_mode),
    whose object identity is then all there is: the samplers hand each model call a new sigma tensor."""
    return None if t.is_inference() else t._version
