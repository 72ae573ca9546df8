"""The loss equals a hand computation of the ldm objective (eps and v) for fixed (latent, noise, t, cond)."""
import numpy as np
import pytest
import torch
from train_helpers import encode_text, ldm_host, make_net

import sd_hypernet
from sd_hypernet.train.objective import NoiseSchedule, compute_loss, linear_alphas_cumprod


def test_noise_schedule_matches_ldm_tables():
    from ldm.modules.diffusionmodules.util import make_beta_schedule
    betas = make_beta_schedule("linear", 1000, linear_start=0.00085, linear_end=0.012)
    betas = np.asarray(betas, dtype=np.float64)
    ac = np.cumprod(1.0 - betas, axis=0)
    ours = NoiseSchedule(linear_alphas_cumprod())
    # ldm: numpy float64 tables, stored as float32 buffers
    assert torch.equal(ours.sqrt_ac, torch.tensor(np.sqrt(ac), dtype=torch.float32))
    assert torch.equal(ours.sqrt_one_minus_ac, torch.tensor(np.sqrt(1.0 - ac), dtype=torch.float32))


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_loss_is_the_ldm_objective(prediction):
    host = ldm_host(prediction=prediction)
    g = torch.Generator().manual_seed(3)
    x0 = torch.randn(2, 4, 8, 8, generator=g)
    noise = torch.randn(2, 4, 8, 8, generator=g)
    t = torch.tensor([17, 871])
    cond = encode_text(["a", "b"])
    net = make_net()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    patcher = sd_hypernet.attach(host.unet)
    patcher.set_chain([sd_hypernet.ChainEntry(net, 1.0, force=True)])
    try:
        with torch.no_grad():
            loss = compute_loss(host.apply_unet, NoiseSchedule(host.alphas_cumprod), prediction, x0, t, noise, cond)
            # by hand, in float64 from the beta schedule
            betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2
            ac = torch.cumprod(1 - betas, 0)[t].view(-1, 1, 1, 1)
            a, s = ac.sqrt().float(), (1 - ac).sqrt().float()
            x_t = a * x0 + s * noise
            out = host.unet(x_t, timesteps=t, context=cond["context"])
            target = noise if prediction == "eps" else a * noise - s * x0
            expected = ((out.double() - target.double()) ** 2).mean()
    finally:
        patcher.remove()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    # and it is not trivially the same for the other prediction type
    other = (a * noise - s * x0) if prediction == "eps" else noise
    assert abs(((out - other) ** 2).mean().item() - loss.item()) > 1e-3


def test_loss_weighting_by_alpha():
    from sd_hypernet.train.objective import denoising_loss
    out, target = torch.zeros(1, 1, 2, 2), torch.tensor([[[[1.0, 2.0], [0.0, 0.0]]]])
    w = torch.tensor([[[[2.0, 0.0], [1.0, 1.0]]]])
    assert denoising_loss(out, target).item() == pytest.approx(5 / 4)
    assert denoising_loss(out, target, w).item() == pytest.approx(2 / 4)
