"""Shared fixtures: where the webui conformance data lives (read-only, outside the project)."""
import os

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session")
def conformance():
    path = os.path.join(REPO_ROOT, "..", "shared", "conformance")
    if not os.path.isfile(os.path.join(path, "cases.json")):
        pytest.fail(f"conformance data missing at {path} (it must sit next to the project checkout)")
    return path
