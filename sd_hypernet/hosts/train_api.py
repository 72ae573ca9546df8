"""Training as a host job: the loaded model as a training adapter, create / start / progress / interrupt,
and their HTTP routes. The tab (tab.py) and the routes share these functions.

A job runs on a thread the way the webui's `call_queue.wrap_gradio_gpu_call` runs a UI job: queued on
`modules.progress` under its task id, then holding the queue lock (generation elsewhere waits) with that task
current and its progress mirrored into `shared.state`, so the standard progress bar (`/internal/progress`),
`/sdapi/v1/progress` and Interrupt work.
"""
from __future__ import annotations

import contextlib
import datetime
import os

import torch

from sd_hypernet import formats
from sd_hypernet.errors import HypernetError
from sd_hypernet.train import jobs as train_jobs
from sd_hypernet.train.create import create_file
from sd_hypernet.train.dataset import TrainingSet
from sd_hypernet.train.options import TrainOptions
from sd_hypernet.train.trainer import Trainer

from . import common

PREFIX = "/sdapi/v1/hypernet"
JOB_NAME = "train-hypernetwork"


# -- the loaded model as a training adapter ------------------------------------------------------------------
class SdModelAdapter:
    """ldm `LatentDiffusion` or sgm `DiffusionEngine` (SDXL) as the webui loads them."""

    def __init__(self, sd_model, width: int = 512, height: int = 512, preview=None):
        self.sd_model = sd_model
        self.unet = sd_model.model.diffusion_model
        ac = getattr(sd_model, "alphas_cumprod", None)
        if ac is None:
            raise HypernetError("the loaded model has no noise schedule (alphas_cumprod); cannot train on it")
        self.alphas_cumprod = torch.as_tensor(ac).detach().cpu()
        self.prediction_type = "v" if getattr(sd_model, "parameterization", "eps") == "v" else "eps"
        self.is_sgm = bool(getattr(sd_model, "is_sdxl", False))
        self.size = (height, width)
        self._preview = preview

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    def encode_images(self, pixels):
        m = self.sd_model
        pixels = pixels.to(self.device, next(m.first_stage_model.parameters()).dtype
                           if hasattr(m, "first_stage_model") else pixels.dtype)
        dist = m.encode_first_stage(pixels)
        mean, std = getattr(dist, "mean", None), getattr(dist, "std", None)
        scale = float(getattr(m, "scale_factor", 1.0))
        if torch.is_tensor(mean) and torch.is_tensor(std) and not self.is_sgm:
            return mean.float() * scale, std.float() * scale
        if hasattr(m, "get_first_stage_encoding"):
            return m.get_first_stage_encoding(dist).float(), None
        return dist.float(), None  # sgm: already sampled and scaled

    def encode_text(self, texts, sizes):
        m = self.sd_model
        if not self.is_sgm:
            return {"context": m.get_learned_conditioning(list(texts))}
        from modules import prompt_parser
        out = [None] * len(texts)
        for size in dict.fromkeys(sizes):
            idx = [i for i, s in enumerate(sizes) if s == size]
            cond = m.get_learned_conditioning(prompt_parser.SdConditioning(
                [texts[i] for i in idx], width=size[1], height=size[0]))
            for j, i in enumerate(idx):
                out[i] = {"context": cond["crossattn"][j:j + 1], "y": cond["vector"][j:j + 1]}
        return {key: torch.cat([o[key] for o in out]) for key in ("context", "y")}

    def apply_unet(self, x_t, t, cond):
        dtype = next(self.unet.parameters()).dtype
        y = cond.get("y")
        return self.unet(x_t.to(dtype), timesteps=t, context=cond["context"].to(dtype),
                         y=None if y is None else y.to(dtype))

    def preview(self, prompt, step, network):
        return self._preview(prompt, step, network) if self._preview else None


def webui_preview(width: int, height: int, steps: int = 20, seed: int = -1):
    """A txt2img render with the network already hooked in (so extra networks are off), or None."""
    def render(prompt, step, network):
        try:
            from modules import processing, shared
            p = processing.StableDiffusionProcessingTxt2Img(
                sd_model=shared.sd_model, prompt=prompt, steps=steps, width=width, height=height, seed=seed,
                do_not_save_grid=True, do_not_save_samples=True)
            p.disable_extra_networks = True
            processed = processing.process_images(p)
            return processed.images[0] if processed.images else None
        except Exception as e:  # a failed preview must not end the training
            print(f"[hypernetworks] preview at step {step} failed: {e}")
            return None
    return render


