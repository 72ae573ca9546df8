"""Fixtures for the host glue tests; the importable helpers live in host_helpers.py (a plain module name,
since `from conftest import` resolves to whichever conftest pytest loaded last)."""
from __future__ import annotations

import pytest

from host_helpers import DRIVERS, HOSTS, use_host


def _driven(host_name, tmp_path):
    with use_host(host_name):
        driver = DRIVERS[host_name](tmp_path)
        driver.startup()
        try:
            yield driver
        finally:
            driver.shutdown()


@pytest.fixture(params=HOSTS)
def host(request, tmp_path):
    yield from _driven(request.param, tmp_path)


@pytest.fixture
def webui(tmp_path):
    yield from _driven("webui", tmp_path)


@pytest.fixture
def forge(tmp_path):
    yield from _driven("forge", tmp_path)


@pytest.fixture
def reforge(tmp_path):
    yield from _driven("reforge", tmp_path)


@pytest.fixture
def neo(tmp_path):
    yield from _driven("neo", tmp_path)


@pytest.fixture
def classic(tmp_path):
    yield from _driven("classic", tmp_path)


@pytest.fixture(params=["neo", "classic"])
def removed_host(request, tmp_path):
    """A host that removed hypernetwork support entirely (Forge Neo, Forge Classic)."""
    yield from _driven(request.param, tmp_path)
