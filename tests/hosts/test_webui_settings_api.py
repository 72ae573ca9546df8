"""Settings section and HTTP routes."""
import pytest

from host_helpers import make_network


def test_settings_are_registered_in_their_section(webui):
    from modules import shared
    from sd_hypernet.hosts import common
    keys = [common.OPT_DEFAULT_MULTIPLIER, common.OPT_CACHE_SIZE, common.OPT_HASHES_IN_INFOTEXT,
            common.OPT_SHOW_ALL, common.OPT_WARN_CONSOLE, common.OPT_WARN_TOAST, common.OPT_SELF_ATTENTION,
            common.OPT_FORCE_FAMILY]
    for key in keys:
        info = shared.opts.data_labels[key]
        assert info.section == ("hypernetworks", "Hypernetworks") and info.category_id == "sd"
    assert shared.opts.data_labels[common.OPT_DEFAULT_MULTIPLIER].component_args["minimum"] == -1.0
    assert getattr(shared.opts, common.OPT_SELF_ATTENTION) is True
    shared.opts.set(common.OPT_CACHE_SIZE, 3)
    assert common.current().library().cache_size == 3


@pytest.fixture
def client(webui):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from modules import script_callbacks
    from modules.api.api import Api
    app = FastAPI()
    Api(app)
    script_callbacks.app_started_callback(None, app)
    return TestClient(app)


def test_routes_list_refresh_and_detail(webui, client):
    from sd_hypernet import short_hash
    a = webui.network("alpha")
    webui.network("old", ext=".pt", sizes=(1024, 64))
    client.post("/sdapi/v1/hypernet/refresh")
    listing = {x["name"]: x for x in client.get("/sdapi/v1/hypernet/networks").json()}
    # a listing computes no hash: null until something needed it (a generation, the popup, the detail route)
    assert listing["alpha"]["hash"] is None and listing["alpha"]["sha256"] is None
    assert listing["alpha"]["family"] == "sd1"
    assert listing["old"]["family"] == "sd2" and "layer_structure" in listing["old"]["metadata"]
    # the host's own route now lists .safetensors too
    builtin = {x["name"] for x in client.get("/sdapi/v1/hypernetworks").json()}
    assert builtin == {"alpha", "old"}

    make_network(webui.folder, "new")
    assert client.post("/sdapi/v1/hypernet/refresh").json()["count"] == 3
    detail = client.get("/sdapi/v1/hypernet/network", params={"name": "new"}).json()
    assert sorted(detail["sizes"]) == [32, 64, 768] and detail["parameters"] > 0
    assert detail["hash"] == short_hash(webui.folder / "new.safetensors") == detail["sha256"][:10]
    client.get("/sdapi/v1/hypernet/network", params={"name": "alpha"})
    listing = {x["name"]: x for x in client.get("/sdapi/v1/hypernet/networks").json()}
    assert listing["alpha"]["hash"] == short_hash(a) and listing["new"]["hash"] == detail["hash"]
    missing = client.get("/sdapi/v1/hypernet/network", params={"name": "nope"})
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]
