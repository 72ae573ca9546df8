"""A generation without a hypernetwork tag, on every host: nothing of ours runs inside the UNet forward, and
the image is bit-identical to the same generation with the extension unloaded."""
import torch

from call_count import calls_of_ours


def calls_inside_unet(unet, run):
    """Calls of sd_hypernet functions made while a UNet forward is running (between a pre-hook and a forward
    hook registered outermost)."""
    depth = [0]

    def enter(module, args, kwargs):
        depth[0] += 1

    def leave(module, args, kwargs, output):
        depth[0] -= 1

    handles = [unet.register_forward_pre_hook(enter, with_kwargs=True, prepend=True),
               unet.register_forward_hook(leave, with_kwargs=True)]
    try:
        return calls_of_ours(run, only_while=lambda: depth[0] > 0)
    finally:
        for h in handles:
            h.remove()


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
