"""Host glue: picks the host from what it provides and wires it up.

Layout (one concern per sub-package; only this package imports a host's modules):
    adapters/   one small adapter per host (webui, forge, reforge, ...): how it gives us its UNet, steps, options
    prompt/     the `hypernet` handler (tags -> chain), infotext write/paste, X/Y/Z axes
    ui/         the extra-networks page, popup, edit dialog, settings, the Hypernetworks tab, built-in trainer pointer
    routes/     HTTP routes and who may call them
    training/   training as a host job, each host's training adapter, where a job may write
    wiring.py   registering all of it with the host's callbacks; common.py the Host interface

Each adapter module provides `install() -> type | None`: it makes its Host current, registers its callbacks, and
returns an AlwaysVisible Script class when the host needs one (None otherwise).
"""
from __future__ import annotations

import importlib
import importlib.util

from sd_hypernet.hosts.common import Host, current, set_current  # noqa: F401


HOST_LABELS = {
    "webui": "AUTOMATIC1111 webui (forward pre-hooks on to_k/to_v)",
    "forge": "Forge v2 (attn1/attn2 patches per sampling pass)",
    "reforge": "reForge (forward pre-hooks on to_k/to_v; its own hypernetwork support replaced)",
}


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def detect() -> str:
    """"forge" when Forge v2's backend is importable, "reforge" for reForge (a webui 1.x tree with Forge v1's
    `modules_forge` and ComfyUI's `ldm_patched`), else "webui"."""
    if _importable("backend.patcher"):
        return "forge"
    if _importable("modules_forge") and _importable("ldm_patched"):
        return "reforge"
    return "webui"


def install():
    """Install the glue for the running host; returns the Script class to expose, if any."""
    name = detect()
    module = importlib.import_module(f"{__name__}.adapters.{name}")
    print(f"[hypernetworks] host: {HOST_LABELS[name]}")
    return module.install()
