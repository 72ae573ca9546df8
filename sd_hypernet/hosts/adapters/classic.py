"""Forge Classic (Haoming02's gradio-3 continuation of the old Forge): a webui 1.x tree with Forge v1's
`modules_forge` and ComfyUI's `ldm_patched`, like reForge, so the reForge adapter serves: forward pre-hooks on
to_k/to_v, sampling under inference_mode. Classic removed every piece of hypernetwork support
(`supplies_removed`), and its script_callbacks take no `name=` (wiring registers without it there)."""
from __future__ import annotations

from sd_hypernet.hosts.adapters import reforge, webui


class ClassicHost(reforge.ReforgeHost):
    name = "classic"
    supplies_removed = True


def install():
    return webui.install(ClassicHost)
