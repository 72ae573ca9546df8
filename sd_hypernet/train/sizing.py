"""The training size a dataset suggests, and what a step at a size costs, told before a run starts.

Default: the dataset's largest image (by area), or the largest aspect bucket of that area, never above the
model's native area (512x512 for SD1/SD2, 1024x1024 for SDXL), sides multiples of 8: a 64x64 dataset trains at
64x64, not at 512x512. Image sizes come from the file headers (nothing is decoded).
"""
from __future__ import annotations

import math

from .dataset import bucket_size, image_paths

NATIVE = {"sd1": 512, "sd2": 512, "sdxl": 1024}
# torch's FLOP counter on one trainer step (forward + input-only backward) of an SD1.5-shaped UNet with the
# default SD1 network, batch 1: 139.3 GFLOP at 16x16 latents, 468.8 at 32x32 (benchmarks/train_speed.py --flops).
# A line through both is the estimate (attention's quadratic part makes larger sizes cost somewhat more).
_SD15_FLOPS = ((16 * 16, 139.29e9), (32 * 32, 468.80e9))


def image_sizes(folder: str) -> list[tuple[int, int]]:
    """(width, height) of every image in the dataset folder, from the headers."""
    from PIL import Image

    sizes = []
    for path in image_paths(folder):
        try:
            with Image.open(path) as im:
                sizes.append(im.size)
        except OSError:
            continue  # the dataset build names unreadable files
    return sizes


def _fit(width: int, height: int, max_area: int) -> tuple[int, int]:
    scale = min(1.0, math.sqrt(max_area / (width * height)))
    w = max(64, int(width * scale) // 8 * 8)
    h = max(64, int(height * scale) // 8 * 8)
    return w, h


def suggested_size(folder: str, size_mode: str = "fixed", family: str | None = None) -> tuple[int, int]:
    """(width, height) to train at by default: the largest image (or its bucket), capped at the native area."""
    sizes = image_sizes(folder)
    if not sizes:
        native = NATIVE.get(family or "sd1", 512)
        return native, native
    native = NATIVE.get(family or "sd1", 512)
    w, h = max(sizes, key=lambda s: (s[0] * s[1], s[0]))
    w, h = _fit(w, h, native * native)
    if size_mode == "buckets":
        w, h = bucket_size(w, h, w * h)
    return w, h


def step_gflops(width: int, height: int, batch: int = 1) -> float:
    """Estimated GFLOP of one training step on an SD1.5-shaped UNet at this pixel size."""
    (t0, f0), (t1, f1) = _SD15_FLOPS
    tokens = (width // 8) * (height // 8)
    per_token = (f1 - f0) / (t1 - t0)
    return batch * (f0 + per_token * (tokens - t0)) / 1e9


def cost_text(width: int, height: int, batch: int = 1, images: int | None = None,
              largest: tuple[int, int] | None = None) -> str:
    """One line for the UI before a run: size, latent size, estimated work per step against a 512x512 step."""
    work = step_gflops(width, height, batch)
    ratio = work / step_gflops(512, 512, batch)
    head = ""
    if images is not None:
        head = f"{images} image{'s' if images != 1 else ''}"
        if largest:
            head += f", largest {largest[0]}x{largest[1]}"
        head += "; "
    return (f"{head}training at {width}x{height} (latents {width // 8}x{height // 8}): about {work:,.0f} GFLOP a "
            f"step on an SD1.5-sized UNet, {ratio:.2g}x a 512x512 step")


def describe(folder: str, width: int, height: int, batch: int = 1) -> str:
    sizes = image_sizes(folder)
    largest = max(sizes, key=lambda s: s[0] * s[1]) if sizes else None
    return cost_text(width, height, batch, len(sizes), largest)
