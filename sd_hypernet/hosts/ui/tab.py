"""The top-level "Hypernetworks" tab (on_ui_tabs): Create, Train and Library.

Only gradio APIs present in both 3.41 (webui 1.10) and 4.x (Forge) are used: gr.update, no gr.Box, no
Component.update. Training runs as a host job (train_jobs.start_training); the Train button's handler is a
generator that streams the status, loss plot and last preview until the job ends. Like the webui's own Train
tab, the button's JS makes a `task(...)` id and starts the host's progress bar on it (requestProgress);
the job registers that id with modules.progress, so the bar, ETA and Interrupt follow it.
"""
from __future__ import annotations

import html
import os
import time

from sd_hypernet import formats
from sd_hypernet.errors import HypernetError
from sd_hypernet.info import cached_describe
from sd_hypernet.network import USABLE_ACTIVATIONS, WEIGHT_INITS
from sd_hypernet.train import jobs as core_jobs
from sd_hypernet.train.create import FAMILY_SIZES
from sd_hypernet.train.dataset import LATENT_SAMPLING, SIZE_MODES
from sd_hypernet.train import sizing
from sd_hypernet.train.templates import list_templates

from sd_hypernet.hosts import common
from sd_hypernet.hosts.training import jobs as train_jobs
from sd_hypernet.hosts.training import settings_wait
from sd_hypernet.hosts.ui.card_facts import activation_name, guard_family_text

ALL_SIZES = sorted({s for sizes in FAMILY_SIZES.values() for s in sizes})
LIBRARY_COLUMNS = ["name", "format", "family", "sizes", "structure", "activation", "step", "base model",
                   "hash", "size (KiB)", "error"]
HASH_NOTE = ("Hashes are computed on demand, never by a listing: an empty hash cell means not computed yet. A card's "
             "ⓘ popup, its edit dialog, a generation that uses the file, or *Compute hashes* below fill it in.")
OPTIMIZERS = ("auto", "Prodigy", "AdamW", "Adam", "SGD", "RMSprop", "Adagrad", "Adamax", "NAdam", "RAdam",
              "Adadelta")


# -- plain functions (testable without gradio) -------------------------------------------------------------
def library_rows(host: common.Host, compute_hashes: bool = False) -> list[list]:
    """One row per file (LIBRARY_COLUMNS); `compute_hashes` hashes the files not hashed yet (slow on a large
    library: only when asked)."""
    lib = host.library()
    lib.scan()
    rows = []
    for item in lib.items():
        if compute_hashes:
            try:
                item.short_hash(compute=True)
            except OSError:
                pass
        ext = os.path.splitext(item.path)[1].lower()
        row = [item.relpath, ext, "", "", "", "", "", "", item.short_hash(compute=False) or "",
               round(item.size / 1024, 1), ""]
        try:
            info = cached_describe(item.path)
            meta = info["metadata"]
            row[2:9] = [guard_family_text(info["sizes"], info["family"]), ", ".join(map(str, info["sizes"])),
                        ", ".join(f"{x:g}" for x in meta.get("layer_structure") or []),
                        activation_name(meta.get("activation_func")), str(meta.get("step") or 0),
                        str(meta.get("sd_checkpoint_name") or ""),
                        info["short_hash"] or item.short_hash(compute=False) or ""]
        except HypernetError as e:
            row[-1] = str(e)
        rows.append(row)
    return rows


def library_relpath(host: common.Host, path: str) -> str:
    """A file's entry in the Train dropdown (its path relative to the hypernetwork folder, '/'-separated)."""
    return os.path.relpath(os.path.abspath(path), os.path.abspath(host.library().root)).replace(os.sep, "/")


def convert(host: common.Host, relpath: str, target_ext: str) -> str:
    """Write `<stem><target_ext>` next to the library file `relpath`; never overwrites."""
    if not relpath:
        raise HypernetError("choose a file to convert")
    lib = host.library()
    lib.scan()
    item = next((i for i in lib.items() if i.relpath == relpath), None)
    if item is None:
        raise HypernetError(f"{relpath} is not in the hypernetwork folder")
    src = item.path
    target = os.path.splitext(src)[0] + target_ext
    if os.path.exists(target):
        raise HypernetError(f"{os.path.basename(target)} already exists")
    formats.convert(src, target)
    lib.scan()
    return target


