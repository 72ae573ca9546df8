"""The webui's built-in hypernetwork trainer (Train tab of v1.10.1, built by the stand-in with the real elem_ids)
is hidden and points to our tab while the extension runs; its handlers and API routes answer with that pointer
instead of failing half-way; after unload the webui's Train tab is as it was."""
import pytest

gr = pytest.importorskip("gradio")

HYPERNET_PARTS = ["train_new_hypernetwork_name", "train_new_hypernetwork_sizes", "train_create_hypernetwork",
                  "train_hypernetwork", "refresh_train_hypernetwork_name", "train_hypernetwork_learn_rate",
                  "train_train_hypernetwork"]
EMBEDDING_PARTS = ["train_new_embedding_name", "train_create_embedding", "train_embedding", "train_train_embedding",
                   "train_interrupt_training"]


@pytest.fixture(params=["webui", "reforge"])
def trainer_host(request):
    """A host with the webui's built-in trainer: the webui, and reForge (the same Train tab)."""
    return request.getfixturevalue(request.param)


@pytest.fixture
def patched_gradio():
    yield
    from modules import gradio_extensons
    gradio_extensons.unpatch()


def build():
    from modules import ui
    built = ui.create_train_interface()
    config = built["blocks"].get_config_file()
    by_id = {c["props"].get("elem_id"): c for c in config["components"] if c.get("props", {}).get("elem_id")}
    by_label = {c["props"].get("label"): c for c in config["components"] if c.get("props", {}).get("label")}
    return built, by_id, by_label


def click_fn(built, button):
    deps = built["blocks"].dependencies
    fns = built["blocks"].fns
    for dep, fn in zip(deps, fns):
        if built[button]._id in [t if isinstance(t, int) else t[0] for t in dep["targets"]]:
            return fn.fn
    raise AssertionError(f"no click handler on {button}")


def test_builtin_trainer_is_replaced_and_restored(trainer_host, patched_gradio):
    import modules.hypernetworks.ui as hypernetworks_ui
    from modules import script_callbacks

    from sd_hypernet.hosts.ui import builtin_trainer  # the host's fresh import (the stand-ins purge modules)

    def replaced(fn):
        return getattr(fn, builtin_trainer.REPLACED_MARK, False)

    assert replaced(hypernetworks_ui.create_hypernetwork) and replaced(hypernetworks_ui.train_hypernetwork)

    built, by_id, by_label = build()
    for elem_id in HYPERNET_PARTS:
        assert by_id[elem_id]["props"]["visible"] is False, elem_id
    assert by_label["Enter hypernetwork Dropout structure (or empty). Recommended : 0~0.35 incrementing sequence: "
                    "0, 0.05, 0.15"]["props"]["visible"] is False
    for elem_id in EMBEDDING_PARTS:
        assert by_id[elem_id]["props"].get("visible", True) is not False, elem_id
    for pointer, sub_tab in ((builtin_trainer.CREATE_POINTER_ID, "Create"), (builtin_trainer.TRAIN_POINTER_ID, "Train")):
        text = by_id[pointer]["props"]["value"]
        assert "Hypernetworks" in text and f"hypernetOpenTab(&#x27;{sub_tab}&#x27;)" in text
    # the hidden buttons' handlers answer with the pointer (a gradio call by fn_index still reaches them)
    for button in ("create_button", "train_button"):
        fn = click_fn(built, button)
        with pytest.raises(builtin_trainer.BuiltinTrainerReplaced, match="Hypernetworks tab"):
            fn("x", ["768"], False)
    assert hypernetworks_ui.calls == []

    # Reload UI with the extension disabled: our callbacks are gone, the Train tab is the webui's own again
    script_callbacks.script_unloaded_callback()
    for fn in (hypernetworks_ui.create_hypernetwork, hypernetworks_ui.train_hypernetwork):
        assert not replaced(fn) and fn.__module__ == "modules.hypernetworks.ui"
    built, by_id, _ = build()
    for elem_id in HYPERNET_PARTS:
        assert by_id[elem_id]["props"].get("visible", True) is not False, elem_id
    assert builtin_trainer.CREATE_POINTER_ID not in by_id and builtin_trainer.TRAIN_POINTER_ID not in by_id
    assert click_fn(built, "create_button") is hypernetworks_ui.create_hypernetwork


def test_builtin_api_routes_point_to_ours(trainer_host):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from modules import script_callbacks
    from modules.api import api as api_module

    from sd_hypernet.hosts.ui import builtin_trainer
    app = FastAPI()
    api_module.Api(app)
    script_callbacks.app_started_callback(None, app)
    client = TestClient(app)
    for route in ("/sdapi/v1/create/hypernetwork", "/sdapi/v1/train/hypernetwork"):
        info = client.post(route, json={"name": "x"}).json()["info"]
        assert "replaced by sd-webui-hypernetworks" in info and "/sdapi/v1/hypernet/" in info, info
    script_callbacks.script_unloaded_callback()
    assert not getattr(api_module.create_hypernetwork, builtin_trainer.REPLACED_MARK, False)
    body = {"name": "x", "enable_sizes": [768]}
    assert "not implemented" in client.post("/sdapi/v1/create/hypernetwork", json=body).json()["info"]
