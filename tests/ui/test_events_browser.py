"""Every event of ours fired in headless Chromium under gradio 3.41.2 (webui 1.10) and 4.40.0 (Forge, Neo)
(tests/ui/events_browser.py in each overlay venv of `bash .ci/gradio_envs.sh`): no page error, no request
carrying more values than its event's inputs (what gradio 4's "Too many arguments provided for the endpoint."
is about), the edit dialog saves a preferred weight of 0, and a second Train while a job runs starts no progress
bar and no job (gradio 4: the server refuses it and says so)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from gradio_overlay import run_report  # noqa: E402


@pytest.mark.parametrize("version, host", [("3.41.2", "webui"), ("4.40.0", "forge")])
def test_our_events_in_the_browser(version, host):
    report, proc = run_report(version, "tests/ui/events_browser.py", [host], "EVENTS_BROWSER_REPORT", timeout=600,
                              browser=True)
    assert report["ok"] and proc.returncode == 0, report
    assert report["gradio"] == version
    assert report["errors"] == [], report["errors"]  # e.g. "Cannot read properties of undefined (reading 'props')"
    assert report["too_many"] == [], report["too_many"]
    assert report["submissions"] > 5
    assert not any("Too many arguments" in w for w in report["after_load"]["warnings"])
    assert report["saved_metadata"]["use preferred weight"] is True
    assert report["saved_metadata"]["preferred weight"] == 0
    assert "data_root" in report["train_refused"] or "dataset" in report["train_refused"], report["train_refused"]
    assert report["bars_first_click"] == 1 and report["bars_second_click"] == 0, report
    assert report["jobs_started"] == 1, report
    if version.startswith("4."):
        assert "a training job is running" in report["notice"], report
        assert report["notice_kept"] == report["notice"]  # the running job's stream does not wipe it
