"""Put a UNet into the state training needs, and back: frozen, and with a checkpointing our gradients survive.

ldm's own `checkpoint()` (CheckpointFunction) only differentiates the block's own parameters, so the
networks hooked inside would get no gradient; it is switched off while training. Optional gradient
checkpointing then uses torch's non-reentrant checkpoint, which differentiates everything.
"""
from __future__ import annotations

import contextlib
import functools

import torch
from torch.utils.checkpoint import checkpoint as torch_checkpoint

# Blocks worth recomputing; the hooked attention layers sit inside the transformer blocks.
CHECKPOINT_CLASSES = ("BasicTransformerBlock", "ResBlock", "ResnetBlock2D")


def _checkpointed(forward, *args, **kwargs):
    if not torch.is_grad_enabled():
        return forward(*args, **kwargs)
    return torch_checkpoint(forward, *args, use_reentrant=False, **kwargs)


@contextlib.contextmanager
def frozen_for_training(unet: torch.nn.Module, gradient_checkpointing: bool = False):
    """Freeze every UNet parameter, eval mode, ldm checkpoint flags off; optional torch checkpointing."""
    grads = [(p, p.requires_grad) for p in unet.parameters()]
    was_training = unet.training
    flags = []
    wrapped = []
    try:
        for p, _ in grads:
            p.requires_grad_(False)
        unet.eval()
        for module in unet.modules():
            for attr in ("checkpoint", "use_checkpoint"):
                if getattr(module, attr, None) is True:
                    flags.append((module, attr))
                    setattr(module, attr, False)
        if gradient_checkpointing:
            for module in unet.modules():
                if type(module).__name__ in CHECKPOINT_CLASSES and "forward" not in vars(module):
                    module.forward = functools.partial(_checkpointed, module.forward)
                    wrapped.append(module)
        yield unet
    finally:
        for module in wrapped:
            del module.forward
        for module, attr in flags:
            setattr(module, attr, True)
        for p, req in grads:
            p.requires_grad_(req)
        unet.train(was_training)
