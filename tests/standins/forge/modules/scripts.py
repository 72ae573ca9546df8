"""Forge's modules/scripts.py: the webui's, plus the `process_before_every_sampling` hook (called before every
sampling pass: txt2img, each hires-fix pass, img2img) on Script and on the runner."""
from mirror_webui import run_webui_module

run_webui_module("scripts.py", globals())


def _script_process_before_every_sampling(self, p, *args, **kwargs):
    """Similar to process(), called before every sampling; twice with hires fix."""
    pass


def _runner_process_before_every_sampling(self, p, **kwargs):
    for s in self.alwayson_scripts:
        try:
            s.process_before_every_sampling(p, **kwargs)
        except Exception:
            errors.report(f"Error running process_before_every_sampling: {s.filename}", exc_info=True)


Script.process_before_every_sampling = _script_process_before_every_sampling  # noqa: F821 - defined by the webui source
ScriptRunner.process_before_every_sampling = _runner_process_before_every_sampling  # noqa: F821
