"""The Hypernetworks tab builds under gradio 3.41.2 (webui 1.10) and 4.40.0 (Forge), each in the overlay venv
made by `bash .ci/gradio_envs.sh` (CI must make them: a missing one fails there, and only skips on a dev machine)."""
import json
import os
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENVS = os.environ.get("GRADIO_ENVS", os.path.join(REPO, ".ci", ".gradio"))
SCRIPT = os.path.join(REPO, "tests", "train", "tab_build.py")


@pytest.mark.parametrize("version, host", [("3.41.2", "webui"), ("4.40.0", "forge")])
def test_tab_builds(version, host):
    if not os.path.exists(os.path.join(ENVS, version, ".ok")):
        if os.environ.get("CI"):
            pytest.fail(f"gradio {version} env missing at {ENVS}: run bash .ci/gradio_envs.sh before the tests")
        pytest.skip(f"gradio {version} env not installed (bash .ci/gradio_envs.sh)")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["GRADIO_ANALYTICS_ENABLED"] = "False"
    proc = subprocess.run([os.path.join(ENVS, version, "bin", "python"), SCRIPT, host], cwd=REPO, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=240)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("TAB_BUILD_REPORT ")]
    assert lines, proc.stdout[-4000:]
    report = json.loads(lines[-1].split(" ", 1)[1])
    assert report["ok"] and proc.returncode == 0, report.get("error")
    assert report["gradio"] == version
    assert (report["title"], report["elem_id"]) == ("Hypernetworks", "hypernetworks_tab")
    for elem in ("hypernet_create_tab", "hypernet_train_tab", "hypernet_library_tab", "hypernet_train_button",
                 "hypernet_train_interrupt", "hypernet_create_button"):
        assert elem in report["elem_ids"]
    assert report["train_choices"] == ["tiny.pt"]