def base_model_info(sd_model) -> dict:
    info = getattr(sd_model, "sd_checkpoint_info", None)
    family = None
    for flag, fam in (("is_sdxl", "sdxl"), ("is_sd2", "sd2"), ("is_sd1", "sd1")):
        if getattr(sd_model, flag, False):
            family = fam
            break
    return {"name": getattr(info, "name_for_extra", None) or getattr(info, "name", None),
            "hash": getattr(info, "shorthash", None) or getattr(sd_model, "sd_model_hash", None),
            "family": family}


# -- webui job plumbing -------------------------------------------------------------------------------------
def _queue_lock():
    try:
        from modules.call_queue import queue_lock
        return queue_lock
    except ImportError:  # hosts without the webui's call queue
        return contextlib.nullcontext()


def _progress_module():
    try:
        from modules import progress
        return progress
    except ImportError:  # hosts without the webui's task list: the job runs without the progress bar
        return None


def _mirror_into_state(state, progress) -> None:
    state.job_count = max(1, int(progress.max_steps))
    state.job_no = int(progress.step)
    state.sampling_step = int(progress.step)
    state.sampling_steps = int(progress.max_steps)
    loss = "" if progress.loss is None else f", loss {progress.loss:.5f}"
    state.textinfo = f"Training hypernetwork: step {progress.step}/{progress.max_steps}{loss}"


def resolve_network(host: common.Host, name: str) -> str:
    return host.library().resolve(name).path  # resolve re-scans once on a miss


def default_output_dir(name: str) -> str:
    # like the webui's log directory: textual_inversion/<date>/<name>
    return os.path.join("textual_inversion", datetime.date.today().isoformat(), name, "hypernetworks")


def start_training(host: common.Host, network: str, options: dict, threaded: bool = True,
                   manager: train_jobs.JobManager | None = None, id_task: str | None = None) -> train_jobs.Job:
    """Start training the library network `network` with `options` (TrainOptions fields, plus `resume_from`
    (a snapshot path) and `publish` (copy the result into the hypernetwork folder, default true)).
    `id_task`: the `task(...)` id the host's progress bar polls (the tab's), registered as a queued task.
    Returns the job at once when `threaded`; otherwise runs it on the caller's thread first."""
    from modules import shared

    manager = manager or train_jobs.manager
    options = dict(options)
    resume_from = options.pop("resume_from", None)
    publish = bool(options.pop("publish", True))
    preview_steps = int(options.pop("preview_steps", 20))
    source = resolve_network(host, network)
    name = options.get("name") or os.path.splitext(os.path.basename(source))[0]
    options.setdefault("output_dir", default_output_dir(name))
    opts = TrainOptions.from_dict(options).validate()
    if not opts.data_root:
        raise HypernetError("training option data_root: the dataset folder is required")
    make = getattr(host, "training_adapter", None)  # a host whose model is not ldm/sgm-shaped (Forge)
    if make is None and shared.sd_model is None:
        raise HypernetError("no model is loaded; load a checkpoint first")
    progress_tasks = _progress_module() if id_task else None

    def work(job):
        state = shared.state
        with _queue_lock():
            state.begin(job=JOB_NAME)
            if progress_tasks is not None:
                progress_tasks.start_task(id_task)
            state.textinfo = "Training hypernetwork: preparing the dataset"
            try:
                preview = webui_preview(opts.width, opts.height, preview_steps, opts.seed)
                adapter = (make(opts, preview) if make is not None
                           else SdModelAdapter(shared.sd_model, opts.width, opts.height, preview))
                sd_model = getattr(adapter, "sd_model", None) or shared.sd_model
                stop = lambda: job.interrupt_requested or bool(state.interrupted)  # noqa: E731
                dataset = TrainingSet.from_folder(
                    opts.data_root, adapter.encode_images, width=opts.width, height=opts.height,
                    size_mode=opts.size_mode, template=opts.template, name=name,
                    use_alpha_weight=opts.use_alpha_weight, shuffle_tags=opts.shuffle_tags,
                    tag_drop_out=opts.tag_drop_out, latent_sampling=opts.latent_sampling, seed=opts.seed,
                    word_regex=host.opt("dataset_filename_word_regex", "") or "",
                    join_string=host.opt("dataset_filename_join_string", " ") or " ", interrupted=stop)

                def report(progress):
                    job.update(progress)
                    _mirror_into_state(state, progress)

                host_patcher = getattr(host, "patcher", None)
                if host_patcher is not None:
                    host_patcher.clear()  # no prompt networks on top of the one being trained
                common_kw = dict(base_model=base_model_info(sd_model), on_progress=report, interrupted=stop)
                if resume_from:
                    trainer = Trainer.resume(resume_from, adapter, dataset, opts, **common_kw)
                else:
                    trainer = Trainer(formats.load_file(source), adapter, dataset, opts, source_path=source,
                                      **common_kw)
                result = trainer.run()
                final = result.progress.final
                if publish and final and os.path.isfile(final):
                    target = os.path.join(host.hypernetwork_dir(), os.path.basename(final))
                    if os.path.realpath(target) != os.path.realpath(final) and not os.path.exists(target):
                        formats.save_file(formats.load_file(final), target)
                        result.progress.message += f"; added {os.path.basename(target)} to the library"
                        job.update(result.progress)
                    host.library().scan()
                return result
            finally:
                if progress_tasks is not None:
                    progress_tasks.finish_task(id_task)
                state.end()
                # as the webui's job wrapper does after every job: the next one starts clean
                state.interrupted = state.skipped = False
                state.job_count = 0

    job = manager.create(name, work)
    if progress_tasks is not None:
        progress_tasks.add_task_to_queue(id_task)  # "In queue" on the bar until the lock is ours
    if threaded:
        import threading
        job.thread = threading.Thread(target=job.run, name=f"hypernet-train-{job.id}", daemon=True)
        job.thread.start()
    else:
        job.run()
    return job


