"""Fixtures for the host glue tests; the importable helpers live in host_helpers.py (a plain module name,
since `from conftest import` resolves to whichever conftest pytest loaded last)."""
from __future__ import annotations

import pytest

from host_helpers import DRIVERS, HOSTS, WebuiDriver, use_host


@pytest.fixture(params=HOSTS)
def host(request, tmp_path):
    with use_host(request.param):
        driver = DRIVERS[request.param](tmp_path)
        driver.startup()
        try:
            yield driver
        finally:
            driver.shutdown()


@pytest.fixture
def webui(tmp_path):
    with use_host("webui"):
        driver = WebuiDriver(tmp_path)
        driver.startup()
        try:
            yield driver
        finally:
            driver.shutdown()
