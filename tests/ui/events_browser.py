"""Every event of ours, fired from headless Chromium under this interpreter's gradio (against a host's stand-in),
with what the browser saw recorded; prints a JSON report (run by test_events_browser.py):

    python tests/ui/events_browser.py webui|forge

Served: txt2img's extra-networks pane with our page and edit dialog (the stand-in's create_ui), and our
Hypernetworks tab. Driven: page load, Create, Train (refused: no dataset), Interrupt, Library with Compute
hashes, the edit dialog opened and saved with a preferred weight of 0, and a second Train while a job runs.
Recorded: page errors, console warnings, and each request's values against its event's inputs (gradio hands
a `_js`/`js` function the outputs' values after the inputs; what goes back to the server must be the inputs).
"""
import json
import os
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [HERE, REPO, os.path.join(REPO, "tests", "standins")]

from tab_browser import CHROMIUM, FLAGS, free_port, sub_tab, tiny  # noqa: E402

JS = os.path.join(REPO, "javascript", "hypernetworks.js")
# What the host's page gives our code (webui/Forge script.js, progressbar.js, extraNetworks.js), recorded.
HOST_JS = """
window.hostCalls = {requestProgress: [], closePopup: 0, refreshSingleCard: []};
window.gradioApp = function() {  // as the webui's script.js: the gradio-app element, with getElementById
    var app = document.querySelector('gradio-app') || document;
    if (app !== document) app.getElementById = function(id) { return document.getElementById(id); };
    return app.shadowRoot ? app.shadowRoot : app;
};
window.randomId = function() { return "task(" + Math.random().toString(36).slice(2, 12) + ")"; };
window.requestProgress = function(id, container, gallery, atEnd) {
    hostCalls.requestProgress.push(id);
    var bar = document.createElement('div');
    bar.className = 'progressDiv';
    container.parentNode.insertBefore(bar, container);
};
window.closePopup = function() { hostCalls.closePopup += 1; };
window.extraNetworksRefreshSingleCard = function(page, tabname, name) {
    hostCalls.refreshSingleCard.push([page, tabname, name]);
};
window.opts = {extra_networks_add_text_separator: " ", extra_networks_default_multiplier: 1};
"""


def dependencies(demo):
    """fn_index -> (number of inputs, what the event is), from the served config."""
    config = demo.get_config_file()
    out = {}
    for i, dep in enumerate(config["dependencies"]):
        index = dep.get("id", i)
        targets = dep.get("targets") or []
        out[index] = (len(dep["inputs"]), json.dumps(targets)[:80])
    return out


def fns_named(demo):
    fns = demo.fns.values() if isinstance(demo.fns, dict) else demo.fns
    index = {}
    for i, fn in enumerate(fns):
        index[getattr(fn, "_id", i)] = getattr(fn, "name", None) or getattr(getattr(fn, "fn", None), "__name__", "")
    return index


def drive(report, url, folder, deps, names, fake_job):
    from playwright.sync_api import sync_playwright

    sent = []

    def record(body):
        try:
            msg = json.loads(body)
        except (TypeError, ValueError):
            return
        if isinstance(msg, dict) and "fn_index" in msg and isinstance(msg.get("data"), list):
            sent.append((msg["fn_index"], len(msg["data"])))

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            errors, warnings = [], []
            page.on("pageerror", lambda e: errors.append(str(e)))
            offline = ("Failed to load resource", "Unable to preload CSS")  # fonts from the internet
            page.on("console", lambda m: warnings.append(m.text)
                    if m.type in ("warning", "error") and not m.text.startswith(offline) else None)
            page.on("websocket", lambda ws: ws.on("framesent", lambda payload: record(payload)))
            page.on("request", lambda r: record(r.post_data) if r.method == "POST" and "queue/join" in r.url else None)
            page.add_init_script(script=HOST_JS)
            page.add_init_script(path=JS)
            page.goto(url)
            page.wait_for_selector("#hypernet_tabs", state="attached")
            page.wait_for_selector("#txt2img_hypernetworks_cards_html .card", state="attached", timeout=20000)
            page.wait_for_timeout(1500)
            report["after_load"] = {"errors": list(errors), "warnings": list(warnings)}

            def top(label):
                page.locator("#tabs .tab-nav button", has_text=label).first.click()
                page.wait_for_timeout(300)

            # the edit dialog, as the host's card button opens it: card id into the hidden box, hidden button
            editor = "#txt2img_hypernetworks_edit_user_metadata"
            page.evaluate("""(editor) => {
                const box = gradioApp().querySelector(editor + '_name textarea');
                box.value = 'tiny';
                box.dispatchEvent(new Event('input', {bubbles: true}));
                gradioApp().querySelector(editor + '_button').click();
            }""", editor)
            page.wait_for_selector(f"{editor} input[type=checkbox]", state="visible", timeout=15000)
            page.locator(f"{editor} input[type=checkbox]").first.check()
            number = page.locator(f"{editor} input[type=number]").first
            number.fill("0")
            number.press("Enter")
            page.wait_for_timeout(300)
            page.locator(f"{editor} button", has_text="Save").first.click()
            page.wait_for_function("window.hostCalls.closePopup > 0", timeout=15000)
            with open(os.path.join(folder, "tiny.json"), encoding="utf8") as f:
                report["saved_metadata"] = json.load(f)

            top("Hypernetworks")
            sub_tab(page, "Create")
            page.locator("#hypernet_create_name textarea, #hypernet_create_name input").first.fill("fresh")
            page.locator("#hypernet_create_button").click()
            page.wait_for_function("document.body.innerText.includes('Created ')", timeout=30000)

            sub_tab(page, "Train")
            page.wait_for_timeout(800)
            page.locator("#hypernet_train_button").click()  # fresh is selected, no dataset: refused
            page.wait_for_function("!gradioApp().querySelector('#hypernet_train_status').innerText"
                                   ".includes('No training job')", timeout=30000)
            report["train_refused"] = page.locator("#hypernet_train_status").first.inner_text()
            page.locator("#hypernet_train_interrupt").click()
            page.wait_for_timeout(1000)

            sub_tab(page, "Library")
            page.wait_for_timeout(800)
            page.locator("#hypernet_library_hashes").click()
            page.wait_for_timeout(1500)

            # a job that runs until released: the first click streams it, a second click is refused
            sub_tab(page, "Train")
            bars_before = page.evaluate("hostCalls.requestProgress.length")
            fake_job["armed"] = True
            page.locator("#hypernet_train_button").click()
            page.wait_for_selector("#hypernet_train_status [data-hypernet-job-running]", timeout=15000)
            report["bars_first_click"] = page.evaluate("hostCalls.requestProgress.length") - bars_before
            page.locator("#hypernet_train_button").click()
            # gradio 3 drops a click on an event still running; gradio 4 (with our every_click_kwargs) sends it
            # and the server refuses it
            try:
                page.wait_for_function("gradioApp().querySelector('#hypernet_train_notice').innerText"
                                       ".includes('a training job is running')", timeout=8000)
            except Exception:
                pass
            report["bars_second_click"] = page.evaluate("hostCalls.requestProgress.length") - bars_before - \
                report["bars_first_click"]
            report["notice"] = page.locator("#hypernet_train_notice").first.inner_text()
            page.wait_for_timeout(1500)  # the first job's stream goes on beside the notice
            report["notice_kept"] = page.locator("#hypernet_train_notice").first.inner_text()
            report["jobs_started"] = fake_job["started"]
            fake_job["release"].set()
            page.wait_for_function(
                "!document.querySelector('#hypernet_train_status [data-hypernet-job-running]')", timeout=15000)
            page.wait_for_timeout(500)

            report["errors"] = errors
            report["warnings"] = warnings
            report["too_many"] = [
                {"event": names.get(i, ""), "targets": deps.get(i, (0, ""))[1], "sent": n, "inputs": deps.get(i, (0,))[0]}
                for i, n in sent if n > deps.get(i, (n,))[0]]
            report["submissions"] = len(sent)
        except Exception:
            report["errors_so_far"], report["warnings_so_far"] = errors, warnings
            if os.environ.get("EVENTS_SHOT"):
                page.screenshot(path=os.environ["EVENTS_SHOT"], full_page=True)
            raise
        finally:
            browser.close()