def job_status_html(info: dict | None) -> str:
    if not info:
        return "<p>No training job.</p>"
    parts = [f"<b>{html.escape(str(info.get('status')))}</b>"]
    phase = info.get("phase")
    if phase and phase not in ("step", "finished") and info.get("status") in ("running", "training"):
        parts.append(html.escape(PHASES.get(phase, phase)))
    if info.get("step") is not None:
        parts.append(f"step {info['step']}/{info.get('max_steps')}")
    if info.get("loss") is not None:
        parts.append(f"loss {info['loss']:.5f}")
    if info.get("learn_rate") is not None:
        parts.append(f"lr {info['learn_rate']:.3g}")
    if info.get("eta_seconds") is not None:
        parts.append(f"ETA {int(info['eta_seconds'])} s")
    text = " · ".join(parts)
    if info.get("warning"):
        suggested = info.get("suggested_learn_rate")
        text += ("<br><b style='color:var(--error-text-color, red)'>Diverging</b>: " + html.escape(str(info["warning"]))
                 + (f" <b>Try learning rate {suggested:g}.</b>" if suggested else ""))
    if info.get("status") == "running":
        text += f"<br><i>{html.escape(settings_wait.WAITS)}</i>"
    for key in ("last_snapshot", "message", "error"):
        if info.get(key):
            text += f"<br>{key.replace('_', ' ')}: {html.escape(str(info[key]))}"
    # the Train button's JS reads this mark: no progress bar for a click that will be refused
    running = ' data-hypernet-job-running="1"' if info.get("status") in ("queued", "running") else ""
    return f"<p{running}>{text}</p>"


PHASES = {"preparing": "preparing the dataset", "snapshot": "saving a snapshot", "preview": "rendering a preview",
          "plot": "drawing the loss plot"}


def size_hint(host: common.Host, folder: str, width, height, size_mode: str = "fixed", batch=1) -> str:
    """What the Train sub-tab shows under the size fields before a run: the size it will train at (0: from the
    dataset) and the estimated work per step."""
    if not folder:
        return "<p>Width/height 0: the dataset's largest image (at most the model's native size).</p>"
    try:
        width, height, batch = int(width or 0), int(height or 0), max(1, int(batch or 1))
        if not width or not height:
            w, h = sizing.suggested_size(folder, size_mode or "fixed", train_jobs.model_family(host))
            width, height = width or w, height or h
        return f"<p>{html.escape(sizing.describe(folder, width, height, batch))}</p>"
    except (HypernetError, ValueError, TypeError) as e:
        return f"<p>{html.escape(str(e))}</p>"


def train_options(values: dict) -> dict:
    """Tab field values -> start_training options (empty fields fall back to the defaults)."""
    out = {}
    for key, value in values.items():
        if value is None or value == "":
            continue
        if key in ("steps", "batch_size", "gradient_accumulation", "warmup_steps", "save_every", "preview_every",
                   "width", "height", "seed"):
            value = int(value)
        out[key] = value
    if out.get("clip_grad_mode") in ("disabled", "None"):
        out["clip_grad_mode"] = None
    if out.get("mixed_precision") in ("no", "None"):
        out["mixed_precision"] = None
    return out


def task_id(value) -> str | None:
    """The `task(...)` id the Train button's JS put in the hidden input, as the webui's job wrapper reads it."""
    if isinstance(value, str) and value.startswith("task(") and value.endswith(")"):
        return value
    return None


def run_training(host: common.Host, session: dict, id_task, network, values: dict, poll: float = 1.0,
                 manager: core_jobs.JobManager | None = None):
    """The Train button: start the job (queued behind other jobs, on the progress bar as `id_task`), then
    stream (status html, loss plot, preview) until it ends."""
    if not network:
        yield "<p>Choose a hypernetwork to train.</p>", None, None
        return
    busy = train_jobs.refuse_if_busy(manager, task_id(id_task))
    if busy:
        yield refusal_html(busy), None, None
        return
    try:
        job = train_jobs.start_training(host, os.path.splitext(network)[0], train_options(values),
                                       manager=manager, id_task=task_id(id_task))
    except HypernetError as e:
        yield f"<p style='color:var(--error-text-color, red)'>{html.escape(str(e))}</p>", None, None
        return
    session["job"] = job
    yield from stream_job(job, poll=poll)


def refusal_html(message: str) -> str:
    return f"<p style='color:var(--error-text-color, red)'>{html.escape(message)}</p>"


def interrupt_training(session: dict, manager: core_jobs.JobManager | None = None) -> str:
    """Our Interrupt button: the job's own flag, and the host's state when the job is the host's current one."""
    job = session.get("job")
    if job is None or not job.running:  # e.g. a job started over the API since
        job = (manager or core_jobs.manager).active() or job
    if job is not None:
        job.interrupt()
    try:
        from modules import shared
        if shared.state.job == train_jobs.JOB_NAME:
            shared.state.interrupt()
    except ImportError:
        pass
    return job_status_html(job.to_dict() if job else None)


