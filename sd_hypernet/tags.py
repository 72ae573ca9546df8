"""`<hypernet:name:multiplier[:key=value...]>` parameters → a validated chain entry, or an error naming the problem."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .control import ChainEntry, parse_block_weights
from .errors import HypernetError

NAMED_KEYS = ("self", "cross", "start", "stop", "lbw", "force")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class TagError(HypernetError):
    """A tag parameter has a bad value."""


@dataclass
class TagSpec:
    name: str
    multiplier: float = 1.0
    self_multiplier: float | None = None
    cross_multiplier: float | None = None
    start: int | float | None = None
    stop: int | float | None = None
    block_weights: dict | None = None
    force: bool = False

    def to_entry(self, network, label: str | None = None) -> ChainEntry:
        return ChainEntry(network, self.multiplier, self.self_multiplier, self.cross_multiplier, self.start,
                          self.stop, self.block_weights, self.force, label or self.name)


def parse_number(text: str, what: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise TagError(f"{what}: expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise TagError(f"{what}: expected a finite number, got {text!r}")
    return value


def parse_step(text: str, key: str) -> int | float:
    """A number with a decimal point below 1 is a fraction of the steps; otherwise a whole step number."""
    value = parse_number(text, f"{key}={text}")
    if value < 0:
        raise TagError(f"{key}={text}: expected a step number ≥ 0 or a fraction such as 0.3")
    if "." in text and value < 1:
        return value
    if value != int(value):
        raise TagError(f"{key}={text}: expected a whole step number or a fraction below 1")
    return int(value)


def split_items(items) -> tuple[list[str], list[tuple[str, str]]]:
    """Positional and named items, split as the webui splits them (exactly one '=' makes a named item)."""
    positional, named = [], []
    for item in items:
        parts = str(item).split("=", 2)
        if len(parts) == 2:
            named.append((parts[0].strip(), parts[1].strip()))
        else:
            positional.append(str(item).strip())
    return positional, named


def parse_tag(items, family: str | None = None, presets=None) -> TagSpec:
    """Parse a tag's items (webui `ExtraNetworkParams.items`: everything after `hypernet:`, split on ':')."""
    positional, named = split_items(items)
    if not positional or not positional[0]:
        raise TagError("missing network name: expected <hypernet:name:multiplier>")
    name = positional[0]
    if len(positional) > 2:
        raise TagError(f"{name}: unexpected parameter {positional[2]!r}; expected name, multiplier, then key=value")
    spec = TagSpec(name)
    if len(positional) == 2 and positional[1] != "":
        spec.multiplier = parse_number(positional[1], f"{name}: multiplier")
    seen = set()
    for key, value in named:
        if key not in NAMED_KEYS:
            raise TagError(f"{name}: unknown parameter {key!r}; expected one of {', '.join(NAMED_KEYS)}")
        if key in seen:
            raise TagError(f"{name}: {key}= given twice")
        seen.add(key)
        if key in ("self", "cross"):
            setattr(spec, f"{key}_multiplier", parse_number(value, f"{name}: {key}"))
        elif key in ("start", "stop"):
            setattr(spec, key, parse_step(value, key))
        elif key == "lbw":
            try:
                spec.block_weights = parse_block_weights(value, family, presets)
            except HypernetError as e:
                raise TagError(f"{name}: {e}") from None
        elif key == "force":
            if value.lower() not in _TRUE + _FALSE:
                raise TagError(f"{name}: force={value}: expected 1 or 0")
            spec.force = value.lower() in _TRUE
    if spec.start is not None and spec.stop is not None and type(spec.start) is type(spec.stop) \
            and spec.stop <= spec.start:
        raise TagError(f"{name}: stop={spec.stop} must come after start={spec.start}")
    return spec


def format_tag(spec: TagSpec, multiplier: float | None = None) -> str:
    """The tag text for a spec (used by X/Y/Z and paste rewriting)."""
    m = spec.multiplier if multiplier is None else multiplier
    return f"<hypernet:{spec.name}:{m:g}>"


TAG_PATTERN = re.compile(r"<hypernet:([^>]+)>")  # the webui's extra-network syntax, for the hypernet kind only


def extract_tags(text: str) -> tuple[list[list[str]], str]:
    """Every `<hypernet:…>` tag of a prompt as its items (split on ':' as the webui splits them), in order, and the
    prompt without those tags (other tags are left for whoever reads them)."""
    found = [m.group(1).split(":") for m in TAG_PATTERN.finditer(text)]
    return found, TAG_PATTERN.sub("", text)
