"""A generation without a hypernetwork tag, on every host: nothing of ours runs inside the UNet forward, and
the image is bit-identical to the same generation with the extension unloaded."""
import os
import sys

import torch

import sd_hypernet

PACKAGE = os.path.dirname(os.path.abspath(sd_hypernet.__file__))


def calls_inside_unet(unet, run):
    """Calls of sd_hypernet functions made while a UNet forward is running (between its first pre-hook and its
    last forward hook, both registered outermost)."""
    inside = {"depth": 0, "calls": 0}

    def profile(frame, event, arg):
        if event == "call" and inside["depth"] and frame.f_code.co_filename.startswith(PACKAGE):
            inside["calls"] += 1

    def enter(module, args, kwargs):
        inside["depth"] += 1

    def leave(module, args, kwargs, output):
        inside["depth"] -= 1

    handles = [unet.register_forward_pre_hook(enter, with_kwargs=True, prepend=True),
               unet.register_forward_hook(leave, with_kwargs=True)]
    sys.setprofile(profile)
    try:
        run()
    finally:
        sys.setprofile(None)
        for h in handles:
            h.remove()
    return inside["calls"]


def test_no_tag_runs_nothing_of_ours_in_the_unet_and_equals_the_host_without_us(host):
    host.network("alpha")
    host.load_model()
    host.run_generation(host.make_processing("<hypernet:alpha:1>", steps=2))  # networks cached, hooks used once
    calls = calls_inside_unet(host.unet, lambda: host.run_generation(host.make_processing("a cat", steps=2)))
    with_us = torch.stack(host.processed.images)
    assert calls == 0
    host.shutdown()  # Reload UI / extension disabled: the host as it was without us
    host.run_generation(host.make_processing("a cat", steps=2))
    assert torch.equal(torch.stack(host.processed.images), with_us)


def test_a_tag_costs_calls_only_while_it_is_used(host):
    host.network("alpha")
    host.load_model()
    used = calls_inside_unet(host.unet, lambda: host.run_generation(host.make_processing("<hypernet:alpha:1>",
                                                                                         steps=2)))
    assert used > 0  # the counter sees our hooks when they run
    after = calls_inside_unet(host.unet, lambda: host.run_generation(host.make_processing("a cat", steps=2)))
    assert after == 0
