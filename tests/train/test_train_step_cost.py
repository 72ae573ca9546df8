"""A training step does what the limit does: each MLP once per attention call, same gradients, a fixed order of
dropout draws; and every trainable parameter really gets a gradient."""
import pytest
import torch
from step_reference import count_flops, direct_hooks, limit_step, trainer_step_flops
from train_helpers import diffusers_host, latent_set, latents, ldm_host, make_net, options

import sd_hypernet
from sd_hypernet.hook import find_sites
from sd_hypernet.train import Trainer
from sd_hypernet.train.objective import NoiseSchedule, compute_loss
from sd_hypernet.train.unet_state import frozen_for_training


def _batch(host, n=2, seed=3):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.stack(latents(n))
    noise = torch.randn(x0.shape, generator=g)
    t = torch.randint(0, 1000, (n,), generator=g)
    cond = host.encode_text([f"p{i}" for i in range(n)], [(64, 64)] * n)
    return x0, t, noise, cond


def _old_way(patcher):
    """What training did before: every hook computes the whole pair itself and keeps its half."""
    applier = patcher.applier
    applier.site_pair = lambda site, which, context, mults: applier._compute(context, mults)


def _grads(host, net, batch, way):
    net.train()
    for p in net.parameters():
        p.grad = None
    with frozen_for_training(host.unet):
        if way == "reference":
            loss = _reference(host, net, batch)
        else:
            patcher = sd_hypernet.attach(host.unet)
            patcher.set_chain([sd_hypernet.ChainEntry(net, 1.0, force=True)])
            if way == "old":
                _old_way(patcher)
            try:
                loss = compute_loss(host.apply_unet, NoiseSchedule(host.alphas_cumprod), host.prediction_type,
                                    *batch)
            finally:
                patcher.remove()
        loss.backward()
    return float(loss.detach()), [p.grad.clone() for p in net.parameters()]


def _reference(host, net, batch):
    with direct_hooks(host.unet, net):
        return compute_loss(host.apply_unet, NoiseSchedule(host.alphas_cumprod), host.prediction_type,
                            *batch)


@pytest.mark.parametrize("kind", ["ldm", "diffusers"])
def test_each_mlp_runs_once_per_attention_call(tmp_path, kind):
    host = ldm_host() if kind == "ldm" else diffusers_host()
    net = make_net()
    runs = {}
    attention = {}
    handles = []
    for width, (k_mod, v_mod) in net.layers.items():
        for name, mod in (("k", k_mod), ("v", v_mod)):
            runs[(width, name)] = 0
            handles.append(mod.register_forward_hook(
                lambda *_, key=(width, name): runs.__setitem__(key, runs[key] + 1)))
    for site in find_sites(host.unet):
        width = site.module.to_k.weight.shape[1]
        attention.setdefault(width, 0)
        handles.append(site.module.to_k.register_forward_hook(
            lambda *_, w=width: attention.__setitem__(w, attention[w] + 1)))
    Trainer(net, host, latent_set(2), options(tmp_path, steps=1, batch_size=2)).run()
    for h in handles:
        h.remove()
    assert set(net.layers) <= set(attention) and all(attention[w] for w in net.layers)
    for (width, _), n in runs.items():
        assert n == attention[width], (width, runs, attention)


@pytest.mark.parametrize("kind", ["ldm", "diffusers"])
def test_gradients_are_those_of_the_old_computation_and_of_the_hand_written_step(kind):
    host = ldm_host() if kind == "ldm" else diffusers_host()
    net = make_net()
    batch = _batch(host)
    loss_new, new = _grads(host, net, batch, "new")
    loss_old, old = _grads(host, net, batch, "old")
    loss_ref, ref = _grads(host, net, batch, "reference")
    assert loss_new == loss_old
    assert all(torch.equal(a, b) for a, b in zip(new, old))
    assert abs(loss_new - loss_ref) < 1e-6
    for a, b in zip(new, ref):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-9)
    assert all(bool(g.any()) for g in new)


