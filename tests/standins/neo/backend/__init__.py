"""Forge Neo's `backend`: Forge v2's (its UNet blocks call attn1/attn2 patches and add residuals in place)."""
import os

__path__.append(os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                             "forge", "backend"))
