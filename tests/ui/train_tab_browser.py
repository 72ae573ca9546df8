"""Serve the webui stand-in's Train tab (v1.10.1's hypernetwork parts, real elem_ids) beside our Hypernetworks
tab, with the extension wired as the webui wires it, under this interpreter's gradio; drive it in headless
Chromium with our javascript/hypernetworks.js and print a JSON report (run by test_tab_browser.py):

    python tests/ui/train_tab_browser.py
"""
import json
import os
import re
import sys
import tempfile
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [HERE, os.path.join(REPO, "tests", "hosts")]

from tab_browser import CHROMIUM, FLAGS, free_port  # noqa: E402

JS = os.path.join(REPO, "javascript", "hypernetworks.js")


def tab_button(page, tabs_id, label):
    """A tab's nav button by its exact label (gradio 3 and 4 put them in .tab-nav)."""
    return page.locator(f"#{tabs_id} .tab-nav button", has_text=re.compile(rf"^\s*{re.escape(label)}\s*$")).first


def visible(page, selector):
    loc = page.locator(selector)
    return loc.count() > 0 and loc.first.is_visible()


def drive(report, url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = browser.new_page()
            page.add_init_script(path=JS)  # the webui puts extensions' scripts in the page's head
            page.goto(url)
            page.wait_for_selector("#train_tabs")
            tab_button(page, "tabs", "Train").click()
            tab_button(page, "train_tabs", "Create hypernetwork").click()
            page.wait_for_timeout(300)
            report["create"] = {k: visible(page, s) for k, s in (
                ("pointer", "#hypernet_builtin_create_pointer"), ("name", "#train_new_hypernetwork_name"),
                ("button", "#train_create_hypernetwork"))}
            tab_button(page, "train_tabs", "Train").click()
            page.wait_for_timeout(300)
            report["train"] = {k: visible(page, s) for k, s in (
                ("pointer", "#hypernet_builtin_train_pointer"), ("dropdown", "#train_hypernetwork"),
                ("button", "#train_train_hypernetwork"), ("embedding_button", "#train_train_embedding"),
                ("embedding_dropdown", "#train_embedding"))}
            page.locator("#hypernet_builtin_train_pointer button").click()
            page.wait_for_timeout(600)
            report["opened_ours"] = visible(page, "#hypernet_train_net")
        finally:
            browser.close()


def main():
    import gradio as gr
    from host_helpers import DRIVERS, use_host

    report = {"gradio": gr.__version__, "ok": False}
    try:
        with tempfile.TemporaryDirectory() as folder, use_host("webui"):
            import pathlib
            driver = DRIVERS["webui"](pathlib.Path(folder))
            driver.startup()  # scripts loaded, extension wired, before_ui run
            try:
                from modules import ui

                from sd_hypernet.hosts import common
                from sd_hypernet.hosts.ui import tab
                train = ui.create_train_interface()["blocks"]
                ours = tab.build(common.current())
                with gr.Blocks(analytics_enabled=False) as demo:
                    with gr.Tabs(elem_id="tabs"):
                        with gr.Tab("Train"):
                            train.render()
                        with gr.Tab("Hypernetworks"):
                            ours.render()
                demo.queue()
                port = free_port()
                demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
                try:
                    drive(report, f"http://127.0.0.1:{port}/")
                    report["ok"] = True
                finally:
                    demo.close()
            finally:
                driver.shutdown()
    except Exception:
        report["error"] = traceback.format_exc()
    print("TRAIN_TAB_BROWSER_REPORT " + json.dumps(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
