"""Which multiplier a network gets in one attention module at one step: self/cross, blocks, step range."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from .errors import HypernetError

# LoRA Block Weight's layouts for the UNet (BASE is the text encoder, which hypernetworks never touch).
LBW_BLOCKS = {
    "sd1": ["BASE", "IN01", "IN02", "IN04", "IN05", "IN07", "IN08", "MID",
            "OUT03", "OUT04", "OUT05", "OUT06", "OUT07", "OUT08", "OUT09", "OUT10", "OUT11"],
    "sdxl": ["BASE", "IN04", "IN05", "IN07", "IN08", "MID", "OUT00", "OUT01", "OUT02", "OUT03", "OUT04", "OUT05"],
}
LBW_BLOCKS["sd2"] = LBW_BLOCKS["sd1"]

# The presets LoRA Block Weight ships, in its 17-value form, and their meaning carried to SDXL's 12 blocks.
LBW_PRESETS = {
    17: {
        "NONE": [0] * 17,
        "ALL": [1] * 17,
        "INS": [1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        "IND": [1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        "INALL": [1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        "MIDD": [1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0],
        "OUTD": [1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0],
        "OUTS": [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1],
        "OUTALL": [1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1],
        "ALL0.5": [0.5] * 17,
    },
    12: {
        "NONE": [0] * 12,
        "ALL": [1] * 12,
        "INS": [1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        "IND": [1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0],
        "INALL": [1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0],
        "MIDD": [1, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0],
        "OUTD": [1, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0],
        "OUTS": [1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1],
        "OUTALL": [1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1],
        "ALL0.5": [0.5] * 12,
    },
}


def block_name(section: str, index: int | None = None) -> str:
    """Block names as LoRA Block Weight spells them: IN04, MID, OUT11."""
    if section in ("middle", "mid"):
        return "MID"
    prefix = {"input": "IN", "output": "OUT"}.get(section)
    if prefix is None or index is None:
        raise ValueError(f"unknown UNet section {section!r}")
    return f"{prefix}{int(index):02d}"


def read_presets(text: str) -> dict[int, dict[str, list[float]]]:
    """User presets in LoRA Block Weight's file format: one `NAME:v1,v2,...` per line, '#' comments."""
    presets: dict[int, dict[str, list[float]]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        name, _, values = line.partition(":")
        try:
            numbers = [float(v) for v in values.split(",")]
        except ValueError:
            continue
        presets.setdefault(len(numbers), {})[name.strip()] = numbers
    return presets


def parse_block_weights(value: str, family: str | None, user_presets=None) -> dict[str, float]:
    """`lbw=` as comma-separated weights (17 for SD1/SD2, 12 for SDXL) or a preset name."""
    fam = family if family in LBW_BLOCKS else "sd1"
    names = LBW_BLOCKS[fam]
    text = value.strip()
    numbers = None
    if text and (text[0].isalpha()):
        for source in (user_presets or {}, LBW_PRESETS):
            candidate = source.get(len(names), {}).get(text)
            if candidate is not None:
                numbers = list(candidate)
                break
        if numbers is None:
            known = sorted(set(LBW_PRESETS[len(names)]) | set((user_presets or {}).get(len(names), {})))
            raise HypernetError(f"lbw={text}: unknown preset; known presets for {fam.upper()}: {', '.join(known)}")
    else:
        try:
            numbers = [float(v) for v in text.split(",")]
        except ValueError:
            raise HypernetError(f"lbw={text}: expected {len(names)} comma-separated numbers or a preset name") from None
    if not all(math.isfinite(v) for v in numbers):
        raise HypernetError(f"lbw={text}: expected finite numbers")
    if len(numbers) != len(names):
        raise HypernetError(f"lbw={text}: {fam.upper()} needs {len(names)} values "
                            f"({', '.join(names)}), got {len(numbers)}")
    return dict(zip(names[1:], numbers[1:]))


def resolve_step(value, total: int | None) -> int | None:
    """int = a step number; float below 1 = a fraction of the sampling steps."""
    if value is None:
        return None
    if isinstance(value, float) and value < 1:
        if total is None:
            return 0 if value <= 0 else None
        return int(math.floor(value * total + 0.5))
    return int(value)


@dataclass
class ChainEntry:
    network: object
    multiplier: float = 1.0
    self_multiplier: float | None = None
    cross_multiplier: float | None = None
    start: int | float | None = None
    stop: int | float | None = None
    block_weights: dict[str, float] | None = None
    force: bool = False
    label: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.label or getattr(self.network, "name", "hypernet")

    def effective_multiplier(self, kind: str | None = None, block: str | None = None) -> float:
        m = self.multiplier
        if kind == "self" and self.self_multiplier is not None:
            m = self.self_multiplier
        elif kind == "cross" and self.cross_multiplier is not None:
            m = self.cross_multiplier
        if self.block_weights and block is not None:
            m = m * self.block_weights.get(block, 1.0)
        return m

    def active_at(self, step: int | None, total: int | None) -> bool:
        """Active from step `start` (inclusive) until step `stop` (exclusive); always when no step is known."""
        if step is None:
            return True
        start = resolve_step(self.start, total)
        stop = resolve_step(self.stop, total)
        if start is not None and step < start:
            return False
        if stop is not None and step >= stop:
            return False
        return True

    @property
    def has_step_range(self) -> bool:
        return self.start is not None or self.stop is not None


def as_entry(item) -> ChainEntry:
    if isinstance(item, ChainEntry):
        return item
    if isinstance(item, (tuple, list)) and len(item) == 2:
        return ChainEntry(item[0], float(item[1]))
    return ChainEntry(item)


def as_chain(items) -> list[ChainEntry]:
    return [as_entry(i) for i in (items or [])]
