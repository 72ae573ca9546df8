"""The Hypernetworks tab served by gradio 3.41.2 (webui 1.10) and 4.40.0 (Forge), driven in headless Chromium
(tests/ui/tab_browser.py in each overlay venv of `bash .ci/gradio_envs.sh`): no sub-tab shows a stale list."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from gradio_overlay import run_report  # noqa: E402


@pytest.mark.parametrize("version, host", [("3.41.2", "webui"), ("4.40.0", "forge")])
def test_tab_lists_are_fresh_without_refresh(version, host):
    report, proc = run_report(version, "tests/ui/tab_browser.py", [host], "TAB_BROWSER_REPORT", browser=True)
    assert report["ok"] and proc.returncode == 0, report.get("error")
    assert report["gradio"] == version
    assert report["library_lists_on_open"], "the Library sub-tab stays empty until Refresh"
    assert "late.pt" in report["train_options_after_open"], report
    assert report["train_value_after_create"] == "fresh.safetensors", report
    assert "fresh.safetensors" in report["train_options_after_create"], report


def test_builtin_trainer_points_to_ours_in_the_browser():
    """webui 1.10 (gradio 3.41.2): the Train tab's hypernetwork parts are hidden, a note takes their place, its
    button opens our tab; embeddings keep theirs."""
    version = "3.41.2"
    report, proc = run_report(version, "tests/ui/train_tab_browser.py", (), "TRAIN_TAB_BROWSER_REPORT",
                              browser=True)
    assert report["ok"] and proc.returncode == 0, report.get("error")
    assert report["create"] == {"pointer": True, "name": False, "button": False}, report
    assert report["train"] == {"pointer": True, "dropdown": False, "button": False, "embedding_button": True,
                               "embedding_dropdown": True}, report
    assert report["opened_ours"], report
