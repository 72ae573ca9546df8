"""The training set: images (or ready latents) with captions, prompt texts from a template, batch order.

Images are encoded once up front, as the webui does. Latent sampling: "once" (one sample kept), "deterministic"
(the distribution's mean) or "random" (a fresh sample every time an image is used). Sizes: "fixed" (resize to
width x height, bicubic, like the webui), "buckets" (aspect buckets of about width x height pixels, sides
multiples of 64, centre-cropped) or "original" (only cropped to a multiple of 8, the webui's "do not resize").
All randomness comes from generators whose state can be saved, so a run can resume exactly.
"""
from __future__ import annotations

import math
import os
import random
import re
from dataclasses import dataclass

import torch

from ..errors import HypernetError
from . import templates as tpl

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
LATENT_SAMPLING = ("once", "deterministic", "random")
SIZE_MODES = ("fixed", "buckets", "original")
_LEADING_NUMBERS = re.compile(r"^[-\d]+\s*")


@dataclass
class Entry:
    caption: str                      # the image's words ([filewords])
    mean: torch.Tensor                # (C, h, w) latent mean (or the latent itself)
    std: torch.Tensor | None = None   # None: no distribution to sample from
    fixed: torch.Tensor | None = None  # latent used every time ("once" / "deterministic")
    text: str | None = None           # fixed prompt when tags are neither shuffled nor dropped
    weight: torch.Tensor | None = None  # (1, h, w) loss weight from the alpha channel, mean 1
    path: str | None = None
    size: tuple[int, int] = (0, 0)    # (height, width) in pixels

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.mean.shape)


def caption_for(image_path: str, word_regex: str = "", join_string: str = " ") -> str:
    """`<image>.txt` when present, else the file name without leading numbers (optionally regex-filtered)."""
    txt = os.path.splitext(image_path)[0] + ".txt"
    if os.path.isfile(txt):
        with open(txt, encoding="utf8") as f:
            return f.read().strip()
    stem = _LEADING_NUMBERS.sub("", os.path.splitext(os.path.basename(image_path))[0])
    if word_regex:
        stem = (join_string or "").join(re.findall(word_regex, stem))
    return stem


