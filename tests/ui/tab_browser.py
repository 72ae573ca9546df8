"""Serve the Hypernetworks tab with the gradio this interpreter has (against one host's stand-in), drive it in
headless Chromium, and print a JSON report (run by test_tab_browser.py in each gradio environment):

    python tests/ui/tab_browser.py webui|forge

What a user sees without pressing any Refresh: the Library sub-tab lists the folder when opened; the Train
dropdown lists a file added after start-up when the Train sub-tab is opened, and selects a network just made in
the Create sub-tab."""
import json
import os
import socket
import sys
import traceback

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [REPO, os.path.join(REPO, "tests", "standins")]
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tiny(name):
    import sd_hypernet
    return sd_hypernet.create([768], layer_structure=(1, 0.01, 1), name=name)


def sub_tab(page, label):
    page.locator("#hypernet_tabs button", has_text=label).first.click()


def dropdown_options(page):
    box = page.locator("#hypernet_train_net input").first
    box.click()
    page.wait_for_selector("ul.options li", timeout=10000)
    options = [t.replace("\u2713", "").strip() for t in page.locator("ul.options li").all_inner_texts()]  # ✓ marks the selected
    page.keyboard.press("Escape")
    return options


def drive(report, url, folder):
    from playwright.sync_api import sync_playwright

    import sd_hypernet

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = browser.new_page()
            page.goto(url)
            page.wait_for_selector("#hypernet_tabs")

            # 1. Library: opening the sub-tab lists the folder
            sub_tab(page, "Library")
            try:
                page.wait_for_function(
                    "document.querySelector('#hypernet_library_tab').innerText.includes('tiny.pt')", timeout=15000)
                report["library_lists_on_open"] = True
            except Exception:
                report["library_lists_on_open"] = False

            # 2. Train: a file written after start-up is offered when the sub-tab is opened
            sd_hypernet.save_file(tiny("late"), os.path.join(folder, "late.pt"))
            sub_tab(page, "Train")
            page.wait_for_timeout(1500)  # the select event's round trip
            report["train_options_after_open"] = dropdown_options(page)

            # 3. Create, then the Train dropdown holds and selects the new file
            sub_tab(page, "Create")
            page.locator("#hypernet_create_name textarea, #hypernet_create_name input").first.fill("fresh")
            page.locator("#hypernet_create_button").click()
            page.wait_for_function("document.body.innerText.includes('Created ')", timeout=30000)
            sub_tab(page, "Train")
            page.wait_for_timeout(1500)
            report["train_value_after_create"] = page.locator("#hypernet_train_net input").first.input_value()
            report["train_options_after_create"] = dropdown_options(page)
        finally:
            browser.close()


def main(host_name):
    import gradio as gr
    from folder_host import folder_host

    import sd_hypernet

    report = {"gradio": gr.__version__, "host": host_name, "ok": False}
    try:
        with folder_host(host_name) as (host, folder):
            from sd_hypernet.hosts import common
            from sd_hypernet.hosts.ui import tab

            sd_hypernet.save_file(tiny("tiny"), os.path.join(folder, "tiny.pt"))
            common.set_current(host)
            blocks = tab.on_ui_tabs(host)[0][0]
            blocks.queue()
            port = free_port()
            blocks.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
            try:
                drive(report, f"http://127.0.0.1:{port}/", folder)
                report["ok"] = True
            finally:
                blocks.close()
                common.set_current(None)
    except Exception:
        report["error"] = traceback.format_exc()
    print("TAB_BROWSER_REPORT " + json.dumps(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "webui"))
