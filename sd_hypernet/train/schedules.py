"""Learning-rate (and clip-value) schedules.

`WebuiSchedule` reads the webui's `rate:step, rate:step, …` syntax with the same rules as its
LearnScheduleIterator/LearnRateScheduler: pairs ending at or before the start step are skipped, `rate:-1` and a
bare rate run to the end, a pair ending past `max_steps` is clamped and ends the list, and training stops
(`finished`) once the last pair's end step is reached. `WarmupCosine` is what the webui lacks.
"""
from __future__ import annotations

import math

from ..errors import HypernetError


def parse_webui_schedule(text, max_steps: int, cur_step: int = 0) -> list[tuple[float, int]]:
    """(rate, end_step) pairs, read as the webui reads them."""
    if isinstance(text, (int, float)):
        text = repr(float(text))
    pairs: list[tuple[float, int]] = []
    try:
        for chunk in str(text).split(","):
            parts = chunk.split(":")
            if len(parts) != 2:
                # A bare rate (the webui also reads "a:b:c" as the bare rate "a") runs to the end.
                pairs.append((float(parts[0]), max_steps))
                break
            rate, end = float(parts[0]), int(parts[1])
            if end > cur_step:
                pairs.append((rate, min(end, max_steps)))
                if end > max_steps:
                    break
            elif end == -1:
                pairs.append((rate, max_steps))
                break
    except ValueError as e:
        raise HypernetError(f"schedule {text!r}: expected 'rate' or 'rate:step, rate:step, ...' ({e})") from None
    if not pairs:
        raise HypernetError(f"schedule {text!r} has no entry after step {cur_step}; nothing left to train")
    return pairs


class WebuiSchedule:
    """Piecewise-constant value; `value(step)` must be asked for steps in increasing order, as the webui does."""

    def __init__(self, text, max_steps: int, cur_step: int = 0):
        self.text = text
        self.pairs = parse_webui_schedule(text, max_steps, cur_step)
        self._index = 0
        self.finished = False

    @property
    def current(self) -> float:
        return self.pairs[min(self._index, len(self.pairs) - 1)][0]

    def advance(self, step: int) -> float:
        """The value for optimizer step `step` (0-based steps done so far). Like the webui, moves at most one
        pair per call and sets `finished` when the list runs out."""
        if self._index < len(self.pairs) and step >= self.pairs[self._index][1]:
            self._index += 1
            if self._index >= len(self.pairs):
                self.finished = True
        return self.current

    def state_dict(self) -> dict:
        return {"index": self._index, "finished": self.finished}

    def load_state_dict(self, state: dict) -> None:
        self._index = int(state["index"])
        self.finished = bool(state["finished"])


class WarmupCosine:
    """Linear warm-up from ~0 to `base` over `warmup` steps, then cosine decay to `min_value` at `max_steps`."""

    def __init__(self, base: float, max_steps: int, warmup: int = 0, min_value: float = 0.0):
        if warmup < 0 or max_steps <= 0:
            raise HypernetError(f"warm-up ({warmup}) must be >= 0 and max steps ({max_steps}) > 0")
        self.base, self.max_steps = float(base), int(max_steps)
        self.warmup, self.min_value = int(warmup), float(min_value)
        self.finished = False

    def value_at(self, step: int) -> float:
        if step < self.warmup:
            return self.base * (step + 1) / self.warmup
        span = max(1, self.max_steps - self.warmup)
        progress = min(1.0, (step - self.warmup) / span)
        return self.min_value + (self.base - self.min_value) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def advance(self, step: int) -> float:
        return self.value_at(step)

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class Warmup:
    """Linear warm-up in front of another schedule (e.g. a webui schedule)."""

    def __init__(self, inner, warmup: int):
        self.inner, self.warmup = inner, int(warmup)

    @property
    def finished(self) -> bool:
        return self.inner.finished

    def advance(self, step: int) -> float:
        value = self.inner.advance(step)
        if step < self.warmup:
            value *= (step + 1) / self.warmup
        return value

    def state_dict(self) -> dict:
        return self.inner.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.inner.load_state_dict(state)


def make_schedule(kind: str, lr, max_steps: int, warmup: int = 0, min_lr: float = 0.0, cur_step: int = 0):
    """`kind`: "webui" (the schedule syntax, bare number = constant) or "cosine" (warm-up + cosine from `lr`)."""
    if kind == "cosine":
        base = parse_webui_schedule(lr, max_steps, 0)[0][0]
        return WarmupCosine(base, max_steps, warmup, min_lr)
    if kind != "webui":
        raise HypernetError(f"unknown learning-rate schedule {kind!r}; expected 'webui' or 'cosine'")
    sched = WebuiSchedule(lr, max_steps, cur_step)
    return Warmup(sched, warmup) if warmup > 0 else sched
