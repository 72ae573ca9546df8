"""Exact resume from a snapshot, and gradient accumulation equal to one big batch."""
import torch
from train_helpers import latent_set, ldm_host, make_net, options

from sd_hypernet.train import Trainer

STEPS = 10


def _data():
    # everything random switched on: dropout, resampled latents, shuffled and dropped tags, a multi-line template
    stds = [torch.full((4, 8, 8), 0.3) for _ in range(4)]
    return latent_set(4, template="hypernetwork", stds=stds, latent_sampling="random", shuffle_tags=True,
                      tag_drop_out=0.2)


def _opts(tmp_path, **kw):
    base = dict(steps=STEPS, batch_size=2, gradient_accumulation=2, save_every=0, learn_rate="0.002:4, 0.001",
                clip_grad_mode="norm", clip_grad_value="1.0", seed=123)
    base.update(kw)
    return options(tmp_path, **base)


def test_interrupted_and_resumed_run_repeats_the_uninterrupted_one(tmp_path):
    full = Trainer(make_net(dropout=[0, 0.2, 0]), ldm_host(), _data(), _opts(tmp_path / "a")).run()
    assert full.progress.step == STEPS

    net = make_net(dropout=[0, 0.2, 0])
    first = Trainer(net, ldm_host(), _data(), _opts(tmp_path / "b"))
    first.on_progress = lambda p: first.interrupt() if p.step == 4 else None
    part1 = first.run()
    assert part1.progress.status == "interrupted" and part1.progress.step == 4
    snap = part1.progress.final
    assert snap.endswith("t-4.safetensors")

    # a fresh process would rebuild host and dataset; so do we
    part2 = Trainer.resume(snap, ldm_host(), _data(), _opts(tmp_path / "b")).run()
    assert part2.progress.step == STEPS
    assert part1.losses + part2.losses == full.losses  # bit-exact on CPU
    rows = (tmp_path / "b" / "out" / "t-loss.csv").read_text().strip().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == list(range(1, STEPS + 1))


def test_interrupt_inside_accumulation_saves_the_last_complete_step(tmp_path):
    host = ldm_host()
    calls = {"n": 0}
    trainer = Trainer(make_net(), host, _data(), _opts(tmp_path, gradient_accumulation=3))
    real_apply = host.apply_unet

    def counting_apply(*a):
        calls["n"] += 1
        if calls["n"] == 8:  # step 3's second micro-batch
            trainer.interrupt()
        return real_apply(*a)

    host.apply_unet = counting_apply
    result = trainer.run()
    assert result.progress.status == "interrupted" and result.progress.step == 2
    resumed = Trainer.resume(result.progress.final, ldm_host(), _data(), _opts(tmp_path, steps=3,
                                                                                gradient_accumulation=3)).run()
    full = Trainer(make_net(), ldm_host(), _data(), _opts(tmp_path / "full", steps=3, gradient_accumulation=3)).run()
    assert result.losses + resumed.losses == full.losses


def test_accumulating_k_batches_of_b_equals_one_batch_of_k_times_b(tmp_path):
    data = lambda: latent_set(8, template="none")  # noqa: E731
    runs = {}
    for b, k in ((4, 1), (2, 2), (1, 4)):
        net = make_net()
        opts = options(tmp_path / f"{b}x{k}", steps=3, batch_size=b, gradient_accumulation=k, optimizer="SGD",
                       learn_rate="0.5", seed=7)
        r = Trainer(net, ldm_host(), data(), opts).run()
        runs[(b, k)] = (r.losses, torch.cat([p.detach().flatten() for p in net.parameters()]))
    ref_losses, ref_params = runs[(4, 1)]
    start = torch.cat([p.detach().flatten() for p in make_net().parameters()])
    assert not torch.allclose(ref_params, start)  # the steps moved the weights
    for key in ((2, 2), (1, 4)):
        losses, params = runs[key]
        assert torch.allclose(torch.tensor(losses), torch.tensor(ref_losses), rtol=1e-5, atol=1e-6), key
        assert torch.allclose(params, ref_params, rtol=1e-4, atol=1e-6), key
