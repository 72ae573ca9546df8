"""The loss log: a CSV row per optimizer step and a PNG plot (matplotlib when installed, else drawn with PIL)."""
from __future__ import annotations

import csv
import os

COLUMNS = ("step", "loss", "learn_rate", "epoch", "seconds")


class LossLog:
    def __init__(self, path: str):
        self.path = path
        self.steps: list[int] = []
        self.losses: list[float] = []
        if os.path.isfile(path):
            self._read()

    def _read(self) -> None:
        with open(self.path, newline="", encoding="utf8") as f:
            for row in csv.DictReader(f):
                try:
                    self.steps.append(int(row["step"]))
                    self.losses.append(float(row["loss"]))
                except (KeyError, TypeError, ValueError):
                    continue

    def truncate_after(self, step: int) -> None:
        """Drop rows past `step` (a resumed run re-does them)."""
        keep = [(s, v) for s, v in zip(self.steps, self.losses) if s <= step]
        if len(keep) == len(self.steps):
            return
        with open(self.path, newline="", encoding="utf8") as f:
            rows = [r for r in csv.DictReader(f) if r.get("step", "").isdigit() and int(r["step"]) <= step]
        with open(self.path, "w", newline="", encoding="utf8") as f:
            w = csv.DictWriter(f, fieldnames=COLUMNS)
            w.writeheader()
            w.writerows(rows)
        self.steps = [s for s, _ in keep]
        self.losses = [v for _, v in keep]

    def append(self, step: int, loss: float, learn_rate: float, epoch: int, seconds: float, write: bool = True):
        self.steps.append(step)
        self.losses.append(loss)
        if not write:
            return
        new = not os.path.isfile(self.path)
        with open(self.path, "a", newline="", encoding="utf8") as f:
            w = csv.writer(f)
            if new:
                w.writerow(COLUMNS)
            w.writerow((step, f"{loss:.8g}", f"{learn_rate:.8g}", epoch, f"{seconds:.3f}"))


def moving_average(values: list[float], window: int) -> list[float]:
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def plot(steps: list[int], losses: list[float], path: str, title: str = "loss") -> str | None:
    """Write the plot to `path`; returns the path, or None when there is nothing to plot."""
    if not steps:
        return None
    window = max(1, len(losses) // 20)
    smooth = moving_average(losses, window)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        _plot_pil(steps, losses, smooth, path, title)
        return path
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot(steps, losses, color="#9ab", linewidth=0.8, label="loss")
    ax.plot(steps, smooth, color="#c33", linewidth=1.5, label=f"mean of {window}")
    ax.set_xlabel("step")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _plot_pil(steps, losses, smooth, path, title, size=(600, 350)):
    from PIL import Image, ImageDraw

    w, h = size
    left, right, top, bottom = 60, 15, 25, 30
    img = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(img)
    lo, hi = min(losses), max(losses)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    s0, s1 = steps[0], max(steps[-1], steps[0] + 1)

    def xy(s, v):
        x = left + (s - s0) / (s1 - s0) * (w - left - right)
        y = top + (hi - v) / (hi - lo) * (h - top - bottom)
        return x, y

    d.rectangle((left, top, w - right, h - bottom), outline="black")
    for frac in (0.0, 0.5, 1.0):
        v = lo + (hi - lo) * frac
        _, y = xy(s0, v)
        d.line((left - 4, y, left, y), fill="black")
        d.text((4, y - 6), f"{v:.4g}", fill="black")
    d.text((left, h - bottom + 6), str(s0), fill="black")
    d.text((w - right - 40, h - bottom + 6), str(s1), fill="black")
    d.text((left, 6), f"{title} (grey: loss, red: mean)", fill="black")
    if len(steps) > 1:
        d.line([xy(s, v) for s, v in zip(steps, losses)], fill=(150, 170, 190), width=1)
        d.line([xy(s, v) for s, v in zip(steps, smooth)], fill=(200, 40, 40), width=2)
    else:
        x, y = xy(steps[0], losses[0])
        d.ellipse((x - 2, y - 2, x + 2, y + 2), fill=(200, 40, 40))
    img.save(path)
