"""reForge (Panchovix/stable-diffusion-webui-reForge): a webui 1.x tree, so the webui glue serves as it is.

Its own hypernetwork code loads files but applies nothing (every apply site is commented out); the `hypernet`
handler and the Hypernetworks page are replaced exactly as on the webui. What differs: sampling runs under
`torch.inference_mode()` (the hook's cache and the sigma-step tracker handle inference tensors), and the UNet is
reForge's ComfyUI-derived one, whose attention layers still carry `to_k`/`to_v` for the forward pre-hooks.
"""
from __future__ import annotations

from sd_hypernet.hosts.adapters import webui


class ReforgeHost(webui.WebuiHost):
    name = "reforge"


def install():
    return webui.install(ReforgeHost)
