"""Training wired into both hosts: the Hypernetworks tab (on_ui_tabs) and the training routes (on_app_started)
come and go with the extension; a job started over HTTP trains against the stand-in's loaded UNet; the tab's
Train button runs as a host task (queued behind the queue lock, on the progress bar's task list, stopped by the
host's Interrupt)."""
import math
import os
import threading
import time

import pytest
import torch
from PIL import Image

import sd_hypernet
from sd_hypernet.train import JobManager

from host_helpers import SELF_DIMS, api_app

TRAIN_ROUTES = {("POST", "/sdapi/v1/hypernet/create"), ("POST", "/sdapi/v1/hypernet/train"),
                ("GET", "/sdapi/v1/hypernet/train/{job_id}"), ("POST", "/sdapi/v1/hypernet/train/{job_id}/interrupt")}


def routes(app):
    return {(m, r.path) for r in app.router.routes for m in getattr(r, "methods", None) or ()}


def ours(callbacks):
    # by the name we register under; Forge Classic's callbacks carry no name: there, by the function
    return [c for c in callbacks if (c.name and c.name.endswith("/hypernetworks_ui_tabs"))
            or (c.name is None and getattr(c.callback, "__qualname__", "") == "wire.<locals>.ui_tabs")]


def dataset(folder):
    folder.mkdir()
    for i, color in enumerate([(200, 30, 30), (30, 200, 30), (30, 30, 200)]):
        Image.new("RGB", (64, 64), color).save(folder / f"{i:02d}-thing {i}.png")
    return str(folder)


def trainable(driver, name="trainme"):
    torch.manual_seed(5)
    net = sd_hypernet.create([768, *SELF_DIMS], name=name, layer_structure=(1, 1, 1))
    path = os.path.join(str(driver.folder), name + ".safetensors")
    sd_hypernet.save_file(net, path)
    return path


def wait(cond, timeout=120):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.02)
    return False


def test_tab_and_training_routes_come_and_go_with_the_extension(host):
    from modules import script_callbacks

    tabs = script_callbacks.callback_map["callbacks_ui_tabs"]
    assert len(ours(tabs)) == 1
    built = script_callbacks.ui_tabs_callback()
    assert [(title, elem_id) for _, title, elem_id in built] == [("Hypernetworks", "hypernetworks_tab")]
    app = api_app()
    script_callbacks.app_started_callback(None, app)
    assert TRAIN_ROUTES <= routes(app) and ("GET", "/sdapi/v1/hypernet/networks") in routes(app)

    script_callbacks.script_unloaded_callback()  # Reload UI / extension disabled
    assert ours(tabs) == [] and script_callbacks.ui_tabs_callback() == []
    assert not any(path.startswith("/sdapi/v1/hypernet/") for _, path in routes(app))
    fresh = api_app()
    script_callbacks.app_started_callback(None, fresh)
    assert not any(path.startswith("/sdapi/v1/hypernet/") for _, path in routes(fresh))

    host.reload_ui()  # loaded again: registered once, not twice
    assert len(ours(tabs)) == 1
    again = api_app()
    script_callbacks.app_started_callback(None, again)
    trains = [r for r in again.router.routes if r.path == "/sdapi/v1/hypernet/train"]
    assert TRAIN_ROUTES <= routes(again) and len(trains) == 1


def test_api_job_trains_the_loaded_unet_to_completion(host, tmp_path):
    from fastapi.testclient import TestClient
    from modules import script_callbacks

    host.load_model()
    source = trainable(host)
    unet = host.unet
    frozen = {k: v.clone() for k, v in unet.state_dict().items()}
    app = api_app()
    script_callbacks.app_started_callback(None, app)
    client = TestClient(app)
    out = tmp_path / "out"
    r = client.post("/sdapi/v1/hypernet/train", json={
        "network": "trainme", "data_root": dataset(tmp_path / "data"), "output_dir": str(out), "steps": 3,
        "save_every": 2, "preview_every": 0, "width": 64, "height": 64, "learn_rate": "0.001", "seed": 1,
        "template": "subject_filewords"})
    assert r.status_code == 200, r.text
    job_id = r.json()["id"]
    assert wait(lambda: client.get(f"/sdapi/v1/hypernet/train/{job_id}").json()["status"] not in ("queued", "running"))
    info = client.get(f"/sdapi/v1/hypernet/train/{job_id}").json()
    assert info["status"] == "done", info
    assert info["step"] == 3 and math.isfinite(info["loss"])
    assert (out / "trainme-2.safetensors").is_file() and info["final"] == str(out / "trainme-3.safetensors")
    trained, initial = sd_hypernet.load_file(info["final"]), sd_hypernet.load_file(source)
    assert trained.step == 3 and trained.metadata["sd_checkpoint_name"] == "standin"
    assert any(not torch.equal(a, b) for a, b in zip(trained.parameters(), initial.parameters()))
    assert all(torch.equal(v, frozen[k]) for k, v in unet.state_dict().items())  # the UNet never learns
    assert all(p.grad is None for p in unet.parameters())


