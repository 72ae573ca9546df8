"""The UI (page, metadata editor, settings widgets, every sd_hypernet.hosts module) imports and builds under
gradio 3.41.2 (webui 1.10) and gradio 4.40.0 (Forge v2). Each runs in its own overlay venv made by
`bash .ci/gradio_envs.sh`; CI must make them (a missing one fails there, and only skips on a dev machine)."""
import json
import os
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENVS = os.environ.get("GRADIO_ENVS", os.path.join(REPO, ".ci", ".gradio"))
SCRIPT = os.path.join(REPO, "tests", "ui", "gradio_build.py")
CASES = [("3.41.2", "webui"), ("4.40.0", "forge")]  # the gradio each host ships


def python_for(version):
    py = os.path.join(ENVS, version, "bin", "python")
    if not os.path.exists(os.path.join(ENVS, version, ".ok")):
        if os.environ.get("CI"):
            pytest.fail(f"gradio {version} env missing at {ENVS}: run bash .ci/gradio_envs.sh before the tests")
        pytest.skip(f"gradio {version} env not installed (bash .ci/gradio_envs.sh)")
    return py


@pytest.fixture(scope="module")
def reports():
    # Start all builds at once (each spends most of its time importing gradio), then collect.
    procs = {}
    for version, host in CASES:
        if os.path.exists(os.path.join(ENVS, version, ".ok")):
            env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
            env["GRADIO_ANALYTICS_ENABLED"] = "False"
            procs[(version, host)] = subprocess.Popen(
                [os.path.join(ENVS, version, "bin", "python"), SCRIPT, host], cwd=REPO, env=env,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = {}
    for key, proc in procs.items():
        text, _ = proc.communicate(timeout=240)
        out[key] = (proc.returncode, text)
    return out


@pytest.mark.parametrize("version, host", CASES)
def test_ui_builds(reports, version, host):
    python_for(version)
    rc, text = reports[(version, host)]
    lines = [line for line in text.splitlines() if line.startswith("GRADIO_BUILD_REPORT ")]
    assert lines, text[-4000:]
    report = json.loads(lines[-1].split(" ", 1)[1])
    assert report["gradio"] == version
    assert report["ok"] and rc == 0, json.dumps(report, indent=1)[-6000:]
    assert {"ui.page", "ui.metadata_editor", "ui.settings", "ui.tab", "adapters.forge", "adapters.webui",
            "routes.training", "training.jobs", "prompt.extra_network"} <= set(report["imported"])
    assert report["tabs"] == ["img2img", "txt2img"]
