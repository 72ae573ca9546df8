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


@pytest.fixture(scope="session", autouse=True)
def private_cache_for_subprocesses(tmp_path_factory):
    """Processes started by module- or session-scoped fixtures (gradio builds) copy os.environ before any
    test runs: they get a private cache too, never the user's ~/.cache or a cache/ folder in the checkout."""
    folder = tmp_path_factory.mktemp("session-cache")
    saved = {key: os.environ.get(key) for key in ("SD_HYPERNET_CACHE_DIR", "SD_WEBUI_CACHE_DIR")}
    os.environ["SD_HYPERNET_CACHE_DIR"] = str(folder / "own")
    os.environ["SD_WEBUI_CACHE_DIR"] = str(folder / "host")
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own empty cache file and host cache folder (never the user's ~/.cache), and the
    process forgets earlier tests' descriptions and hashes, as after a restart."""
    from sd_hypernet import hashing, info, store

    folder = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv(store.ENV_DIR, str(folder / "own"))
    monkeypatch.setenv("SD_WEBUI_CACHE_DIR", str(folder / "host"))
    store.install(None)
    hashing.forget()
    info.forget()
    yield folder
    store.install(None)
