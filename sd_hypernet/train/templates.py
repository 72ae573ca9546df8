"""Prompt templates: one caption pattern per line, with `[filewords]` (the image's caption) and `[name]`."""
from __future__ import annotations

import os
import random

from ..errors import HypernetError

TEMPLATE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")
DEFAULT_TEMPLATE = "style_filewords"


def list_templates(extra_dirs=()) -> dict[str, str]:
    """{name: path} of the shipped templates plus `.txt` files in `extra_dirs` (later dirs win)."""
    found = {}
    for folder in (TEMPLATE_DIR, *extra_dirs):
        if folder and os.path.isdir(folder):
            for entry in sorted(os.listdir(folder)):
                stem, ext = os.path.splitext(entry)
                if ext.lower() == ".txt":
                    found[stem] = os.path.join(folder, entry)
    return found


def load_template(name_or_path: str, extra_dirs=()) -> list[str]:
    """The non-empty lines of a template given by name (shipped or in `extra_dirs`) or by path."""
    path = name_or_path
    if not os.path.isfile(path):
        path = list_templates(extra_dirs).get(os.path.splitext(os.path.basename(name_or_path))[0])
    if not path:
        known = ", ".join(list_templates(extra_dirs))
        raise HypernetError(f"prompt template {name_or_path!r} not found; known templates: {known}")
    with open(path, encoding="utf8") as f:
        lines = [line.strip() for line in f]
    lines = [line for line in lines if line]
    if not lines:
        raise HypernetError(f"prompt template {path} is empty")
    return lines


def fill(line: str, filewords: str, name: str, rng: random.Random | None = None,
         shuffle_tags: bool = False, tag_drop_out: float = 0.0) -> str:
    """Fill one template line. Tags are the comma-separated parts of the caption; drop-out removes each with
    probability `tag_drop_out`, then shuffle reorders them."""
    rng = rng or random
    tags = filewords.split(",")
    if tag_drop_out:
        tags = [t for t in tags if rng.random() > tag_drop_out]
    if shuffle_tags:
        rng.shuffle(tags)
    return line.replace("[filewords]", ",".join(tags)).replace("[name]", name)
