"""reForge's modules/processing.py: the webui's, except that `process_images_inner` runs its batches under
`torch.inference_mode()` (reForge main 3b56b268): contexts, sigmas and latents are inference tensors there,
while the checkpoint's weights (loaded under no_grad by modules_forge.forge_loader) stay normal tensors."""
import torch

from mirror_webui import run_webui_module

run_webui_module("processing.py", globals())

_webui_process_images_inner = process_images_inner  # noqa: F821 - defined by the webui source


def process_images_inner(p):  # noqa: F811 - process_images (same namespace) calls this one
    with torch.inference_mode():
        return _webui_process_images_inner(p)
