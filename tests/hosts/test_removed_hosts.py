"""Forge Neo and Forge Classic removed hypernetworks: the extension loads there (Classic's callbacks take no
`name=`), says which host it is, and supplies what the host removed — the folder, `--hypernetwork-dir`, the
`hypernet` handler and page, `GET /sdapi/v1/hypernetworks`, the legacy `Hypernet:` paste — never doubling what a
host has."""
from __future__ import annotations

import importlib
import os

import pytest

from host_helpers import api_app, use_host


def test_the_stand_ins_removed_what_the_real_hosts_removed(removed_host):
    from modules import extra_networks, shared, shared_options, ui_extra_networks
    for name in ("modules.hypernetworks", "modules.extra_networks_hypernet", "modules.ui_extra_networks_hypernets"):
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(name)
    assert not hasattr(shared, "hypernetworks") and not hasattr(shared, "reload_hypernetworks")
    assert "sd_hypernetwork" not in shared_options.options_templates
    # only ours: the host registered no handler and no page of its own
    assert type(extra_networks.extra_network_registry["hypernet"]).__module__.startswith("sd_hypernet")
    pages = [p for p in ui_extra_networks.extra_pages if p.name == "hypernetworks"]
    assert len(pages) == 1 and type(pages[0]).__module__.startswith("sd_hypernet")


def test_classic_callbacks_take_no_name_and_the_extension_still_loads(capsys, classic):
    from modules import script_callbacks

    from sd_hypernet.hosts import common
    with pytest.raises(TypeError):
        script_callbacks.on_before_ui(lambda: None, name="x")  # as the real Classic
    assert common.current().name == "classic"
    assert "host: Forge Classic" in capsys.readouterr().out
    ours = [c for key in ("callbacks_before_ui", "callbacks_app_started", "callbacks_ui_tabs", "callbacks_cfg_denoiser")
            for c in script_callbacks.callback_map[key] if getattr(c.callback, "__module__", "").startswith("sd_hypernet")]
    assert len(ours) == 4
    classic.network("alpha")
    classic.load_model()
    got = classic.run_generation(classic.make_processing("<hypernet:alpha:0.8>", steps=2))
    assert got.changed() and got.matches([(classic.load("alpha"), 0.8)])


def test_neo_is_named_and_takes_the_forge_path(capsys, neo):
    from sd_hypernet.hosts import common
    from sd_hypernet.hosts.adapters.forge import ForgeHost
    assert common.current().name == "neo" and isinstance(common.current(), ForgeHost)
    assert "host: Forge Neo" in capsys.readouterr().out
    neo.network("alpha")
    neo.load_model()
    got = neo.run_generation(neo.make_processing("<hypernet:alpha:0.8>", steps=2))
    assert got.changed() and got.matches([(neo.load("alpha"), 0.8)])


def test_the_folder_and_the_flag_are_supplied(tmp_path):
    # a fresh Neo / Classic: no --hypernetwork-dir of its own (preload.py adds it), no models/hypernetworks yet
    for name in ("neo", "classic"):
        with use_host(name):
            from modules import script_callbacks, shared
            assert shared.cmd_opts.hypernetwork_dir == os.path.join("models", "hypernetworks")
            folder = tmp_path / name / "models" / "hypernetworks"
            shared.cmd_opts.hypernetwork_dir = str(folder)
            from sd_hypernet import hosts
            hosts.install()
            try:
                assert folder.is_dir()
            finally:
                script_callbacks.script_unloaded_callback()


def test_a_host_that_keeps_its_flag_gets_no_second_one():
    with use_host("webui"):
        from modules import shared_cmd_options
        flags = [a for a in shared_cmd_options.parser._actions if "--hypernetwork-dir" in a.option_strings]
        assert len(flags) == 1 and flags[0].type is os.path.normpath  # the host's own, not ours


def test_the_host_list_route_is_supplied_only_with_the_api_and_under_its_auth(removed_host):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from modules import script_callbacks, shared

    removed_host.network("alpha")
    app = api_app()
    script_callbacks.app_started_callback(None, app)
    client = TestClient(app)
    listed = client.get("/sdapi/v1/hypernetworks").json()
    assert listed == [{"name": "alpha", "path": os.path.join(str(removed_host.folder), "alpha.safetensors")}]
    bare = FastAPI()
    script_callbacks.app_started_callback(None, bare)
    assert TestClient(bare).get("/sdapi/v1/hypernetworks").status_code == 404  # no --api: none, as the host's
    shared.cmd_opts.api_auth = "u:p"
    try:
        guarded = api_app()
        script_callbacks.app_started_callback(None, guarded)
        assert TestClient(guarded).get("/sdapi/v1/hypernetworks").status_code == 401
    finally:
        shared.cmd_opts.api_auth = None


def test_a_host_that_has_the_list_route_keeps_its_own(host):
    from fastapi.testclient import TestClient
    from modules import script_callbacks

    app = api_app()
    script_callbacks.app_started_callback(None, app)
    owners = [r for r in app.router.routes if getattr(r, "path", None) == "/sdapi/v1/hypernetworks"]
    if host.name in ("neo", "classic"):
        assert len(owners) == 1 and owners[0].endpoint.__module__.startswith("sd_hypernet")
    else:
        assert len(owners) == 1 and type(owners[0].endpoint.__self__).__name__ == "Api"
    assert TestClient(app).get("/sdapi/v1/hypernetworks").status_code == 200


def test_legacy_hypernet_infotext_is_pasted_as_a_tag(removed_host):
    from modules import infotext_utils
    removed_host.network("oldnet")
    params = infotext_utils.paste("a cat\nSteps: 20, Hypernet: oldnet, Hypernet strength: 0.6")
    assert params["Prompt"] == "a cat<hypernet:oldnet:0.6>"


def test_a_failing_piece_is_reported_and_the_rest_loads(capsys, monkeypatch, tmp_path):
    with use_host("webui"):
        from modules import script_callbacks, shared
        shared.cmd_opts.hypernetwork_dir = str(tmp_path)
        from sd_hypernet.hosts.prompt import xyz

        def broken(host):
            raise RuntimeError("xyz went away")
        monkeypatch.setattr(xyz, "register", broken)
        from sd_hypernet import hosts
        hosts.install()
        try:
            script_callbacks.before_ui_callback()  # must not raise
            out = capsys.readouterr().out
            assert "the X/Y/Z axes failed: RuntimeError: xyz went away" in out
            from modules import extra_networks
            assert type(extra_networks.extra_network_registry["hypernet"]).__module__.startswith("sd_hypernet")
        finally:
            script_callbacks.script_unloaded_callback()


def test_an_install_that_fails_never_stops_the_host(capsys, monkeypatch):
    with use_host("webui"):
        from sd_hypernet import hosts
        monkeypatch.setattr(hosts, "detect", lambda: (_ for _ in ()).throw(RuntimeError("odd host")))
        assert hosts.install() is None
        assert "not started on this host: RuntimeError: odd host" in capsys.readouterr().out


def test_an_unknown_name_is_reported_once_in_the_console_and_in_the_infotext(capsys, host):
    from modules import shared

    from sd_hypernet.hosts import common
    shared.opts.data[common.OPT_WARN_TOAST] = True  # Neo printed the line twice with this on
    host.load_model()
    capsys.readouterr()
    p = host.make_processing("a cat <hypernet:nope:1>", steps=2)
    host.run_generation(p)
    lines = [line for line in capsys.readouterr().out.splitlines() if "nope" in line]
    assert len(lines) == 1 and "no hypernetwork with this name" in lines[0], lines
    assert "nope" in p.extra_generation_params["Hypernet errors"]
