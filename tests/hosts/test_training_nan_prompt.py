"""A caption the host's text encoder turns into NaN stops a training job with that prompt named, not with
"training diverged ... lower the learning rate".

Found on real Forge Classic with the random test checkpoint: its CLIP ends in an identity LayerNorm, so every
token's output has mean ~0, and for one caption the batch mean was exactly 0.0; the emphasis step after the encoder
(shared by the webui, reForge and Classic) rescales by mean/mean, which is then 0/0. The host's own txt2img with
that prompt gave a black image; our job failed at step 1 blaming the learning rate. The stand-in's
get_learned_conditioning runs the same emphasis step (modules/processing.py `restore_mean`)."""
import os
import time

import torch
from PIL import Image

import sd_hypernet

from host_helpers import SELF_DIMS, api_app

BAD = "green stripes"


def _dataset(folder):
    folder.mkdir()
    for i, (color, caption) in enumerate([((200, 30, 30), "red square"), ((30, 200, 30), BAD)]):
        Image.new("RGB", (64, 64), color).save(folder / f"img{i}.png")
        (folder / f"img{i}.txt").write_text(caption)
    template = folder.parent / "filewords.txt"
    template.write_text("[filewords]\n")
    return str(folder), str(template)


def _zero_mean_for_bad_caption(monkeypatch):
    """The encoder output the test checkpoint gave for that caption: mean exactly 0."""
    from modules import processing

    real = processing.fake_encoder_output

    def encoder(prompts, context_dim):
        out = real(prompts, context_dim)
        for i, prompt in enumerate(prompts):
            if prompt == BAD:
                out[i] = 0.0
        return out
    monkeypatch.setattr(processing, "fake_encoder_output", encoder)


def _wait(cond, timeout=120):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.02)
    return False


def test_a_prompt_the_text_encoder_makes_nan_is_named_and_nothing_is_trained(classic, tmp_path, monkeypatch):
    from fastapi.testclient import TestClient
    from modules import processing, script_callbacks

    sd_model = classic.load_model()
    _zero_mean_for_bad_caption(monkeypatch)
    assert torch.isnan(sd_model.get_learned_conditioning([BAD])).all()  # as the host's txt2img got it
    assert torch.isfinite(processing.fake_conditioning(["red square"], 768)).all()
    torch.manual_seed(5)
    source = os.path.join(str(classic.folder), "fresh.safetensors")
    sd_hypernet.save_file(sd_hypernet.create([768, *SELF_DIMS], name="fresh", layer_structure=(1, 1, 1)), source)
    app = api_app()
    script_callbacks.app_started_callback(None, app)
    client = TestClient(app)
    data, template = _dataset(tmp_path / "data")
    out = tmp_path / "out"
    r = client.post("/sdapi/v1/hypernet/train", json={
        "network": "fresh", "data_root": data, "output_dir": str(out), "steps": 20, "save_every": 0,
        "preview_every": 0, "width": 64, "height": 64, "learn_rate": "0.001", "seed": 3, "template": template})
    assert r.status_code == 200, r.text
    job_id = r.json()["id"]
    assert _wait(lambda: client.get(f"/sdapi/v1/hypernet/train/{job_id}").json()["status"] not in ("queued", "running"))
    info = client.get(f"/sdapi/v1/hypernet/train/{job_id}").json()
    assert info["status"] == "error", info
    assert "text encoder" in info["error"] and repr(BAD) in info["error"] and "diverged" not in info["error"]
    assert not list(out.glob("*.safetensors"))  # nothing of the run saved
    assert sd_hypernet.load_file(source).step == 0
