"""Build the Hypernetworks tab under whatever gradio this interpreter has, against one host's stand-in, and
print a JSON report (run by test_tab_gradio.py in each gradio environment):

    python tests/train/tab_build.py webui|forge
"""
import json
import os
import sys
import traceback

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [REPO, os.path.join(REPO, "tests", "standins")]


def main(host_name):
    import gradio as gr
    from folder_host import folder_host

    import sd_hypernet

    report = {"gradio": gr.__version__, "host": host_name, "ok": False}
    try:
        with folder_host(host_name) as (host, folder):
            from sd_hypernet.hosts.ui import tab

            net = sd_hypernet.create([768], layer_structure=(1, 0.01, 1), name="tiny")
            sd_hypernet.save_file(net, os.path.join(folder, "tiny.pt"))
            blocks, title, elem_id = tab.on_ui_tabs(host)[0]
            config = blocks.get_config_file()
            comps = config["components"]
            report["title"], report["elem_id"] = title, elem_id
            report["elem_ids"] = sorted(c["props"]["elem_id"] for c in comps
                                        if str(c.get("props", {}).get("elem_id", "")).startswith("hypernet"))
            dropdown = next(c for c in comps if c.get("props", {}).get("elem_id") == "hypernet_train_net")
            report["train_choices"] = [c[0] if isinstance(c, (list, tuple)) else c
                                       for c in dropdown["props"].get("choices", [])]
            report["ok"] = True
    except Exception:
        report["error"] = traceback.format_exc()
    print("TAB_BUILD_REPORT " + json.dumps(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "webui"))