def interrupt(job_id: str, manager: train_jobs.JobManager | None = None) -> dict:
    job = (manager or train_jobs.manager).interrupt(job_id)
    return job.to_dict()


def progress(job_id: str, manager: train_jobs.JobManager | None = None) -> dict:
    return (manager or train_jobs.manager).get(job_id).to_dict()


def create_network(host: common.Host, body: dict) -> dict:
    """Create a network in the hypernetwork folder; the loaded model is recorded when its family matches."""
    from modules import shared

    body = dict(body)
    name = body.pop("name", None)
    overwrite = bool(body.pop("overwrite", False))
    ext = body.pop("format", ".safetensors")
    ext = ext if ext.startswith(".") else "." + ext
    info = base_model_info(shared.sd_model) if shared.sd_model is not None else {}
    family = body.get("family") or (None if body.get("sizes") else info.get("family"))
    body["family"] = family
    if info.get("family") and info["family"] == family:
        body.setdefault("base_model_name", info.get("name"))
        body.setdefault("base_model_hash", info.get("hash"))
    allowed = {"family", "sizes", "layer_structure", "activation_func", "weight_init", "is_layer_norm",
               "dropout_structure", "activate_output", "base_model_name", "base_model_hash", "optional_info"}
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise HypernetError(f"unknown field(s) for create: {', '.join(unknown)}")
    path = create_file(host.hypernetwork_dir(), name, overwrite=overwrite, ext=ext, **body)
    host.library().scan()
    net = formats.load_file(path)
    return {"name": os.path.splitext(os.path.basename(path))[0], "path": path, "family": net.family,
            "sizes": net.sizes, "parameters": net.parameter_count()}


# -- HTTP routes --------------------------------------------------------------------------------------------
def add_routes(host: common.Host, app, manager: train_jobs.JobManager | None = None) -> None:
    from fastapi import Body, HTTPException

    def guarded(fn, *args, status=400):
        try:
            return fn(*args)
        except HypernetError as e:
            raise HTTPException(status_code=status, detail=str(e))

    def create(body: dict = Body(...)):
        return guarded(create_network, host, body)

    def train(body: dict = Body(...)):
        body = dict(body)
        network = body.pop("network", None) or body.pop("hypernetwork_name", None)
        if not network:
            raise HTTPException(status_code=400, detail="'network' (the hypernetwork to train) is required")
        job = guarded(lambda: start_training(host, network, body, manager=manager))
        return job.to_dict()

    def job_progress(job_id: str):
        return guarded(progress, job_id, manager, status=404)

    def job_interrupt(job_id: str):
        return guarded(interrupt, job_id, manager, status=404)

    app.add_api_route(f"{PREFIX}/create", create, methods=["POST"])
    app.add_api_route(f"{PREFIX}/train", train, methods=["POST"])
    app.add_api_route(f"{PREFIX}/train/{{job_id}}", job_progress, methods=["GET"])
    app.add_api_route(f"{PREFIX}/train/{{job_id}}/interrupt", job_interrupt, methods=["POST"])
