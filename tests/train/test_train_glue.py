"""Training through the webui stand-in: the job flow the tab uses (start -> progress in shared.state ->
Interrupt -> files), the HTTP job lifecycle, and the Library helpers."""
import os
import sys
import time
import types

import pytest
import torch
from PIL import Image
from train_helpers import encode_text, tiny_ldm_unet

import sd_hypernet
from sd_hypernet.train import JobManager, linear_alphas_cumprod

STANDINS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "standins")
if STANDINS not in sys.path:
    sys.path.insert(0, STANDINS)

from activate import use_host  # noqa: E402


def _fake_first_stage(pixels):
    mean = torch.nn.functional.avg_pool2d(pixels, 8)
    mean = torch.cat([mean, mean[:, :1]], 1)
    return types.SimpleNamespace(mean=mean, std=torch.full_like(mean, 0.1))


@pytest.fixture
def webui(tmp_path):
    folder = tmp_path / "models"
    data = tmp_path / "data"
    data.mkdir()
    for i, color in enumerate([(200, 30, 30), (30, 200, 30), (30, 30, 200)]):
        Image.new("RGB", (64, 64), color).save(data / f"{i:02d}-thing {i}.png")
    with use_host("webui"):
        from modules import sd_models, shared

        from sd_hypernet.hosts import common
        from sd_hypernet.hosts.adapters import webui as webui_host
        shared.cmd_opts.hypernetwork_dir = str(folder)
        shared.opts.outdir_samples = str(tmp_path)  # the user's output folder: training may write below it
        host = webui_host.WebuiHost()
        common.set_current(host)
        sd_model = sd_models.load_model(tiny_ldm_unet(), "sd1", name="tiny-model")
        sd_model.alphas_cumprod = linear_alphas_cumprod()
        sd_model.parameterization = "eps"
        sd_model.get_learned_conditioning = lambda texts: encode_text(texts)["context"]
        sd_model.encode_first_stage = _fake_first_stage
        sd_model.scale_factor = 0.5
        os.makedirs(folder)
        torch.manual_seed(0)
        sd_hypernet.save_file(sd_hypernet.create([32, 48], name="net"), str(folder / "net.safetensors"))
        yield types.SimpleNamespace(host=host, shared=shared, folder=folder, data=data, tmp=tmp_path)
        common.set_current(None)


