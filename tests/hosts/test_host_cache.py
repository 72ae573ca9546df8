"""Inside a host, descriptions and hashes live in the host's own cache (modules/cache.py): shared with the
webui's modules/hashes.py, surviving a restart; the listing routes, the page and the Library tab never hash."""
import hashlib
import json
import os

import pytest

from host_helpers import DRIVERS, make_network, use_host


def api_client():
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from modules import script_callbacks
    from modules.api.api import Api
    app = FastAPI()
    Api(app)
    script_callbacks.app_started_callback(None, app)
    return TestClient(app)


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def no_hashing(monkeypatch):
    from sd_hypernet import hashing
    monkeypatch.setattr(hashing, "_compute", lambda p: pytest.fail(f"hashed {p}"))


def test_the_host_cache_is_the_store(host):
    from modules import cache
    from sd_hypernet import hashing, info, store

    path = make_network(host.folder, "alpha")
    assert isinstance(store.current(), store.MappingStore)
    info.cached_describe(path)
    assert cache.cache(info.SECTION).get(os.path.abspath(path))["info"]["sizes"] == info.describe(path)["sizes"]
    value = info.file_hash(path)
    entry = cache.cache("hashes").get("hypernet/alpha")
    assert entry["sha256"] == value == sha(path) and entry["mtime"] == os.path.getmtime(path)
    assert hashing.computed >= 1
    assert os.listdir(os.environ["SD_WEBUI_CACHE_DIR"])  # the host's folder, not our own file
    assert not os.path.exists(store.default_path())


def test_our_hash_is_the_webuis_and_the_webuis_is_ours(host, monkeypatch, capsys):
    from modules import hashes
    from sd_hypernet import hashing, info

    ours = make_network(host.folder, "ours")
    theirs = make_network(host.folder, "theirs", seed=2)
    value = info.file_hash(ours)
    monkeypatch.setattr(hashes, "calculate_sha256", lambda p: pytest.fail("the webui hashed again"))
    assert hashes.sha256(ours, "hypernet/ours") == value
    assert hashes.sha256_from_cache(ours, "hypernet/ours") == value
    monkeypatch.undo()

    capsys.readouterr()
    their_value = hashes.sha256(theirs, "hypernet/theirs")  # e.g. the webui's own hypernetwork code
    assert "Calculating sha256 for" in capsys.readouterr().out
    no_hashing(monkeypatch)
    assert hashing.cached_sha256(theirs) == their_value == sha(theirs)
    assert info.file_hash(theirs) == their_value
    assert info.cached_describe(theirs)["short_hash"] == their_value[:10]


def test_a_webui_entry_for_another_file_of_that_name_is_not_taken(host, tmp_path):
    from modules import cache
    from sd_hypernet import hashing

    path = make_network(host.folder, "same")
    cache.cache("hashes")["hypernet/same"] = {"mtime": os.path.getmtime(path) - 10, "sha256": "0" * 64}
    assert hashing.cached_sha256(path) is None
    assert hashing.file_sha256(path) == sha(path)


def test_restart_lists_from_the_host_cache_without_reading_files(host, monkeypatch):
    from sd_hypernet import formats, hashing, info

    for i in range(6):
        make_network(host.folder, f"net{i}", ext=".pt" if i % 2 else ".safetensors", seed=i)
    (host.folder / "broken.pt").write_bytes(b"not a network")
    client = api_client()
    client.post("/sdapi/v1/hypernet/refresh")
    before = hashing.computed
    first = client.get("/sdapi/v1/hypernet/networks").json()
    assert hashing.computed == before  # listing does not hash
    assert len(first) == 7 and all(x.get("sha256") is None for x in first)
    assert "broken.pt" in next(x for x in first if x["name"] == "broken")["error"]
    detail = client.get("/sdapi/v1/hypernet/network", params={"name": "net3"}).json()
    assert detail["sha256"] == sha(host.folder / "net3.pt")

    # restart: a new process has nothing in memory; the host's cache is on disk
    host.shutdown()
    hashing.forget()
    info.forget()
    name = host.name
    with use_host(name):
        again = DRIVERS[name].__new__(DRIVERS[name])
        again.tmp, again.folder = host.tmp, host.folder
        again.startup()
        try:
            monkeypatch.setattr(info, "read_structure", lambda p: pytest.fail(f"read {p}"))
            monkeypatch.setattr(formats, "load_file", lambda p: pytest.fail(f"loaded {p}"))
            no_hashing(monkeypatch)
            client = api_client()
            client.post("/sdapi/v1/hypernet/refresh")
            listing = {x["name"]: x for x in client.get("/sdapi/v1/hypernet/networks").json()}
            assert listing["net3"]["sha256"] == detail["sha256"]
            strip = lambda x: {k: v for k, v in x.items() if k not in ("hash", "sha256")}  # noqa: E731
            assert {x["name"]: strip(x) for x in first} == {k: strip(v) for k, v in listing.items()}

            from sd_hypernet.hosts import common
            from sd_hypernet.hosts.ui import tab
            rows = {r[0]: r for r in tab.library_rows(common.current())}
            assert rows["net3.pt"][8] == detail["hash"] and rows["net0.safetensors"][8] == ""
            assert "broken.pt" in rows["broken.pt"][-1]
        finally:
            again.shutdown()


def test_unloading_puts_the_previous_store_back(host):
    from sd_hypernet import store
    assert isinstance(store.current(), store.MappingStore)
    host.shutdown()
    assert isinstance(store.current(), store.JsonFileStore)


def test_library_tab_and_page_list_without_hashing(host, monkeypatch):
    from modules import ui_extra_networks
    from sd_hypernet.hosts import common
    from sd_hypernet.hosts.ui import tab
    from sd_hypernet.hosts.ui.page import HypernetworksPage

    for i in range(3):
        make_network(host.folder, f"n{i}", seed=i)
    no_hashing(monkeypatch)
    rows = tab.library_rows(common.current())
    assert len(rows) == 3 and all(r[8] == "" and r[-1] == "" for r in rows)
    page = next(p for p in ui_extra_networks.extra_pages if isinstance(p, HypernetworksPage))  # the host's
    page.refresh()
    items = list(page.list_items())
    assert len(items) == 3 and all(i["shorthash"] == "" for i in items)
    json.dumps([i["metadata"] for i in items])
