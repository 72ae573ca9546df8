"""Training as a host job: create / start / progress / interrupt, shared by the tab (tab.py) and the routes
(train_routes.py). A request is checked whole, dataset folder included, before anything is queued.

A job runs on a thread the way the webui's `call_queue.wrap_gradio_gpu_call` runs a UI job: queued on
`modules.progress` under its task id, then holding the queue lock (generation elsewhere waits) with that task
current and its progress mirrored into `shared.state`, so the standard progress bar (`/internal/progress`),
`/sdapi/v1/progress` and Interrupt work.
"""
from __future__ import annotations

import contextlib
import datetime
import os

from sd_hypernet import formats
from sd_hypernet.errors import HypernetError
from sd_hypernet.names import check_name
from sd_hypernet.train import jobs as train_jobs
from sd_hypernet.train import sizing, templates
from sd_hypernet.train.create import create_file
from sd_hypernet.train.dataset import TrainingSet, image_paths
from sd_hypernet.train.options import TrainOptions
from sd_hypernet.train.trainer import Trainer

from sd_hypernet.hosts import common
from sd_hypernet.hosts.training import settings_wait
from sd_hypernet.hosts.training.output import check_output_dir
from sd_hypernet.hosts.training.webui import SdModelAdapter, base_model_info, webui_preview

JOB_NAME = "train-hypernetwork"


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


PHASE_TEXT = {"preparing": "preparing", "snapshot": "saving its snapshot", "preview": "rendering its preview",
              "plot": "drawing the loss plot", "finished": "finished"}


def _mirror_into_state(state, progress) -> None:
    """The host's bar (`job_no / job_count + sampling_step / sampling_steps / job_count`) at the steps done, never
    lower than it already shows: a preview's sampler moves the sub-step part and then `nextjob()`s, so it may be
    one step ahead; the next report must not pull it back. The text names the phase."""
    total = max(1, int(progress.max_steps))
    step = min(int(progress.step), total)
    if getattr(state, "job_count", None) != total or _bar(state) <= step / total:
        state.job_count = total
        state.job_no = step
        state.sampling_step = 0
        state.sampling_steps = 0
    loss = "" if progress.loss is None else f", loss {progress.loss:.5f}"
    phase = getattr(progress, "phase", "step")
    doing = "" if phase == "step" else f", {PHASE_TEXT.get(phase, phase)}"
    state.textinfo = f"Training hypernetwork: step {progress.step}/{progress.max_steps}{doing}{loss}"


def _bar(state) -> float:
    """The share the webui's progress route computes from the state (modules/progress.py)."""
    count = int(getattr(state, "job_count", 0) or 0)
    if count <= 0:
        return 0.0
    share = int(getattr(state, "job_no", 0) or 0) / count
    steps = int(getattr(state, "sampling_steps", 0) or 0)
    if steps > 0:
        share += int(getattr(state, "sampling_step", 0) or 0) / steps / count
    return min(share, 1.0)


def resolve_network(host: common.Host, name: str) -> str:
    return host.library().resolve(name).path  # resolve re-scans once on a miss


def default_output_dir(name: str) -> str:
    # like the webui's log directory: textual_inversion/<date>/<name>
    return os.path.join("textual_inversion", datetime.date.today().isoformat(), name, "hypernetworks")


def check_request(opts: TrainOptions, resume_from: str | None) -> None:
    """What a job would only find out later: the dataset folder and its images, the template, the snapshot."""
    if not opts.data_root:
        raise HypernetError("training option data_root: the dataset folder is required")
    image_paths(opts.data_root)
    templates.load_template(opts.template)
    if resume_from and not os.path.isfile(resume_from):
        raise HypernetError(f"resume_from {resume_from!r}: no such snapshot file")


def model_family(host: common.Host) -> str | None:
    try:
        return host.model_family()
    except Exception:  # no model loaded yet: the SD1 size
        return None


def resolve_size(host: common.Host, opts: TrainOptions) -> None:
    """Width/height 0 (the default): the dataset's largest image or bucket, capped at the model's native size."""
    if not opts.width or not opts.height:
        width, height = sizing.suggested_size(opts.data_root, opts.size_mode, model_family(host))
        opts.width, opts.height = opts.width or width, opts.height or height


def start_training(host: common.Host, network: str, options: dict, threaded: bool = True,
                   manager: train_jobs.JobManager | None = None, id_task: str | None = None) -> train_jobs.Job:
    """Start training the library network `network` with `options` (TrainOptions fields, plus `resume_from`
    (a snapshot path) and `publish` (copy the result into the hypernetwork folder, default true)).
    `id_task`: the `task(...)` id the host's progress bar polls (the tab's), registered as a queued task.
    Returns the job at once when `threaded`; otherwise runs it on the caller's thread first."""
    from modules import shared

    manager = manager or train_jobs.manager
    manager.check_idle()  # first: a busy trainer is the answer whatever else the request holds
    options = dict(options)
    resume_from = options.pop("resume_from", None)
    publish = bool(options.pop("publish", True))
    try:
        preview_steps = int(options.pop("preview_steps", 20))
    except (TypeError, ValueError):
        raise HypernetError("training option preview_steps: expected a whole number") from None
    source = resolve_network(host, network)
    name = options.get("name") or os.path.splitext(os.path.basename(source))[0]
    check_name(name, "training option name")
    if not options.get("output_dir"):
        options["output_dir"] = default_output_dir(name)
    opts = TrainOptions.from_dict(options).validate()
    check_output_dir(host, opts.output_dir)
    check_request(opts, resume_from)
    resolve_size(host, opts)
    make = getattr(host, "training_adapter", None)  # a host whose model is not ldm/sgm-shaped (Forge)
    if make is None and shared.sd_model is None:
        raise HypernetError("no model is loaded; load a checkpoint first")
    progress_tasks = _progress_module() if id_task else None
    settings_wait.settle_defaults(getattr(shared, "opts", None))  # Apply settings must not wait for nothing

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


def refuse_if_busy(manager: train_jobs.JobManager | None = None, id_task: str | None = None) -> str | None:
    """None when no job runs; else the refusal, and the host's progress bar for `id_task` (started by the
    click's JS) is told the task is over, so it closes instead of waiting for a job that never comes."""
    try:
        (manager or train_jobs.manager).check_idle()
        return None
    except train_jobs.TrainingBusy as e:
        progress_tasks = _progress_module() if id_task else None
        if progress_tasks is not None:
            progress_tasks.finish_task(id_task)
        return str(e)


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
