"""Our HTTP routes under the host's own access rules (on every host stand-in): the host's API credentials guard
every route of ours through the host's own check; without the host's API the write/compute routes do not exist;
names and output folders are checked, never rewritten."""
from __future__ import annotations

import base64
import os
import time

import pytest
from PIL import Image

import sd_hypernet
from sd_hypernet.errors import HypernetError
from sd_hypernet.names import check_name, name_problem

from host_helpers import SELF_DIMS, api_app

PREFIX = "/sdapi/v1/hypernet"
READ = [("GET", f"{PREFIX}/networks"), ("GET", f"{PREFIX}/network?name=net"), ("GET", f"{PREFIX}/train/nope")]
WRITE = [("POST", f"{PREFIX}/refresh"), ("POST", f"{PREFIX}/create"), ("POST", f"{PREFIX}/train"),
         ("POST", f"{PREFIX}/train/nope/interrupt")]
BODIES = {f"{PREFIX}/create": {"name": "fresh", "sizes": [32], "layer_structure": "1, 1, 1"},
          f"{PREFIX}/train": {"network": "net"}}


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def call(client, method, path, headers=None):
    if method == "GET":
        return client.get(path, headers=headers)
    return client.post(path, json=BODIES.get(path, {}), headers=headers)


@pytest.fixture
def started(host, tmp_path):
    """Start the host's app as the host would, with the given command-line flags; returns a client."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from modules import script_callbacks, shared

    torch_net = sd_hypernet.create([768, *SELF_DIMS], name="net", layer_structure=(1, 1, 1))
    sd_hypernet.save_file(torch_net, os.path.join(str(host.folder), "net.safetensors"))
    saved = {k: getattr(shared.cmd_opts, k) for k in ("api_auth", "gradio_auth", "gradio_auth_path")}

    def start(api: bool, **flags):
        for key, value in flags.items():
            setattr(shared.cmd_opts, key, value)
        app = api_app() if api else FastAPI()
        script_callbacks.app_started_callback(None, app)
        return app, TestClient(app)

    yield start
    for key, value in saved.items():
        setattr(shared.cmd_opts, key, value)


def test_with_api_auth_every_route_of_ours_demands_the_hosts_credentials(started):
    app, client = started(api=True, api_auth="hbuser:hbpass")
    # the host's own route answers 401 without credentials: ours must do the same
    assert client.get("/sdapi/v1/hypernetworks").status_code == 401
    for method, path in READ + WRITE:
        assert call(client, method, path).status_code == 401, (method, path)
        assert call(client, method, path, basic("hbuser", "wrong")).status_code == 401, (method, path)
        assert call(client, method, path, basic("hbuser", "hbpass")).status_code != 401, (method, path)
    ok = client.get(f"{PREFIX}/networks", headers=basic("hbuser", "hbpass"))
    assert ok.status_code == 200 and "net" in [n["name"] for n in ok.json()]
    made = client.post(f"{PREFIX}/create", json={**BODIES[f"{PREFIX}/create"], "name": "second"},
                       headers=basic("hbuser", "hbpass"))
    assert made.status_code == 200 and os.path.isfile(made.json()["path"])


def test_the_credential_check_is_the_hosts_own_not_a_copy(started):
    from modules.api.api import Api
    from sd_hypernet.hosts.routes.access import host_api

    app, client = started(api=True, api_auth="hbuser:hbpass")
    api = host_api(app)
    assert isinstance(api, Api)
    ours = [r for r in app.router.routes if getattr(r, "path", "").startswith(PREFIX + "/")]
    assert ours and all([d.dependency for d in r.dependencies] == [api.auth] for r in ours)
    # whatever the host's check accepts, ours accepts: change the host's credentials and ours follow
    api.credentials = {"other": "secret"}
    assert client.get(f"{PREFIX}/networks", headers=basic("hbuser", "hbpass")).status_code == 401
    assert client.get(f"{PREFIX}/networks", headers=basic("other", "secret")).status_code == 200


def test_without_the_hosts_api_write_routes_are_absent_and_listing_stays(started):
    app, client = started(api=False)
    paths = {getattr(r, "path", "") for r in app.router.routes}
    for method, path in WRITE:
        assert path.split("?")[0] not in paths
        assert call(client, method, path).status_code in (404, 405), (method, path)
    assert client.get(f"{PREFIX}/networks").status_code == 200
    assert client.get(f"{PREFIX}/network?name=net").json()["name"] == "net"


@pytest.mark.parametrize("flag", ["api_auth", "gradio_auth"])
def test_without_the_api_a_host_with_credentials_serves_nothing_of_ours(started, flag):
    app, client = started(api=False, **{flag: "u:p"})
    assert not [r for r in app.router.routes if getattr(r, "path", "").startswith(PREFIX + "/")]
    for method, path in READ + WRITE:
        assert call(client, method, path).status_code in (404, 405)


@pytest.mark.parametrize("name, rule", [
    ("../../../../../../tmp/x", "path separator"), ("a\\b", "path separator"), ("..", "'..'"),
    ("x..y", "'..'"), (".hidden", "start with a dot"), ("a\x00b", "control characters"), ("a\nb", "control"),
    ("CON", "reserved device name"), ("lpt1.backup", "reserved device name"), ("a:b", "':'"),
    ("trailing.", "end with a dot"), (" lead", "space"), ("", "required"), ("x" * 151, "at most"),
])
def test_a_bad_name_is_a_400_naming_the_rule_and_nothing_is_written(started, host, name, rule):
    _, client = started(api=True)
    before = sorted(os.listdir(str(host.folder)))
    r = client.post(f"{PREFIX}/create", json={"name": name, "sizes": [32], "layer_structure": "1, 1, 1"})
    assert r.status_code == 400 and rule in r.json()["detail"], r.text
    assert sorted(os.listdir(str(host.folder))) == before
    with pytest.raises(HypernetError, match="name"):
        check_name(name)


def test_good_names_are_used_as_given():
    for name in ("style", "my style v2", "anime_β-1.5", "net (copy)", "x.y"):
        assert name_problem(name) is None and check_name(name) == name


def _dataset(folder):
    folder.mkdir()
    for i in range(2):
        Image.new("RGB", (64, 64), (50 * i, 90, 200)).save(folder / f"{i}.png")
    return str(folder)


def test_training_output_dir_must_lie_in_the_hosts_output_folders(started, host, tmp_path):
    from modules import shared

    from sd_hypernet.hosts import common
    from sd_hypernet.hosts.ui import tab

    host.load_model()
    _, client = started(api=True)
    data = _dataset(tmp_path / "data")
    outside = tmp_path.parent / (tmp_path.name + "-elsewhere")
    shared.opts.outdir_samples = str(tmp_path / "outputs")
    body = {"network": "net", "data_root": data, "steps": 1, "width": 64, "height": 64, "preview_every": 0}
    for bad in (str(outside), str(tmp_path / "outputs" / ".." / "x"), "/tmp"):
        r = client.post(f"{PREFIX}/train", json={**body, "output_dir": bad})
        assert r.status_code == 400 and "output_dir" in r.json()["detail"], r.text
    assert not outside.exists()
    # a symlink inside the output folder that points outside is outside
    os.makedirs(tmp_path / "outputs")
    os.symlink(str(tmp_path / "data"), str(tmp_path / "outputs" / "link"))
    r = client.post(f"{PREFIX}/train", json={**body, "output_dir": str(tmp_path / "outputs" / "link" / "o")})
    assert r.status_code == 400
    # the same rule in the tab
    frames = list(tab.run_training(common.current(), {}, None,
                                   "net.safetensors", {**{k: v for k, v in body.items() if k != "network"},
                                                       "output_dir": str(outside)}))
    assert "output_dir" in frames[0][0] and not outside.exists()
    bad_name = list(tab.run_training(common.current(), {}, None, "net.safetensors",
                                     {**{k: v for k, v in body.items() if k != "network"}, "name": "../x"}))
    assert "path separator" in bad_name[0][0]
    # allowed: below the output folder, and anywhere once the setting says so
    r = client.post(f"{PREFIX}/train", json={**body, "output_dir": str(tmp_path / "outputs" / "run")})
    assert r.status_code == 200, r.text
    finish(client, r.json()["id"])
    shared.opts.hypernet_train_any_output_dir = True
    try:
        r = client.post(f"{PREFIX}/train", json={**body, "output_dir": str(outside), "steps": 1})
        assert r.status_code == 200, r.text
        assert finish(client, r.json()["id"]) == "done" and outside.is_dir()
    finally:
        shared.opts.hypernet_train_any_output_dir = False


def finish(client, job_id, timeout=120):
    end = time.time() + timeout
    while time.time() < end:
        status = client.get(f"{PREFIX}/train/{job_id}").json()["status"]
        if status not in ("queued", "running"):
            return status
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still running")


def test_training_an_unknown_network_is_a_404_naming_it_and_a_bad_request_a_400(started, host, tmp_path):
    _, client = started(api=True)
    data = _dataset(tmp_path / "data")
    r = client.post(f"{PREFIX}/train", json={"network": "no_such_net", "data_root": data})
    assert r.status_code == 404 and "no_such_net" in r.json()["detail"], r.text
    r = client.post(f"{PREFIX}/train", json={"network": "net", "data_root": str(tmp_path / "missing")})
    assert r.status_code == 400 and "missing" in r.json()["detail"], r.text