def _api_client(host, manager):
    """The training routes on an app whose host serves its API (--api), as a client."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from modules.api.api import Api

    from sd_hypernet.hosts.routes import access as route_access
    from sd_hypernet.hosts.routes import training as train_routes
    app = FastAPI()
    Api(app)
    train_routes.add_routes(host, route_access.Routes(app), manager=manager)
    return TestClient(app)


def _wait(cond, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.02)
    return False


def test_tab_job_flow_progress_interrupt_and_files(webui):
    from sd_hypernet.hosts.ui import tab
    from sd_hypernet.hosts.training import jobs as train_jobs
    manager = JobManager()
    out = webui.tmp / "out"
    opts = tab.train_options({"data_root": str(webui.data), "output_dir": str(out), "steps": 1000, "save_every": 2,
                              "preview_every": 0, "width": 64, "height": 64, "template": "subject_filewords",
                              "learn_rate": "0.001", "clip_grad_mode": "disabled", "mixed_precision": "no",
                              "seed": "3"})
    job = train_jobs.start_training(webui.host, "net", opts, manager=manager)
    state = webui.shared.state
    seen = {}

    def running_in_state():
        seen["job"], seen["text"] = state.job, state.textinfo
        return True

    assert _wait(lambda: (job.to_dict().get("step") or 0) >= 3 and running_in_state())
    assert seen["job"] == train_jobs.JOB_NAME and "Training hypernetwork: step" in (seen["text"] or "")
    assert state.job_count == 1000
    state.interrupt()  # the webui's Interrupt button
    assert job.wait(60)
    info = job.to_dict()
    assert info["status"] == "interrupted" and info["step"] >= 3
    step = info["step"]
    assert info["final"] == str(out / f"net-{step}.safetensors")
    assert (out / "net-2.safetensors").exists() and (out / "net-loss.csv").exists()
    assert (out / "net-loss.png").exists()
    trained = sd_hypernet.load_file(info["final"])
    assert trained.step == step and trained.metadata["sd_checkpoint_name"] == "tiny-model"
    # published to the library without touching the source
    assert (webui.folder / f"net-{step}.safetensors").exists()
    assert sd_hypernet.load_file(str(webui.folder / "net.safetensors")).step == 0
    assert state.job == ""  # the job ended in shared.state
    # the tab's stream ends with the final status
    frames = list(tab.stream_job(job))
    assert "interrupted" in frames[-1][0] and frames[-1][1].endswith("net-loss.png")


def test_api_job_lifecycle(webui):
    client = _api_client(webui.host, JobManager())
    r = client.post("/sdapi/v1/hypernet/create", json={"name": "fresh", "sizes": [32, 48],
                                                        "layer_structure": "1, 1, 1", "activation_func": "relu"})
    assert r.status_code == 200, r.text
    assert r.json()["path"].endswith("fresh.safetensors") and r.json()["sizes"] == [32, 48]
    bad = client.post("/sdapi/v1/hypernet/create", json={"name": "x", "sizes": [8], "activation_func": "glu"})
    assert bad.status_code == 400 and "activation" in bad.json()["detail"]
    sd1 = client.post("/sdapi/v1/hypernet/create", json={"name": "sd1net", "layer_structure": "1, 0.05, 1"})
    assert sd1.json()["family"] == "sd1"  # the loaded model's family
    assert sd_hypernet.load_file(sd1.json()["path"]).metadata["sd_checkpoint_name"] == "tiny-model"

    started = time.time()
    r = client.post("/sdapi/v1/hypernet/train", json={
        "network": "fresh", "data_root": str(webui.data), "output_dir": str(webui.tmp / "api"), "steps": 1000,
        "save_every": 0, "preview_every": 0, "width": 64, "height": 64, "learn_rate": "0.001"})
    assert r.status_code == 200, r.text
    assert time.time() - started < 5  # returns at once
    job_id = r.json()["id"]
    assert _wait(lambda: (client.get(f"/sdapi/v1/hypernet/train/{job_id}").json().get("step") or 0) >= 2)
    p = client.get(f"/sdapi/v1/hypernet/train/{job_id}").json()
    assert p["status"] == "running" and p["loss"] is not None and p["learn_rate"] == pytest.approx(0.001)
    assert p["max_steps"] == 1000 and p["eta_seconds"] is not None
    assert client.post(f"/sdapi/v1/hypernet/train/{job_id}/interrupt").status_code == 200
    assert _wait(lambda: client.get(f"/sdapi/v1/hypernet/train/{job_id}").json()["status"] == "interrupted")
    final = client.get(f"/sdapi/v1/hypernet/train/{job_id}").json()["final"]
    assert final and os.path.isfile(final)
    assert client.get("/sdapi/v1/hypernet/train/nope").status_code == 404
    missing = client.post("/sdapi/v1/hypernet/train", json={"network": "nope", "data_root": str(webui.data)})
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]


def test_library_rows_and_convert(webui):
    from sd_hypernet.hosts.ui import tab
    rows = tab.library_rows(webui.host)
    assert [r[0] for r in rows] == ["net.safetensors"]
    row = dict(zip(tab.LIBRARY_COLUMNS, rows[0]))
    assert row["sizes"] == "32, 48" and row["structure"] == "1, 2, 1" and row["size (KiB)"] > 0
    target = tab.convert(webui.host, "net.safetensors", ".pt")
    assert target.endswith("net.pt")
    a, b = sd_hypernet.load_file(target), sd_hypernet.load_file(str(webui.folder / "net.safetensors"))
    for (ka, va), (kb, vb) in zip(a.layers.items(), b.layers.items()):
        assert ka == kb and all(torch.equal(x, y) for x, y in zip(va[0].parameters(), vb[0].parameters()))
    with pytest.raises(sd_hypernet.HypernetError, match="already exists"):
        tab.convert(webui.host, "net.safetensors", ".pt")
    assert sorted(r[0] for r in tab.library_rows(webui.host)) == ["net.pt", "net.safetensors"]


def test_bad_training_requests_are_refused_before_anything_is_queued(webui, tmp_path):
    manager = JobManager()
    client = _api_client(webui.host, manager)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no image here")
    base = {"network": "net", "output_dir": str(tmp_path / "out"), "steps": 2}
    cases = [
        ({"data_root": str(tmp_path / "nowhere")}, "does not exist"),
        ({"data_root": str(empty)}, "holds no images"),
        ({"data_root": str(webui.data), "width": 100}, "multiples of 8"),
        ({"data_root": str(webui.data), "template": "no_such_template"}, "not found"),
        ({"data_root": str(webui.data), "steps": "many"}, "steps"),
        ({"data_root": str(webui.data), "preview_steps": "few"}, "preview_steps"),
        ({"data_root": str(webui.data), "resume_from": str(tmp_path / "gone.pt")}, "no such snapshot"),
        ({"network": "no_such_network", "data_root": str(webui.data)}, "no_such_network"),
    ]
    for extra, words in cases:
        r = client.post("/sdapi/v1/hypernet/train", json={**base, **extra})
        assert r.status_code in (400, 404), (extra, r.status_code, r.text)
        assert words in r.json()["detail"], (extra, r.json())
    assert str(tmp_path / "nowhere") in client.post(
        "/sdapi/v1/hypernet/train", json={**base, "data_root": str(tmp_path / "nowhere")}).json()["detail"]
    assert manager.jobs == {}


def test_interrupt_button_looks_for_a_job_started_elsewhere(webui):
    # nothing in the tab's session (a job started over the API): the process-wide job manager is asked
    from sd_hypernet.hosts.ui import tab
    from sd_hypernet.train import jobs
    assert jobs.manager.active() is None
    assert tab.interrupt_training({}) == tab.job_status_html(None)


def test_apply_settings_during_training_waits_only_for_a_real_model_reload(webui):
    """The job holds the queue lock; a setting that reloads the model runs through it. The webui loads
    config.json as it is, so a setting the file lacks reads as None and the first Apply 'changes' it to its
    default: that must not wait for the job. A real change of such a setting still waits (the tab says so)."""
    import threading

    from modules import call_queue
    from modules.options import OptionInfo

    from sd_hypernet.hosts.training import jobs as train_jobs
    from sd_hypernet.hosts.training import settings_wait
    from sd_hypernet.hosts.ui import tab
    opts, reloads = webui.shared.opts, []
    opts.add_option("sd_vae", OptionInfo("Automatic", "VAE", onchange=call_queue.wrap_queued_call(
        lambda: reloads.append(opts.data["sd_vae"]))))
    opts.data.pop("sd_vae")  # a config.json without it
    job = train_jobs.start_training(webui.host, "net", tab.train_options(
        {"data_root": str(webui.data), "output_dir": str(webui.tmp / "out"), "steps": 100000, "save_every": 0,
         "preview_every": 0, "learn_rate": "0.001"}), manager=JobManager())
    try:
        assert _wait(lambda: (job.to_dict().get("step") or 0) >= 1)  # the job holds the lock now

        def apply(value):
            thread = threading.Thread(target=opts.set, args=("sd_vae", value), daemon=True)
            thread.start()
            thread.join(2)
            return not thread.is_alive()

        assert apply("Automatic") and reloads == []  # Apply with nothing changed: at once, no reload
        assert not apply("other.vae")  # a real VAE change reloads the model: it waits for the job
        assert reloads == [] and settings_wait.WAITS in tab.job_status_html(job.to_dict())
    finally:
        job.interrupt()
        webui.shared.state.interrupt()
        assert job.wait(60)
    assert _wait(lambda: reloads == ["other.vae"])  # and runs once the job has let go
