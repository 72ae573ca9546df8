"""javascript/hypernet_notices.js in real headless Chromium: with the setting on, the "Hypernet errors" of a
generation's infotext appear as a notification once, on any host (the server-side gradio warning cannot reach the
page where the generation runs on another thread, as on Forge and Forge Neo); with it off, nothing."""
import json
import os

from test_cards_browser import browser  # noqa: F401 - the module-scoped Chromium fixture

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "javascript", "hypernet_notices.js")
INFO = ('a cat <hypernet:nope:1><br>Steps: 4, Sampler: Euler, Hypernet errors: '
        + json.dumps("nope: not found in models/hypernetworks; xl: made for SDXL (2048), add force=1") + ', Version: x')


def open_doc(browser, tmp_path, toast):  # noqa: F811
    doc = tmp_path / "notices.html"
    doc.write_text(f"""<!doctype html><html><body>
<div id="html_info_txt2img"></div><div id="html_info_img2img"></div>
<script>
var opts = {{hypernet_not_found_warning_toast: {json.dumps(toast)}}};
var uiAfterUpdateCallbacks = [];
function gradioApp() {{ return document; }}
function onAfterUiUpdate(f) {{ uiAfterUpdateCallbacks.push(f); }}
function uiUpdated() {{ uiAfterUpdateCallbacks.forEach(function (f) {{ f(); }}); }}
</script>
<script src="file://{SCRIPT}"></script></body></html>""")
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"file://{doc}")
    page.js_errors = errors
    return page


def notices(page):
    return page.eval_on_selector_all("#hypernet_notices .hypernet-notice", "els => els.map(e => e.textContent)")


def test_hypernet_errors_show_once_per_generation(browser, tmp_path):  # noqa: F811
    page = open_doc(browser, tmp_path, toast=True)
    page.evaluate("uiUpdated()")
    assert notices(page) == []  # no generation yet
    page.evaluate(f"document.getElementById('html_info_txt2img').innerHTML = {json.dumps(INFO)}; uiUpdated()")
    assert notices(page) == ["Hypernetworks: nope: not found in models/hypernetworks",
                             "Hypernetworks: xl: made for SDXL (2048), add force=1"]
    page.evaluate("uiUpdated(); uiUpdated()")
    assert len(notices(page)) == 2  # the same infotext is not reported again
    page.click("#hypernet_notices .hypernet-notice >> nth=0")
    assert len(notices(page)) == 1
    page.evaluate("document.getElementById('html_info_img2img').textContent = 'Steps: 4, Hypernet errors: a: bad'; uiUpdated()")
    assert notices(page)[-1] == "Hypernetworks: a: bad"
    assert page.js_errors == []
    page.close()


def test_the_next_generations_progress_text_does_not_report_the_last_errors_again(browser, tmp_path):  # noqa: F811
    # gradio's block: its status tracker beside the HTML's own element (which carries the same id, as on webui
    # v1.10.1 / gradio 3.41); while the next generation runs the tracker's timer text changes every tick
    page = open_doc(browser, tmp_path, toast=True)
    page.evaluate(f"""() => {{
        const block = document.getElementById('html_info_txt2img');
        block.innerHTML = '<div class="wrap hide"></div><div><div class="prose" id="html_info_txt2img">'
            + {json.dumps(INFO)} + '</div></div>';
        uiUpdated(); }}""")
    assert len(notices(page)) == 2
    for tick in range(5):
        page.evaluate(f"""() => {{
            const wrap = document.querySelector('#html_info_txt2img > .wrap');
            wrap.className = 'wrap'; wrap.textContent = 'processing | {tick}.0/9.1s'; uiUpdated(); }}""")
    assert len(notices(page)) == 2, notices(page)
    page.evaluate("""() => {
        document.querySelector('#html_info_txt2img > .wrap').className = 'wrap hide';
        document.querySelector('#html_info_txt2img .prose').textContent = 'a cat Steps: 4, Seed: 2, Version: x';
        uiUpdated(); }""")
    assert len(notices(page)) == 2
    assert page.js_errors == []
    page.close()


def test_no_notification_when_the_setting_is_off_or_nothing_failed(browser, tmp_path):  # noqa: F811
    page = open_doc(browser, tmp_path, toast=False)
    page.evaluate(f"document.getElementById('html_info_txt2img').innerHTML = {json.dumps(INFO)}; uiUpdated()")
    assert notices(page) == []
    page.evaluate("opts.hypernet_not_found_warning_toast = true; "
                  "document.getElementById('html_info_txt2img').textContent = 'Steps: 4, Sampler: Euler'; uiUpdated()")
    assert notices(page) == []
    assert page.evaluate("hypernetErrorsField('Hypernet errors: x: y, Version: 1')") == "x: y"
    assert page.js_errors == []
    page.close()


def test_no_duplicate_console_line_and_no_gradio_warning_outside_a_request(capsys):
    # Forge Neo printed the not-found line twice: once ours, once gradio's warning with no request to show it in
    from sd_hypernet.hosts.ui.notify import in_gradio_event, toast_in_request
    assert not in_gradio_event()
    with _no_warnings():
        assert toast_in_request("nope: not found") is False
    assert capsys.readouterr().out == ""


class _no_warnings:
    def __enter__(self):
        import warnings
        self._ctx = warnings.catch_warnings(record=True)
        self.caught = self._ctx.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc):
        caught = list(self.caught)
        self._ctx.__exit__(*exc)
        assert caught == [], [str(w.message) for w in caught]