# Starts the host's progress bar (webui/Forge javascript/progressbar.js) on a fresh task id; without those
# functions (another host) the id stays empty and the job simply runs without the bar.
# gradio hands the function the outputs' values after the inputs: only the inputs go back (more would be too
# many arguments for the endpoint). While our job runs the click is refused by the server: no bar for it.
START_JS = """function() {
    var args = Array.from(arguments).slice(0, %(inputs)d);
    var running = gradioApp().querySelector("#hypernet_train_status [data-hypernet-job-running]");
    if (!running && typeof randomId === "function" && typeof requestProgress === "function") {
        var id = randomId();
        // the host inserts its bar before the element it is given: the anchor keeps it inside our box
        var box = gradioApp().getElementById("hypernet_train_progress_anchor") ||
                  gradioApp().getElementById("hypernet_train_progress");
        if (box) { requestProgress(id, box, null, function() {}); }
        args[0] = id;
    }
    return args;
}"""


def start_js(inputs: int) -> str:
    return START_JS % {"inputs": inputs}


def js_kwarg(listener) -> str:
    """gradio 3 names the client-side function `_js`, gradio 4 `js`."""
    import inspect
    try:
        params = inspect.signature(listener).parameters
    except (TypeError, ValueError):
        return "_js"
    return "js" if "js" in params else "_js"


def every_click_kwargs(listener) -> dict:
    """gradio 4 keeps a second click of a running event from the server (trigger_mode "once" drops it; a
    per-event queue limit of 1, as on Forge, holds it until the first ends), so it could not be refused:
    send every click, at once. gradio 3 has neither argument (the webui's queue runs 64 at a time)."""
    import inspect
    try:
        params = inspect.signature(listener).parameters
    except (TypeError, ValueError):
        return {}
    out = {}
    if "trigger_mode" in params:
        out["trigger_mode"] = "multiple"
    if "concurrency_limit" in params:
        out["concurrency_limit"] = None
    return out


def stream_job(job, poll: float = 1.0, timeout: float | None = None):
    """(status html, loss plot path, preview path) while the job runs, then once more at the end."""
    start = time.time()
    while True:
        info = job.to_dict()
        yield job_status_html(info), info.get("loss_plot"), info.get("last_preview")
        if not job.running or (timeout is not None and time.time() - start > timeout):
            if job.running:
                return
            info = job.to_dict()
            yield job_status_html(info), info.get("loss_plot"), info.get("last_preview")
            return
        job.wait(poll)