def test_a_training_step_costs_what_the_limit_costs(tmp_path):
    """FLOPs by torch's counter: the trainer's step against the hand-written limit (same shapes)."""
    host = ldm_host()
    net = make_net()
    flops = trainer_step_flops(Trainer(net, host, latent_set(1), options(tmp_path, steps=2, batch_size=1)))
    ref_net = make_net()
    ref_net.train()
    optimizer = torch.optim.AdamW(list(ref_net.parameters()), lr=1e-3)
    x0, t, noise, cond = _batch(host, n=1)
    limit = count_flops(lambda: limit_step(host, ref_net, x0, t, noise, cond, optimizer))
    assert limit > 0
    assert flops <= 1.02 * limit, (flops, limit, flops / limit)

    # the same count on the old computation exceeds it: the check can fail
    trainer = Trainer(make_net(), host, latent_set(1), options(tmp_path / "old", steps=2, batch_size=1))
    original_set_chain = sd_hypernet.hook.Patcher.set_chain

    def set_chain_old(self, chain, family=None):
        out = original_set_chain(self, chain, family)
        if chain:
            _old_way(self)
        return out

    sd_hypernet.hook.Patcher.set_chain = set_chain_old
    try:
        old_flops = trainer_step_flops(trainer)
    finally:
        sd_hypernet.hook.Patcher.set_chain = original_set_chain
    assert old_flops > 1.02 * limit, (old_flops, limit)


def test_dropout_draws_come_k_then_v_per_attention_call_in_call_order():
    host = ldm_host()
    net = make_net(dropout=[0, 0.3, 0])
    net.train()
    order = []
    handles = []
    for width, (k_mod, v_mod) in net.layers.items():
        for name, mod in (("k", k_mod), ("v", v_mod)):
            drops = [m for m in mod.modules() if isinstance(m, torch.nn.Dropout)]
            assert len(drops) == 1
            handles.append(drops[0].register_forward_hook(lambda *_, key=(width, name): order.append(key)))
    calls = []
    for site in find_sites(host.unet):
        handles.append(site.module.to_k.register_forward_pre_hook(
            lambda mod, args, s=site: calls.append(s.name)))
    try:
        _grads(host, net, _batch(host), "new")
    finally:
        for h in handles:
            h.remove()
    # one k draw then one v draw per attention call, nothing else, in the UNet's call order
    assert len(order) == 2 * len(calls) > 0
    assert [k for _, k in order] == ["k", "v"] * len(calls)
    widths = {s.name: s.module.to_k.weight.shape[1] for s in find_sites(host.unet)}
    assert [w for w, _ in order[::2]] == [widths[name] for name in calls]


def test_dropout_masks_differ_between_attention_calls_and_k_and_v():
    """Each call draws afresh: a taken pair is never reused by the next call of the same site."""
    host = ldm_host()
    net = make_net(dropout=[0, 0.5, 0])
    patcher = sd_hypernet.attach(host.unet)
    patcher.set_chain([sd_hypernet.ChainEntry(net.train(), 1.0, force=True)])
    patcher.received = []
    x0, t, noise, cond = _batch(host, n=1)
    try:
        with frozen_for_training(host.unet), torch.no_grad():
            host.apply_unet(x0, t, cond)
            host.apply_unet(x0, t, cond)
    finally:
        patcher.remove()
    cross = [(name, which, out) for name, which, out in patcher.received if "attn2" in name]
    half = len(cross) // 2
    first, second = cross[:half], cross[half:]
    assert half > 0 and [c[:2] for c in first] == [c[:2] for c in second]
    for a, b in zip(first, second):
        assert not torch.equal(a[2], b[2])  # same context, same site: another draw
    ks = [c[2] for c in first if c[1] == "k"]
    vs = [c[2] for c in first if c[1] == "v"]
    assert not any(torch.equal(k, v) for k, v in zip(ks, vs))


@pytest.mark.parametrize("kind", ["ldm", "diffusers"])
def test_every_trainable_parameter_gets_a_gradient_at_the_first_step(tmp_path, kind):
    host = ldm_host() if kind == "ldm" else diffusers_host()
    net = make_net()
    seen = {}

    def first(progress):
        if progress.step == 1:
            seen["grads"] = [None if p.grad is None else p.grad.clone() for p in net.parameters()]

    Trainer(net, host, latent_set(2), options(tmp_path, steps=1), on_progress=first).run()
    grads = seen["grads"]
    assert len(grads) == len(list(net.parameters())) > 0
    zero = [i for i, g in enumerate(grads) if g is None or not bool(g.any())]
    assert not zero, f"parameters {zero} got an all-zero gradient"


@pytest.mark.parametrize("kind", ["ldm", "diffusers"])
def test_the_test_unets_have_no_zero_initialised_layer(kind):
    """ldm and diffusers zero-initialise output layers; a UNet left so would pass no gradient to the networks."""
    host = ldm_host() if kind == "ldm" else diffusers_host()
    zero = [name for name, p in host.unet.named_parameters() if name.endswith("weight") and not bool(p.any())]
    assert not zero
