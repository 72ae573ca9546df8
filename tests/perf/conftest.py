"""Helpers for the speed-related correctness tests (no timings here): a tiny ldm UNet."""
import pytest
import torch

torch.set_num_threads(1)  # tiny tensors: more threads only add contention on a 2-core machine

TINY = dict(image_size=8, in_channels=4, out_channels=4, model_channels=32, attention_resolutions=[2, 1],
            num_res_blocks=1, channel_mult=[1, 2], num_heads=2, use_spatial_transformer=True,
            transformer_depth=1, context_dim=48, use_checkpoint=False, legacy=False)


@pytest.fixture(scope="module")
def tiny_unet():
    from ldm.modules.diffusionmodules.openaimodel import UNetModel
    torch.manual_seed(0)
    unet = UNetModel(**TINY)
    with torch.no_grad():  # ldm zero-initialises output projections: make attention reach the output
        for p in unet.parameters():
            if p.dim() >= 2 and not p.any():
                p.normal_(0.0, 0.05)
    return unet.eval().requires_grad_(False)


@pytest.fixture
def unet_inputs():
    g = torch.Generator().manual_seed(0)
    return (torch.randn(2, 4, 8, 8, generator=g), torch.tensor([500, 500]),
            torch.randn(2, 77, 48, generator=g))
