"""Run a test script in one of the gradio overlay venvs made by `bash .ci/gradio_envs.sh` and read the JSON report
it prints on a `MARKER {...}` line. CI must have made the env (and Chromium, for browser scripts): missing ones
fail there and only skip on a dev machine."""
import json
import os
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENVS = os.environ.get("GRADIO_ENVS", os.path.join(REPO, ".ci", ".gradio"))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def _require(present: bool, what: str, fix: str) -> None:
    if not present:
        if os.environ.get("CI"):
            pytest.fail(f"{what} missing: {fix}")
        pytest.skip(f"{what} missing ({fix})")


def run_report(version: str, script: str, args=(), marker: str = "REPORT", timeout: int = 300,
               browser: bool = False):
    """(report dict, completed process) of `script` (a path under the repository) run with gradio `version`."""
    _require(os.path.exists(os.path.join(ENVS, version, ".ok")), f"gradio {version} env at {ENVS}",
             "run bash .ci/gradio_envs.sh before the tests")
    if browser:
        _require(os.path.exists(CHROMIUM), CHROMIUM, "apt-get install -y chromium")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["GRADIO_ANALYTICS_ENABLED"] = "False"
    proc = subprocess.run([os.path.join(ENVS, version, "bin", "python"), os.path.join(REPO, script), *args],
                          cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)
    lines = [line for line in proc.stdout.splitlines() if line.startswith(marker + " ")]
    assert lines, proc.stdout[-4000:]
    return json.loads(lines[-1].split(" ", 1)[1]), proc