# -- the gradio tab -----------------------------------------------------------------------------------------
def build(host: common.Host):
    import gradio as gr

    session = {"job": None}

    def network_names():
        lib = host.library()
        lib.scan()
        return [item.relpath for item in lib.items()]

    with gr.Blocks(analytics_enabled=False) as tab:
        with gr.Tabs(elem_id="hypernet_tabs"):
            with gr.Tab("Create", elem_id="hypernet_create_tab"):
                c_name = gr.Textbox(label="Name", elem_id="hypernet_create_name")
                c_family = gr.Radio(label="Model family", choices=list(FAMILY_SIZES), value="sd1")
                c_sizes = gr.CheckboxGroup(label="Modules (context widths)", choices=[str(s) for s in ALL_SIZES],
                                           value=[str(s) for s in FAMILY_SIZES["sd1"]])
                with gr.Row():
                    c_layers = gr.Textbox(label="Layer structure", value="1, 2, 1")
                    c_act = gr.Dropdown(label="Activation", choices=USABLE_ACTIVATIONS, value="linear")
                    c_init = gr.Dropdown(label="Weight initialisation", choices=list(WEIGHT_INITS), value="Normal")
                with gr.Row():
                    c_ln = gr.Checkbox(label="Layer normalisation", value=False)
                    c_dropout = gr.Textbox(label="Dropout structure (empty: none)", value="")
                    c_actout = gr.Checkbox(label="Activate output", value=False)
                with gr.Row():
                    c_format = gr.Radio(label="Format", choices=[".safetensors", ".pt"], value=".safetensors")
                    c_overwrite = gr.Checkbox(label="Overwrite an existing file", value=False)
                c_button = gr.Button("Create hypernetwork", variant="primary", elem_id="hypernet_create_button")
                c_out = gr.HTML()

            with gr.Tab("Train", elem_id="hypernet_train_tab") as t_tab:
                with gr.Row():
                    t_net = gr.Dropdown(label="Hypernetwork", choices=network_names(), elem_id="hypernet_train_net")
                    t_refresh = gr.Button("Refresh list")
                with gr.Row():
                    t_lr = gr.Textbox(label="Learning rate (auto, or webui schedule syntax)", value="auto")
                    t_sched = gr.Radio(label="Schedule", choices=["webui", "cosine"], value="webui")
                    t_warmup = gr.Number(label="Warm-up steps", value=0, precision=0)
                    t_opt = gr.Dropdown(label="Optimizer", choices=list(OPTIMIZERS), value="auto")
                with gr.Row():
                    t_batch = gr.Number(label="Batch size", value=1, precision=0)
                    t_accum = gr.Number(label="Gradient accumulation steps", value=1, precision=0)
                    t_clip = gr.Radio(label="Gradient clipping", choices=["disabled", "value", "norm"],
                                      value="disabled")
                    t_clipv = gr.Textbox(label="Clip value", value="0.1")
                with gr.Row():
                    t_data = gr.Textbox(label="Dataset directory")
                    t_out = gr.Textbox(label="Output directory (empty: textual_inversion/<date>/<name>)")
                    t_tpl = gr.Dropdown(label="Prompt template", choices=list(list_templates()),
                                        value="style_filewords")
                with gr.Row():
                    t_w = gr.Slider(label="Width (0: from the dataset)", minimum=0, maximum=2048, step=8, value=0)
                    t_h = gr.Slider(label="Height (0: from the dataset)", minimum=0, maximum=2048, step=8, value=0)
                    t_size = gr.Radio(label="Sizes", choices=list(SIZE_MODES), value="fixed")
                t_cost = gr.HTML(size_hint(host, "", 0, 0), elem_id="hypernet_train_cost")
                with gr.Row():
                    t_steps = gr.Number(label="Max steps", value=100000, precision=0)
                    t_save = gr.Number(label="Save a snapshot every N steps (0: off)", value=500, precision=0)
                    t_prev = gr.Number(label="Preview every N steps (0: off)", value=500, precision=0)
                    t_seed = gr.Number(label="Seed", value=0, precision=0)
                t_prompt = gr.Textbox(label="Preview prompt (empty: the batch's first prompt)")
                with gr.Row():
                    t_shuffle = gr.Checkbox(label="Shuffle tags", value=False)
                    t_drop = gr.Slider(label="Tag drop-out", minimum=0, maximum=0.95, step=0.05, value=0)
                    t_latent = gr.Radio(label="Latent sampling", choices=list(LATENT_SAMPLING), value="once")
                    t_alpha = gr.Checkbox(label="Use PNG alpha as loss weight", value=False)
                with gr.Row():
                    t_prec = gr.Radio(label="Mixed precision (CUDA)", choices=["no", "fp16", "bf16"], value="no")
                    t_ckpt = gr.Checkbox(label="Gradient checkpointing", value=False)
                    t_overwrite = gr.Checkbox(label="Overwrite the source file at the end", value=False)
                with gr.Row():
                    t_go = gr.Button("Train hypernetwork", variant="primary", elem_id="hypernet_train_button")
                    t_stop = gr.Button("Interrupt", elem_id="hypernet_train_interrupt")
                t_task = gr.Textbox(visible=False, elem_id="hypernet_train_task_id")
                gr.HTML('<div id="hypernet_train_progress_anchor"></div>',  # the host's bar goes before it
                        elem_id="hypernet_train_progress")
                t_notice = gr.HTML("", elem_id="hypernet_train_notice")  # a refused click, beside the job's status
                t_status = gr.HTML(job_status_html(None), elem_id="hypernet_train_status")
                with gr.Row():
                    t_plot = gr.Image(label="Loss", type="filepath", interactive=False)
                    t_preview = gr.Image(label="Last preview", type="filepath", interactive=False)

            with gr.Tab("Library", elem_id="hypernet_library_tab") as l_tab:
                with gr.Row():
                    l_refresh = gr.Button("Refresh")
                    l_hashes = gr.Button("Compute hashes", elem_id="hypernet_library_hashes")
                gr.Markdown(HASH_NOTE, elem_id="hypernet_library_hash_note")
                l_table = gr.Dataframe(headers=LIBRARY_COLUMNS, interactive=False, wrap=True)
                with gr.Row():
                    l_file = gr.Dropdown(label="File", choices=[])
                    l_target = gr.Radio(label="Convert to", choices=[".safetensors", ".pt"], value=".safetensors")
                    l_convert = gr.Button("Convert")
                l_out = gr.HTML()

        def do_create(name, family, sizes, layers, act, init, ln, dropout, actout, fmt, overwrite):
            try:
                preset = [str(s) for s in FAMILY_SIZES.get(family, ())]
                body = {"name": name, "layer_structure": layers, "activation_func": act, "weight_init": init,
                        "is_layer_norm": ln, "dropout_structure": dropout or None, "activate_output": actout,
                        "format": fmt, "overwrite": overwrite, "family": family}
                if sorted(sizes or []) != sorted(preset):
                    body["sizes"] = [int(s) for s in sizes]
                out = train_jobs.create_network(host, body)
                choices = network_names()
                created = library_relpath(host, out["path"])
                return f"<p>Created {html.escape(out['path'])} ({out['parameters']:,} parameters)</p>", \
                    gr.update(choices=choices, value=created if created in choices else None)
            except HypernetError as e:
                return f"<p style='color:var(--error-text-color, red)'>{html.escape(str(e))}</p>", gr.update()

        def family_sizes(family):
            return gr.update(value=[str(s) for s in FAMILY_SIZES.get(family, ())])

        c_family.change(family_sizes, inputs=[c_family], outputs=[c_sizes])
        c_button.click(do_create, inputs=[c_name, c_family, c_sizes, c_layers, c_act, c_init, c_ln, c_dropout,
                                          c_actout, c_format, c_overwrite], outputs=[c_out, t_net])
        t_refresh.click(lambda: gr.update(choices=network_names()), outputs=[t_net])
        # opening a sub-tab shows the folder as it is now (files added since start-up, by the API, or elsewhere)
        t_tab.select(lambda: gr.update(choices=network_names()), outputs=[t_net])

        train_fields = dict(learn_rate=t_lr, lr_schedule=t_sched, warmup_steps=t_warmup, optimizer=t_opt,
                            batch_size=t_batch, gradient_accumulation=t_accum, clip_grad_mode=t_clip,
                            clip_grad_value=t_clipv, data_root=t_data, output_dir=t_out, template=t_tpl, width=t_w,
                            height=t_h, size_mode=t_size, steps=t_steps, save_every=t_save, preview_every=t_prev,
                            seed=t_seed, preview_prompt=t_prompt, shuffle_tags=t_shuffle, tag_drop_out=t_drop,
                            latent_sampling=t_latent, use_alpha_weight=t_alpha, mixed_precision=t_prec,
                            gradient_checkpointing=t_ckpt, overwrite_source=t_overwrite)
        keys = list(train_fields)

        def do_train(id_task, network, *values):
            busy = train_jobs.refuse_if_busy(None, task_id(id_task))
            if busy:  # the running job's stream keeps its status, plot and preview
                yield gr.update(), gr.update(), gr.update(), refusal_html(busy)
                return
            notice = ""  # the first frame clears an old refusal; later ones leave a new one (another click's)
            for frame in run_training(host, session, id_task, network, dict(zip(keys, values))):
                yield (*frame, notice)
                notice = gr.update()

        def do_interrupt():
            return interrupt_training(session)

        train_inputs = [t_task, t_net, *train_fields.values()]
        t_go.click(do_train, inputs=train_inputs, outputs=[t_status, t_plot, t_preview, t_notice],
                   **{js_kwarg(t_go.click): start_js(len(train_inputs))}, **every_click_kwargs(t_go.click))
        t_stop.click(do_interrupt, outputs=[t_status])
        for field in (t_data, t_w, t_h, t_size, t_batch):  # the size and its cost, known before Train is pressed
            field.change(lambda *v: size_hint(host, *v), inputs=[t_data, t_w, t_h, t_size, t_batch],
                         outputs=[t_cost])

        def do_library():
            rows = library_rows(host)
            return rows, gr.update(choices=[r[0] for r in rows])

        def do_convert(relpath, target):
            try:
                path = convert(host, relpath, target)
                rows = library_rows(host)
                return f"<p>Wrote {html.escape(path)}</p>", rows, gr.update(choices=[r[0] for r in rows])
            except HypernetError as e:
                return f"<p>{html.escape(str(e))}</p>", gr.update(), gr.update()

        def do_hashes():
            rows = library_rows(host, compute_hashes=True)
            return rows, gr.update(choices=[r[0] for r in rows])

        l_refresh.click(do_library, outputs=[l_table, l_file])
        l_hashes.click(do_hashes, outputs=[l_table, l_file])
        l_tab.select(do_library, outputs=[l_table, l_file])
        l_convert.click(do_convert, inputs=[l_file, l_target], outputs=[l_out, l_table, l_file])
    return tab


def on_ui_tabs(host: common.Host | None = None):
    """The on_ui_tabs callback body: [(blocks, title, elem_id)]."""
    return [(build(host or common.current()), "Hypernetworks", "hypernetworks_tab")]
