"""Does training learn? A fresh network trained with the default settings against the webui guide's folklore.

Not a test. A known teacher network applied to the UNet defines the target: the training data are the
teacher's own noise predictions (tests/train/learning.py). Each row trains a fresh default network (SD1 widths
the UNet has, [1, 2, 1], linear, Normal init) for the same steps and reports `closed`: the share (0..1) of the
starting distance to the teacher's outputs closed at the end, on held-out draws.

Rows: `default` (nothing set: learn_rate and optimizer "auto"), `folklore` (AdamW at a constant 5e-6, the "tiny
guide"), `old_default` (AdamW at a constant 1e-5, the webui's and this extension's former default), `prodigy`
(optimizer Prodigy, learning-rate-free; needs prodigyopt), `adamw_cosine` (the auto rate with cosine decay).

    python benchmarks/train_learning.py --quick --json out.json   # small UNet, CI-fast (CI runs this)
    python benchmarks/train_learning.py --json out.json           # SD1.5-shaped UNet (slow on a CPU)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch

DEFAULT_THREADS = torch.get_num_threads()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _path in (ROOT, os.path.join(ROOT, "tests", "train")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from learning import FOLKLORE, SD15_UNET, SMALL_UNET, Check  # noqa: E402

from sd_hypernet.train import options as train_options  # noqa: E402

ROWS = {
    "default": {},
    "folklore": FOLKLORE,
    "old_default": dict(learn_rate="1e-5", optimizer="AdamW", lr_schedule="webui", warmup_steps=0),
    "prodigy": dict(optimizer="Prodigy"),
    "adamw_cosine": dict(lr_schedule="cosine"),
}


def run_row(check: Check, name: str, steps: int) -> dict:
    start = time.perf_counter()
    out = check.run(steps, ROWS[name])
    out["seconds"] = round(time.perf_counter() - start, 1)
    out.pop("losses")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small UNet (8x8 latents), seconds per row")
    ap.add_argument("--steps", type=int, default=None, help="training steps per row (quick 150, else 200)")
    ap.add_argument("--latent", type=int, default=None, help="latent side (quick 8, else 32)")
    ap.add_argument("--rows", default=None, help="comma-separated rows (default: all; quick: default, folklore)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: 1 with --quick, else torch's default)")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads or (1 if args.quick else DEFAULT_THREADS))
    steps = args.steps or (150 if args.quick else 200)
    latent = args.latent or (8 if args.quick else 32)
    rows = args.rows.split(",") if args.rows else (["default", "folklore"] if args.quick else list(ROWS))
    if train_options.prodigy_class() is None and "prodigy" in rows:
        rows.remove("prodigy")
    start = time.perf_counter()
    check = Check(SMALL_UNET if args.quick else SD15_UNET, latent=latent, tokens=8 if args.quick else 77)
    results = {}
    print(f"{'setting':<20} {'closed':>7} {'dist start':>11} {'dist end':>10} {'loss first':>11} "
          f"{'loss last':>10} {'s':>6}")
    for name in rows:
        r = run_row(check, name, steps)
        results[name] = r
        print(f"{name:<20} {r['closed']:>7.3f} {r['distance_start']:>11.3g} {r['distance_end']:>10.3g} "
              f"{r['loss_first']:>11.3g} {r['loss_last']:>10.3g} {r['seconds']:>6}  {r['plan']}", flush=True)
    summary = {
        "unet": "small" if args.quick else "sd15", "latent": latent, "steps": steps,
        "threads": torch.get_num_threads(), "torch": torch.__version__,
        "prodigy_installed": train_options.prodigy_class() is not None,
        "closed_default": results.get("default", {}).get("closed"),
        "closed_folklore": results.get("folklore", {}).get("closed"),
        "rows": results, "total_seconds": round(time.perf_counter() - start, 1),
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "rows"}, indent=2))
    if args.json:
        with open(args.json, "w", encoding="utf8") as f:
            json.dump(summary, f, indent=2)
    ok = summary["closed_default"] is None or summary["closed_folklore"] is None or (
        summary["closed_default"] >= 0.5 and summary["closed_default"] > summary["closed_folklore"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
