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
import re
import traceback

from sd_hypernet.hosts.common import Host, current, set_current  # noqa: F401


HOST_LABELS = {
    "webui": "AUTOMATIC1111 webui (forward pre-hooks on to_k/to_v)",
    "forge": "Forge v2 (attn1/attn2 patches per sampling pass)",
    "reforge": "reForge (forward pre-hooks on to_k/to_v; its own hypernetwork support replaced)",
    "neo": "Forge Neo (attn1/attn2 patches per sampling pass; the hypernetwork support it removed supplied)",
    "classic": "Forge Classic (forward pre-hooks on to_k/to_v; the hypernetwork support it removed supplied)",
}


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def forge_version() -> str | None:
    """`version` in the host's modules_forge/forge_version.py ("neo", "classic", "2.0.1v1.10.1", ...), read as text
    (no import: nothing of the host runs for it); None without one."""
    try:
        spec = importlib.util.find_spec("modules_forge.forge_version")
        if spec is None or not spec.origin:
            return None
        with open(spec.origin, encoding="utf-8") as f:
            found = re.search(r"""^version\s*=\s*["']([^"']*)["']""", f.read(), re.M)
        return found.group(1) if found else None
    except (ImportError, ValueError, OSError):
        return None


def detect() -> str:
    """Forge v2's backend importable: "neo" when its forge_version says so, else "forge". Forge v1's
    `modules_forge` with ComfyUI's `ldm_patched`: "classic" when its forge_version says so, else "reforge".
    Otherwise "webui"."""
    version = (forge_version() or "").strip().lower()
    if _importable("backend.patcher"):
        return "neo" if version == "neo" else "forge"
    if _importable("modules_forge") and _importable("ldm_patched"):
        return "classic" if version == "classic" else "reforge"
    return "webui"


def install():
    """Install the glue for the running host; returns the Script class to expose, if any. A failure here is
    reported and leaves the host running without us: it never stops the host's start."""
    try:
        name = detect()
        module = importlib.import_module(f"{__name__}.adapters.{name}")
        print(f"[hypernetworks] host: {HOST_LABELS[name]}")
        return module.install()
    except Exception as e:
        print(f"[hypernetworks] not started on this host: {type(e).__name__}: {e}")
        traceback.print_exc()
        return None
