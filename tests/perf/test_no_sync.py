"""The per-context cache must never read a tensor's value on the host (on a GPU that is a synchronisation)."""
import pytest
import torch

import sd_hypernet

# Each of these copies a value to the host; a hooked forward (cache misses and hits) must call none of them.
HOST_READS = ("item", "tolist", "cpu", "numpy", "__bool__", "__int__", "__float__", "__index__")


def arm(monkeypatch):
    def trap(name):
        def refuse(self, *args, **kwargs):
            raise AssertionError(f"Tensor.{name} called in the forward pass")
        return refuse
    for name in HOST_READS:
        monkeypatch.setattr(torch.Tensor, name, trap(name))


def networks():
    torch.manual_seed(3)
    a = sd_hypernet.create([48, 32, 64], (1, 2, 1), "relu", weight_init="XavierNormal", name="a")
    b = sd_hypernet.create([48, 64], (1, 1.5, 1), "tanh", is_layer_norm=True, weight_init="XavierNormal", name="b")
    return [sd_hypernet.ChainEntry(a, 0.8, block_weights={"IN01": 0.5}), sd_hypernet.ChainEntry(b, -0.4, start=1)]


def test_trap_is_armed(monkeypatch):
    arm(monkeypatch)
    t = torch.ones(2)
    for call in (lambda: t.sum().item(), lambda: t.tolist(), lambda: bool(t[0]), lambda: t.cpu()):
        with pytest.raises(AssertionError, match="forward pass"):
            call()


def test_hooked_forward_reads_nothing_back(tiny_unet, unet_inputs, monkeypatch):
    x, t, ctx = unet_inputs
    patcher = sd_hypernet.attach(tiny_unet)
    patcher.set_chain(networks())
    with torch.no_grad():
        patcher.set_step(0, 4)
        expected = [tiny_unet(x, t, context=ctx)]
        patcher.set_step(1, 4)
        expected.append(tiny_unet(x, t, context=ctx))
    patcher.set_chain(networks())  # cold cache again
    arm(monkeypatch)
    got = []
    with torch.no_grad():
        for step in range(2):
            patcher.set_step(step, 4)
            got.append(tiny_unet(x, t, context=ctx))   # same context object: misses, then hits
        got.append(tiny_unet(x, t, context=ctx.clone()))  # a new context: a miss again
    monkeypatch.undo()
    applier = patcher.applier
    patcher.remove()
    assert applier.hits > 0 and applier.misses > 0, "the cache path did not run"
    assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])
    assert torch.equal(got[2], expected[1])
