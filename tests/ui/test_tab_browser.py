"""The Hypernetworks tab served by gradio 3.41.2 (webui 1.10) and 4.40.0 (Forge), driven in headless Chromium
(tests/ui/tab_browser.py in each overlay venv of `bash .ci/gradio_envs.sh`): no sub-tab shows a stale list."""
import json
import os
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENVS = os.environ.get("GRADIO_ENVS", os.path.join(REPO, ".ci", ".gradio"))
SCRIPT = os.path.join(REPO, "tests", "ui", "tab_browser.py")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


@pytest.mark.parametrize("version, host", [("3.41.2", "webui"), ("4.40.0", "forge")])
def test_tab_lists_are_fresh_without_refresh(version, host):
    if not os.path.exists(os.path.join(ENVS, version, ".ok")):
        if os.environ.get("CI"):
            pytest.fail(f"gradio {version} env missing at {ENVS}: run bash .ci/gradio_envs.sh before the tests")
        pytest.skip(f"gradio {version} env not installed (bash .ci/gradio_envs.sh)")
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} missing: apt-get install -y chromium")
        pytest.skip(f"{CHROMIUM} missing")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["GRADIO_ANALYTICS_ENABLED"] = "False"
    proc = subprocess.run([os.path.join(ENVS, version, "bin", "python"), SCRIPT, host], cwd=REPO, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("TAB_BROWSER_REPORT ")]
    assert lines, proc.stdout[-4000:]
    report = json.loads(lines[-1].split(" ", 1)[1])
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
    if not os.path.exists(os.path.join(ENVS, version, ".ok")):
        if os.environ.get("CI"):
            pytest.fail(f"gradio {version} env missing at {ENVS}: run bash .ci/gradio_envs.sh before the tests")
        pytest.skip(f"gradio {version} env not installed (bash .ci/gradio_envs.sh)")
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} missing: apt-get install -y chromium")
        pytest.skip(f"{CHROMIUM} missing")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["GRADIO_ANALYTICS_ENABLED"] = "False"
    proc = subprocess.run([os.path.join(ENVS, version, "bin", "python"),
                           os.path.join(REPO, "tests", "ui", "train_tab_browser.py")], cwd=REPO, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("TRAIN_TAB_BROWSER_REPORT ")]
    assert lines, proc.stdout[-4000:]
    report = json.loads(lines[-1].split(" ", 1)[1])
    assert report["ok"] and proc.returncode == 0, report.get("error")
    assert report["create"] == {"pointer": True, "name": False, "button": False}, report
    assert report["train"] == {"pointer": True, "dropdown": False, "button": False, "embedding_button": True,
                               "embedding_dropdown": True}, report
    assert report["opened_ours"], report
