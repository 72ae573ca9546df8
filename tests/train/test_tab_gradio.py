"""The Hypernetworks tab builds under gradio 3.41.2 (webui 1.10) and 4.40.0 (Forge), each in the overlay venv
made by `bash .ci/gradio_envs.sh` (CI must make them: a missing one fails there, and only skips on a dev machine)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from gradio_overlay import run_report  # noqa: E402


@pytest.mark.parametrize("version, host", [("3.41.2", "webui"), ("4.40.0", "forge")])
def test_tab_builds(version, host):
    report, proc = run_report(version, "tests/train/tab_build.py", [host], "TAB_BUILD_REPORT", timeout=240)
    assert report["ok"] and proc.returncode == 0, report.get("error")
    assert report["gradio"] == version
    assert (report["title"], report["elem_id"]) == ("Hypernetworks", "hypernetworks_tab")
    for elem in ("hypernet_create_tab", "hypernet_train_tab", "hypernet_library_tab", "hypernet_train_button",
                 "hypernet_train_interrupt", "hypernet_create_button"):
        assert elem in report["elem_ids"]
    assert report["train_choices"] == ["tiny.pt"]