def test_train_button_is_a_queued_host_task_with_progress_and_interrupt(host, tmp_path):
    from modules import call_queue, progress, shared
    from modules.progress import ProgressRequest

    from sd_hypernet.hosts import common
    from sd_hypernet.hosts.ui import tab
    from sd_hypernet.hosts.training import jobs as train_jobs

    host.load_model()
    trainable(host)
    session, id_task = {}, "task(hypernet-test)"
    values = {"data_root": dataset(tmp_path / "data"), "output_dir": str(tmp_path / "out"), "steps": 100000,
              "save_every": 0, "preview_every": 0, "width": 64, "height": 64, "learn_rate": "0.0001", "seed": 2}
    lock = call_queue.queue_lock
    lock.acquire()  # a generation is running: the training waits for it, on the bar as queued
    try:
        frames = tab.run_training(common.current(), session, id_task, "trainme.safetensors", values, poll=0.05,
                                  manager=JobManager())
        next(frames)
        job = session["job"]
        queued = progress.progressapi(ProgressRequest(id_task=id_task))
        assert queued.queued and not queued.active and queued.textinfo.startswith("In queue")
        time.sleep(0.3)
        assert job.to_dict()["step"] is None and shared.state.job == ""
    finally:
        lock.release()

    assert wait(lambda: (job.to_dict()["step"] or 0) >= 2)
    now = progress.progressapi(ProgressRequest(id_task=id_task))
    assert now.active and not now.queued and 0 < now.progress < 1 and now.eta is not None
    assert now.textinfo.startswith("Training hypernetwork: step")
    assert shared.state.job == train_jobs.JOB_NAME

    ran = []  # another generation wants the GPU: it waits until the job has ended and let go of the state

    def generation():
        with lock:
            ran.append((shared.state.job, job.progress.get("status")))

    other = threading.Thread(target=generation)
    other.start()
    time.sleep(0.2)
    assert ran == [] and job.running
    shared.state.interrupt()  # the host's own Interrupt button
    other.join(60)
    assert ran == [("", "interrupted")]
    assert job.wait(60)

    done = progress.progressapi(ProgressRequest(id_task=id_task))
    assert done.completed and not done.active
    assert job.status == "interrupted" and os.path.isfile(job.to_dict()["final"])
    assert shared.state.job == "" and not shared.state.interrupted  # the next job starts clean
    last = list(frames)[-1]
    assert "interrupted" in last[0] and last[1].endswith("trainme-loss.png")


@pytest.mark.parametrize("task", ["", None, "not-a-task"])
def test_train_button_without_a_task_id_still_runs(webui, tmp_path, task):
    from modules import progress

    from sd_hypernet.hosts import common
    from sd_hypernet.hosts.ui import tab

    webui.load_model()
    trainable(webui)
    session = {}
    values = {"data_root": dataset(tmp_path / "data"), "output_dir": str(tmp_path / "out"), "steps": 1,
              "save_every": 0, "preview_every": 0, "width": 64, "height": 64}
    frames = list(tab.run_training(common.current(), session, task, "trainme", values, poll=0.05,
                                   manager=JobManager()))
    assert session["job"].status == "done" and "done" in frames[-1][0]
    assert progress.pending_tasks == {} and progress.finished_tasks == []  # nothing on the task list


def test_train_button_starts_the_progress_bar_in_the_browser(webui):
    """The click's JS makes the task id (first input, a hidden textbox) and starts requestProgress on it."""
    from sd_hypernet.hosts import common
    from sd_hypernet.hosts.ui import tab

    blocks = tab.build(common.current())
    config = blocks.get_config_file()
    by_id = {c["id"]: c for c in config["components"]}
    deps = [d for d in config["dependencies"] if "requestProgress" in (d.get("js") or "")]
    assert len(deps) == 1
    first = by_id[deps[0]["inputs"][0]]
    assert first["props"]["elem_id"] == "hypernet_train_task_id" and first["props"]["visible"] is False
    assert any(c["props"].get("elem_id") == "hypernet_train_progress" for c in config["components"])
    assert "hypernet_train_progress" in deps[0]["js"] and "randomId()" in deps[0]["js"]


def test_tabs_own_interrupt_button_stops_the_running_job(host, tmp_path):
    from sd_hypernet.hosts import common
    from sd_hypernet.hosts.ui import tab

    host.load_model()
    trainable(host)
    session, manager = {}, JobManager()
    values = {"data_root": dataset(tmp_path / "data"), "output_dir": str(tmp_path / "out"), "steps": 100000,
              "save_every": 0, "preview_every": 0, "width": 64, "height": 64}
    frames = tab.run_training(common.current(), session, "task(stop-me)", "trainme", values, poll=0.05,
                              manager=manager)
    next(frames)
    job = session["job"]
    assert wait(lambda: (job.to_dict()["step"] or 0) >= 1)
    tab.interrupt_training({}, manager=manager)  # another browser session: finds the running job
    assert job.wait(60) and job.status == "interrupted"
    assert "interrupted" in list(frames)[-1][0]
