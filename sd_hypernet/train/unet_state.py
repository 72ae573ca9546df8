"""Put a UNet into the state training needs, and back: frozen, and with a checkpointing our gradients survive.

ldm's own `checkpoint()` (CheckpointFunction) only differentiates the block's own parameters, so the
networks hooked inside would get no gradient; it is switched off while training. Optional gradient
checkpointing then uses torch's non-reentrant checkpoint, which differentiates everything.

Forge's transformer blocks add their residuals in place (`x += n` after each attention): the LayerNorm that
read `x` saved it for backward, so backpropagating to the hooked networks would fail ("modified by an inplace
operation"). While training, each transformer-block LayerNorm reads a copy of a grad-carrying input instead:
the in-place add then changes a tensor nobody saved, and the gradients are exact.
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


def _norm_reads_a_copy(module, args):
    x = args[0] if args else None
    if isinstance(x, torch.Tensor) and x.requires_grad and torch.is_grad_enabled():
        return (x.clone(),) + tuple(args[1:])
    return None


def guard_inplace_residuals(unet: torch.nn.Module) -> list:
    """Pre-hooks on the LayerNorms of every transformer block (a module with attn1): handles to remove."""
    handles = []
    for block in unet.modules():
        if not isinstance(getattr(block, "attn1", None), torch.nn.Module):
            continue
        for child in block.children():
            if isinstance(child, torch.nn.LayerNorm) or type(child).__name__ == "LayerNorm":
                handles.append(child.register_forward_pre_hook(_norm_reads_a_copy))
    return handles


@contextlib.contextmanager
def frozen_for_training(unet: torch.nn.Module, gradient_checkpointing: bool = False):
    """Freeze every UNet parameter, eval mode, ldm checkpoint flags off; optional torch checkpointing."""
    grads = [(p, p.requires_grad) for p in unet.parameters()]
    was_training = unet.training
    flags = []
    wrapped = []
    guards = []
    try:
        guards = guard_inplace_residuals(unet)
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
        for handle in guards:
            handle.remove()
        for module in wrapped:
            del module.forward
        for module, attr in flags:
            setattr(module, attr, True)
        for p, req in grads:
            p.requires_grad_(req)
        unet.train(was_training)
