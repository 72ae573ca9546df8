"""The training step at its limit, written out by hand: a frozen UNet, each hypernetwork MLP run once per attention
call (a pre-hook on to_k runs the k MLP, one on to_v the v MLP), MSE, backward, AdamW. What the trainer is
measured against (tests/train/test_train_step_cost.py, benchmarks/train_speed.py).
"""
from __future__ import annotations

import contextlib

import torch
from torch.utils.flop_counter import FlopCounterMode

from sd_hypernet.hook import find_sites
from sd_hypernet.train.objective import NoiseSchedule, compute_loss
from sd_hypernet.train.unet_state import frozen_for_training


def randomise_zero_layers(unet):
    """ldm and diffusers zero-initialise output layers (ldm's zero_module: the out conv, each ResBlock's last conv,
    each SpatialTransformer's proj_out); a random UNet left so passes no gradient back to the networks."""
    for m in unet.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear, torch.nn.Conv1d)) and not m.weight.any():
            m.reset_parameters()
    return unet


def _width(layer) -> int:
    return int(layer.weight.shape[1])


@contextlib.contextmanager
def direct_hooks(unet, network):
    """Each site's to_k input goes through the network's k MLP of its width, to_v's through the v MLP."""
    handles = []

    def run(module):
        return lambda _mod, args: (module(args[0]),) + tuple(args[1:])

    try:
        for site in find_sites(unet):
            pair = network.layers.get(_width(site.module.to_k))
            if pair is None:
                continue
            handles.append(site.module.to_k.register_forward_pre_hook(run(pair[0])))
            handles.append(site.module.to_v.register_forward_pre_hook(run(pair[1])))
        yield
    finally:
        for h in handles:
            h.remove()


def reference_loss(host, network, x0, t, noise, cond):
    """The loss of one micro-batch with the hand-written hooks (the network must be in train mode)."""
    schedule = NoiseSchedule(host.alphas_cumprod)
    with direct_hooks(host.unet, network):
        return compute_loss(host.apply_unet, schedule, host.prediction_type, x0, t, noise, cond)


def limit_step(host, network, x0, t, noise, cond, optimizer):
    """One optimizer step at the limit."""
    with frozen_for_training(host.unet):
        optimizer.zero_grad(set_to_none=True)
        loss = reference_loss(host, network, x0, t, noise, cond)
        loss.backward()
        optimizer.step()
    return float(loss.detach())


def count_flops(fn) -> int:
    """FLOPs of fn() as torch's FLOP counter counts them (matmuls, convolutions, attention)."""
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return int(counter.get_total_flops())


def trainer_step_flops(trainer, step: int = 2) -> int:
    """FLOPs of the trainer's optimizer step number `step` (1-based) of a run; the trainer runs to its end."""
    original = trainer._train_step
    seen = {"n": 0, "flops": None}

    def counted():
        seen["n"] += 1
        if seen["n"] != step:
            return original()
        box = {}
        seen["flops"] = count_flops(lambda: box.setdefault("out", original()))
        return box["out"]

    trainer._train_step = counted
    trainer.run()
    if seen["flops"] is None:
        raise RuntimeError(f"the run ended before step {step}")
    return seen["flops"]