def bucket_size(width: int, height: int, area: int, step: int = 64) -> tuple[int, int]:
    """(w, h) multiples of `step` with about `area` pixels and the aspect ratio closest to width/height."""
    aspect = width / height
    best, best_err = (step, step), float("inf")
    for w in range(step, int(math.sqrt(area * 4)) + step, step):
        h = max(step, int(area / w) // step * step)
        if w * h > area:
            continue
        err = abs(math.log((w / h) / aspect))
        if err < best_err - 1e-9 or (abs(err - best_err) <= 1e-9 and w * h > best[0] * best[1]):
            best, best_err = (w, h), err
    return best


def _load_pixels(path: str, mode: str, width: int, height: int, bucket_step: int):
    from PIL import Image

    with Image.open(path) as im:
        im.load()
        alpha = im.getchannel("A") if "A" in im.getbands() else None
        rgb = im.convert("RGB")
    if mode == "fixed":
        size = (width, height)
        rgb = rgb.resize(size, Image.BICUBIC)
        alpha = alpha.resize(size, Image.BICUBIC) if alpha is not None else None
    else:
        if mode == "buckets":
            tw, th = bucket_size(rgb.width, rgb.height, width * height, bucket_step)
            scale = max(tw / rgb.width, th / rgb.height)
            new = (max(tw, round(rgb.width * scale)), max(th, round(rgb.height * scale)))
            rgb = rgb.resize(new, Image.BICUBIC)
            alpha = alpha.resize(new, Image.BICUBIC) if alpha is not None else None
        else:
            tw, th = rgb.width // 8 * 8, rgb.height // 8 * 8
            if tw == 0 or th == 0:
                raise HypernetError(f"{os.path.basename(path)}: image smaller than 8 pixels")
        left, top = (rgb.width - tw) // 2, (rgb.height - th) // 2
        box = (left, top, left + tw, top + th)
        rgb = rgb.crop(box)
        alpha = alpha.crop(box) if alpha is not None else None
    data = torch.frombuffer(bytearray(rgb.tobytes()), dtype=torch.uint8).reshape(rgb.height, rgb.width, 3)
    pixels = data.permute(2, 0, 1).float() / 127.5 - 1.0
    a = None
    if alpha is not None:
        a = torch.frombuffer(bytearray(alpha.tobytes()), dtype=torch.uint8).reshape(1, alpha.height, alpha.width)
        a = a.float() / 255.0
    return pixels, a


def image_paths(folder: str) -> list[str]:
    """The images of a dataset folder (not recursive), sorted; HypernetError naming the folder if there are none."""
    if not folder:
        raise HypernetError("dataset folder: none given")
    if not os.path.isdir(folder):
        raise HypernetError(f"dataset folder {folder!r} does not exist" if not os.path.exists(folder)
                            else f"dataset folder {folder!r} is not a folder")
    try:
        names = os.listdir(folder)
    except OSError as e:
        raise HypernetError(f"dataset folder {folder!r} cannot be read: {e.strerror}") from None
    paths = sorted(os.path.join(folder, f) for f in names if os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS)
    if not paths:
        raise HypernetError(f"dataset folder {folder!r} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
    return paths


class TrainingSet:
    def __init__(self, entries: list[Entry], template_lines: list[str], name: str, shuffle_tags: bool = False,
                 tag_drop_out: float = 0.0, latent_sampling: str = "once", seed: int = 0):
        if not entries:
            raise HypernetError("the dataset holds no usable images")
        if latent_sampling not in LATENT_SAMPLING:
            raise HypernetError(f"latent sampling {latent_sampling!r}; expected one of {', '.join(LATENT_SAMPLING)}")
        if not 0 <= tag_drop_out < 1:
            raise HypernetError(f"tag drop-out {tag_drop_out} must be in [0, 1)")
        self.entries = entries
        self.lines = list(template_lines)
        self.name = name
        self.shuffle_tags = bool(shuffle_tags)
        self.tag_drop_out = float(tag_drop_out)
        self.latent_sampling = latent_sampling
        self.text_rng = random.Random(seed)
        gen = torch.Generator().manual_seed(seed)
        for e in entries:
            if e.std is None or latent_sampling == "deterministic":
                e.fixed = e.mean
            elif latent_sampling == "once":
                e.fixed = e.mean + e.std * torch.randn(e.mean.shape, generator=gen, dtype=e.mean.dtype)
            else:
                e.fixed = None
            if not self.varies_text:
                e.text = self._make_text(e.caption)

    @property
    def varies_text(self) -> bool:
        return self.shuffle_tags or self.tag_drop_out > 0

    def __len__(self) -> int:
        return len(self.entries)

    def _make_text(self, caption: str) -> str:
        line = self.text_rng.choice(self.lines)
        return tpl.fill(line, caption, self.name, self.text_rng, self.shuffle_tags, self.tag_drop_out)

    def text_for(self, i: int) -> str:
        e = self.entries[i]
        return e.text if e.text is not None else self._make_text(e.caption)

    def latent_for(self, i: int, generator: torch.Generator) -> torch.Tensor:
        e = self.entries[i]
        if e.fixed is not None:
            return e.fixed
        return e.mean + e.std * torch.randn(e.mean.shape, generator=generator, dtype=e.mean.dtype)

    def state_dict(self) -> dict:
        return {"text_rng": self.text_rng.getstate()}

    def load_state_dict(self, state: dict) -> None:
        self.text_rng.setstate(_as_random_state(state["text_rng"]))

    # -- building ---------------------------------------------------------------------------------------
    @classmethod
    def from_latents(cls, latents, captions, template="none", name="hypernet", stds=None, weights=None,
                     template_dirs=(), **kwargs) -> "TrainingSet":
        """Latents made elsewhere (already scaled); `stds` for a distribution to sample from."""
        entries = []
        for i, (lat, cap) in enumerate(zip(latents, captions)):
            lat = torch.as_tensor(lat).float()
            std = None if stds is None else torch.as_tensor(stds[i]).float()
            w = None if weights is None else weights[i]
            entries.append(Entry(caption=cap, mean=lat, std=std, weight=w,
                                 size=(lat.shape[-2] * 8, lat.shape[-1] * 8)))
        return cls(entries, tpl.load_template(template, template_dirs), name, **kwargs)

    @classmethod
    def from_folder(cls, folder: str, encode_images, width=512, height=512, size_mode="fixed", bucket_step=64,
                    template=tpl.DEFAULT_TEMPLATE, name="hypernet", use_alpha_weight=False, word_regex="",
                    join_string=" ", template_dirs=(), interrupted=lambda: False, **kwargs) -> "TrainingSet":
        """Images in `folder` (not recursive) with `.txt` captions or file-name words, encoded once."""
        if size_mode not in SIZE_MODES:
            raise HypernetError(f"size mode {size_mode!r}; expected one of {', '.join(SIZE_MODES)}")
        paths = image_paths(folder)
        entries = []
        for path in paths:
            if interrupted():
                raise HypernetError("interrupted while preparing the dataset")
            try:
                pixels, alpha = _load_pixels(path, size_mode, width, height, bucket_step)
            except HypernetError:
                raise
            except Exception as e:  # unreadable image: skipped, as the webui does, but said
                print(f"[hypernetworks] skipping {os.path.basename(path)}: {e}")
                continue
            with torch.no_grad():
                mean, std = encode_images(pixels.unsqueeze(0))
            mean = mean[0].detach().float().cpu()
            std = None if std is None else torch.as_tensor(std).expand_as(mean.unsqueeze(0))[0].detach().float().cpu()
            if not bool(torch.isfinite(mean).all()) or (std is not None and not bool(torch.isfinite(std).all())):
                # e.g. a VAE that overflows in fp16: every step on this image would be NaN
                raise HypernetError(f"the model's VAE encoded {os.path.basename(path)} to non-finite latents "
                                    f"(NaN/inf); nothing can be trained on it. Check the VAE (its precision) "
                                    f"with the host's img2img")
            weight = None
            if use_alpha_weight and alpha is not None:
                weight = torch.nn.functional.interpolate(alpha.unsqueeze(0), size=mean.shape[-2:], mode="area")[0]
                weight = weight / weight.mean().clamp_min(1e-8)
            entries.append(Entry(caption=caption_for(path, word_regex, join_string), mean=mean, std=std,
                                 weight=weight, path=path, size=(pixels.shape[1], pixels.shape[2])))
        return cls(entries, tpl.load_template(template, template_dirs), name, **kwargs)


def _as_random_state(state):
    # A saved state comes back from torch.load with lists where random expects tuples.
    version, internal, gauss = state
    return int(version), tuple(int(x) for x in internal), gauss


class BatchOrder:
    """An endless stream of index batches: per epoch a seeded shuffle, grouped by latent shape, cut into
    batches of `batch_size` (a shape with fewer images gives one smaller batch), batch order shuffled."""

    def __init__(self, dataset: TrainingSet, batch_size: int, seed: int = 0):
        self.dataset = dataset
        self.batch_size = max(1, min(int(batch_size), len(dataset)))
        self.seed = seed
        self.epoch = 0
        self.position = 0
        self._batches = self._epoch_batches(0)

    def _epoch_batches(self, epoch: int) -> list[list[int]]:
        rng = random.Random(self.seed * 1_000_003 + epoch)
        order = list(range(len(self.dataset)))
        rng.shuffle(order)
        groups: dict[tuple, list[int]] = {}
        for i in order:
            groups.setdefault(self.dataset.entries[i].shape, []).append(i)
        batches = []
        for members in groups.values():
            full = len(members) // self.batch_size * self.batch_size
            if full == 0:
                batches.append(members)
            else:
                batches.extend(members[j:j + self.batch_size] for j in range(0, full, self.batch_size))
        if len(groups) > 1:
            rng.shuffle(batches)
        return batches

    def next(self) -> list[int]:
        if self.position >= len(self._batches):
            self.epoch += 1
            self.position = 0
            self._batches = self._epoch_batches(self.epoch)
        batch = self._batches[self.position]
        self.position += 1
        return batch

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])
        self._batches = self._epoch_batches(self.epoch)