def main(host_name):
    import gradio as gr
    from folder_host import folder_host

    import sd_hypernet

    report = {"gradio": gr.__version__, "host": host_name, "ok": False}
    try:
        with folder_host(host_name) as (host, folder):
            from modules import ui_extra_networks

            from sd_hypernet.hosts import common
            from sd_hypernet.hosts.training import jobs as train_jobs
            from sd_hypernet.hosts.ui import tab
            from sd_hypernet.hosts.ui.page import HypernetworksPage
            from sd_hypernet.train import jobs as core_jobs

            sd_hypernet.save_file(tiny("tiny"), os.path.join(folder, "tiny.pt"))
            common.set_current(host)

            # Training needs a model: once armed, a job that runs until released stands in for it (the checks
            # before it, e.g. the dataset, are the real ones)
            fake_job = {"armed": False, "release": threading.Event(), "started": 0}
            real_start = train_jobs.start_training

            def start_training(host_, network, options, manager=None, id_task=None, **kw):
                if not fake_job["armed"]:
                    return real_start(host_, network, options, manager=manager, id_task=id_task, **kw)
                (manager or core_jobs.manager).check_idle()
                job = (manager or core_jobs.manager).create(network, lambda job: fake_job["release"].wait(60))
                fake_job["started"] += 1
                job.thread = threading.Thread(target=job.run, daemon=True)
                job.thread.start()
                return job

            train_jobs.start_training = start_training

            ui_extra_networks.initialize()
            ui_extra_networks.extra_pages[:] = []
            page = HypernetworksPage(host.library, opt=lambda k, d=None: d, model_family=lambda: "sd1")
            ui_extra_networks.register_page(page)
            ours = tab.build(host)
            with gr.Blocks(analytics_enabled=False) as demo:
                with gr.Tabs(elem_id="tabs"):
                    with gr.Tab("txt2img"):
                        gr.Textbox(elem_id="txt2img_prompt", label="Prompt")
                        gr.Textbox(elem_id="txt2img_neg_prompt", label="Negative prompt")
                        with gr.Tabs(elem_id="txt2img_extra_tabs"):
                            ui_extra_networks.create_ui(demo, [], "txt2img")
                    with gr.Tab("Hypernetworks"):
                        ours.render()
            # the hosts' queues: the webui runs 64 events at a time (gradio 3), Forge v2 one per event (gradio 4)
            demo.queue(**({"concurrency_count": 64} if gr.__version__.startswith("3.") else {}))
            port = free_port()
            demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
            try:
                drive(report, f"http://127.0.0.1:{port}/", folder, dependencies(demo), fns_named(demo), fake_job)
                report["ok"] = True
            finally:
                fake_job["release"].set()
                time.sleep(0.2)
                demo.close()
                train_jobs.start_training = real_start
                common.set_current(None)
    except Exception:
        report["error"] = traceback.format_exc()
    print("EVENTS_BROWSER_REPORT " + json.dumps(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "webui"))
