"""Divergence caught early: a loss that rises over the first steps, or one that is no number, explained with its
likely cause and a learning rate to try instead.

The per-step loss of a diffusion model swings by an order of magnitude with the random timestep, so one step
says nothing: the watch compares the mean and the median of the latest `window` losses with those of the first
`window`; both must have grown `rise` times. A run that learns, or only wobbles, never grows both twofold.
"""
from __future__ import annotations

import math
import statistics

WINDOW = 10
EARLY_STEPS = 200   # steps watched for a rising loss (a non-finite loss is caught at any step)
RISE = 2.0
LOWER_BY = 10.0     # the suggested learning rate: the one in use divided by this


def suggest(lr: float | None) -> float | None:
    return None if lr is None or not math.isfinite(lr) or lr <= 0 else float(f"{lr / LOWER_BY:.3g}")


class DivergenceWatch:
    def __init__(self, window: int = WINDOW, early_steps: int = EARLY_STEPS, rise: float = RISE):
        self.window, self.early_steps, self.rise = int(window), int(early_steps), float(rise)
        self.first: list[float] = []
        self.recent: list[float] = []
        self.seen = 0
        self.warning: str | None = None
        self.suggested: float | None = None

    def add(self, step: int, loss: float, lr: float | None) -> str | None:
        """Record one step's loss; returns the warning the first time the loss is found rising."""
        self.seen += 1
        if self.warning is not None or self.seen > self.early_steps:
            return None
        if len(self.first) < self.window:
            self.first.append(loss)
            return None
        self.recent = (self.recent + [loss])[-self.window:]
        if len(self.recent) < self.window:
            return None
        start_mean, now_mean = statistics.fmean(self.first), statistics.fmean(self.recent)
        start_med, now_med = statistics.median(self.first), statistics.median(self.recent)
        if now_mean > self.rise * start_mean and now_med > self.rise * start_med:
            self.suggested = suggest(lr)
            self.warning = (
                f"the loss is rising: {start_mean:.4g} over the first {self.window} steps, {now_mean:.4g} over the "
                f"last {self.window} (step {step}). Likely cause: the learning rate ({lr:g}) is too high, so the "
                f"network overshoots and turns its output to noise" + _advice(self.suggested))
            return self.warning
        return None

    def non_finite(self, step: int, loss: float, lr: float | None, what: str = "the loss") -> str:
        """The explanation for a loss (or gradients) that became inf/NaN at `step`."""
        self.suggested = suggest(lr)
        self.warning = (
            f"{what} became {loss} at step {step}. Likely cause: the learning rate ({lr:g}) is too high (or, "
            f"with fp16, an overflow); the network's weights grew until its output overflowed"
            + _advice(self.suggested))
        return self.warning


def _advice(suggested: float | None) -> str:
    if suggested is None:
        return "."
    return (f". Suggested learning rate: {suggested:g} (ten times lower), or turn on gradient clipping by norm; "
            f"resume from the last snapshot")
