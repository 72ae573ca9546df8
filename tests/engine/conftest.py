"""Engine test fixtures: conformance cases and the tiny ldm UNet (helpers live in engine_helpers.py)."""
import json
import os

import pytest
import torch

from engine_helpers import build_ldm_unet

# Tiny tensors: extra intra-op threads only add contention on a small (2-core) CI machine, ~10x slower there.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def cases(conformance):
    with open(os.path.join(conformance, "cases.json"), encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="session")
def unet_vectors(conformance, cases):
    from safetensors.torch import load_file
    return load_file(os.path.join(conformance, cases["unet"]["vectors"]))


@pytest.fixture(scope="session")
def unet_weights(conformance, cases):
    from safetensors.torch import load_file
    return load_file(os.path.join(conformance, cases["unet"]["weights"]))


@pytest.fixture
def ldm_unet(cases, unet_weights):
    """A fresh tiny ldm UNet with the conformance weights (fresh: tests attach and remove hooks)."""
    return build_ldm_unet(cases["unet"]["config"], unet_weights)
