"""Stand-in of modules/devices.py (CPU only)."""
import contextlib

import torch

cpu = torch.device("cpu")
device = cpu
dtype = torch.float32
dtype_unet = torch.float32


def autocast(disable=False):
    return contextlib.nullcontext()


def torch_gc():
    pass
