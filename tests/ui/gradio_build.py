"""Build every gradio piece of the extension's UI under whatever gradio this interpreter has, against one host's
stand-in, and print a JSON report. Run by test_gradio_versions.py in each gradio environment:

    python tests/ui/gradio_build.py webui|forge

Exit status 0 only if everything built and the checks held.
"""
import importlib
import json
import os
import pkgutil
import sys
import tempfile
import traceback

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [REPO, os.path.join(REPO, "tests", "standins")]


def build_tabs(report, folder):
    import gradio as gr
    from modules import ui_extra_networks

    from sd_hypernet.hosts.ui.metadata_editor import HypernetUserMetadataEditor
    from sd_hypernet.hosts.ui.page import HypernetworksPage
    from sd_hypernet.library import Library

    ui_extra_networks.initialize()
    ui_extra_networks.register_default_pages()
    ui_extra_networks.extra_pages[:] = [p for p in ui_extra_networks.extra_pages if p.name != "hypernetworks"]
    page = HypernetworksPage(Library(folder), opt=lambda k, d=None: d, model_family=lambda: "sd1")
    ui_extra_networks.register_page(page)

    uis = {}
    with gr.Blocks() as demo:
        for tabname in ("txt2img", "img2img"):
            with gr.Tabs(elem_id=f"{tabname}_extra_tabs"):
                uis[tabname] = ui_extra_networks.create_ui(demo, [], tabname)
    config = demo.get_config_file()
    ids = {c.get("props", {}).get("elem_id") for c in config["components"]}

    for tabname, ui in uis.items():
        editors = [e for e in ui.user_metadata_editors if isinstance(e, HypernetUserMetadataEditor)]
        assert len(editors) == 1, f"{tabname}: our editor was not built"
        editor = editors[0]
        slider = editor.slider_preferred_weight
        assert isinstance(slider, gr.Slider), type(slider)
        assert (slider.minimum, slider.maximum) == (-1.0, 2.0), (slider.minimum, slider.maximum)
        assert isinstance(editor.edit_activation_text, gr.Textbox)
        assert isinstance(editor.edit_negative_text, gr.Textbox)
        assert f"{tabname}_hypernetworks_edit_user_metadata" in ids, "editor box missing from the config"
        assert f"{tabname}_hypernetworks_cards_html" in ids, "cards HTML missing from the config"
        pages_html = ui.refresh()
        ours = pages_html[ui.stored_extra_pages.index(page)]
        assert f'id="{tabname}_hypernetworks_multiplier"' in ours, "slider missing"
        assert 'data-name="tiny"' in ours, "card missing"
        values = editor.put_values_into_components("tiny")
        assert len(values) == 9
        assert isinstance(editor.check_preferred_weight, gr.Checkbox)
    report["tabs"] = sorted(uis)
    report["components"] = len(config["components"])


def build_settings(report):
    import gradio as gr

    from sd_hypernet.hosts import common
    from sd_hypernet.hosts.ui import settings

    built = []
    with gr.Blocks():
        for key, info in settings.options(common.Host()).items():
            if info.component is None:
                continue
            info.component(label=info.label, value=info.default, elem_id=f"setting_{key}",
                           **(info.component_args or {}))
            built.append(key)
    assert common.OPT_DEFAULT_MULTIPLIER in built, built
    report["settings_widgets"] = built


def import_all(report):
    import sd_hypernet.hosts as hosts

    imported, failed = [], {}
    for mod in pkgutil.walk_packages(hosts.__path__, prefix="sd_hypernet.hosts."):
        short = mod.name[len("sd_hypernet.hosts."):]
        if short.split(".")[0] == "comfyui":  # ComfyUI's glue imports ComfyUI, not a webui-family host
            continue
        try:
            importlib.import_module(mod.name)
            imported.append(short)
        except Exception as e:  # report, don't stop: one broken module should not hide the others
            failed[short] = f"{type(e).__name__}: {e}"
    report["imported"] = imported
    if failed:
        report["import_failures"] = failed


def main(host):
    from activate import use_host

    import gradio as gr

    import sd_hypernet

    report = {"gradio": gr.__version__, "host": host}
    ok = True
    with tempfile.TemporaryDirectory() as folder, use_host(host):
        sd_hypernet.save_file(sd_hypernet.create([768], layer_structure=(1, 0.01, 1), name="tiny"),
                              os.path.join(folder, "tiny.pt"))
        for step in (import_all, build_settings, lambda r: build_tabs(r, folder)):
            try:
                step(report)
            except Exception:
                ok = False
                report.setdefault("errors", []).append(traceback.format_exc())
    ok = ok and not report.get("import_failures")
    report["ok"] = ok
    print("GRADIO_BUILD_REPORT " + json.dumps(report))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "webui"))
