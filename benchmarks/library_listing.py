"""The first listing of a large hypernetwork library after a (re)start, in a fresh process each time.

Not a test. Synthetic full-size SD1 networks (widths 768+320+640+1280, layer structure [1,2,1], 84 MB each),
half `.pt`, half `.safetensors`. Each figure is one fresh `python` process that scans the folder and
describes every file the way a listing does (`info.cached_describe`, what the page, the API list and the
Library tab call), timed from after the imports to after the store is flushed:

- `before #11`: every file fully loaded and hashed (`info.describe(path)`, the old listing), 40 files only;
- `cold`: no store yet — every file described from its header, nothing hashed, the store written;
- `warm`: the store of the cold run present — what every later start sees.

    python benchmarks/library_listing.py                  # 40 and 200 files of 84 MB (a few real files,
                                                          # the rest hard links to them: see --real)
    python benchmarks/library_listing.py --quick          # small networks, real files; seconds (CI)
    python benchmarks/library_listing.py --json out.json

Writing 200 distinct 84 MB files takes 17 GB of disk; by default only `--real` distinct files are written
(half each format) and the other names are hard links to them. A listing treats every name as its own
file (its own store entry, its own header read); what links change is that the page cache holds few
distinct bytes, so the figures are warm-disk figures (the `before #11` baseline reads 84 MB a file from
the page cache too). `--real 0` writes every file.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

FULL = dict(sizes=[768, 320, 640, 1280], layer_structure=[1, 2, 1])
SMALL = dict(sizes=[768, 320, 640, 1280], layer_structure=[1, 0.02, 1])

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from sd_hypernet import hashing, info, store
from sd_hypernet.library import Library
t1 = time.perf_counter()
mode, root = sys.argv[1], sys.argv[2]
lib = Library(root)
lib.scan()
described, errors = [], 0
for item in lib.items():
    try:
        d = info.describe(item.path) if mode == "full" else info.cached_describe(item.path)
        described.append((item.relpath, d["sizes"], d["parameters"], d["family"]))
    except Exception:
        errors += 1
store.current().flush()
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "listing_s": t2 - t1, "files": len(described), "errors": errors,
                  "header_reads": info.header_reads, "hashed": hashing.computed, "described": described}))
"""


def make_library(folder: str, count: int, real: int, spec: dict) -> int:
    """`count` files named net000.pt / net001.safetensors / ...; returns how many distinct files were written."""
    import sd_hypernet
    os.makedirs(folder, exist_ok=True)
    distinct = {}
    real = count if real <= 0 else min(real, count)
    written = 0
    for i in range(count):
        ext = ".pt" if i % 2 == 0 else ".safetensors"
        path = os.path.join(folder, f"net{i:03d}{ext}")
        slot = (i // 2) % max(1, real // 2) if real < count else i
        source = distinct.get((ext, slot))
        if source is None:
            net = sd_hypernet.create(spec["sizes"], spec["layer_structure"], name=f"net{i:03d}", weight_init="Normal")
            sd_hypernet.save_file(net, path)
            distinct[(ext, slot)] = path
            written += 1
        else:
            os.link(source, path)
    return written


def run_child(mode: str, folder: str, cache_dir: str) -> dict:
    env = {**os.environ, "SD_HYPERNET_CACHE_DIR": cache_dir, "PYTHONPATH": ROOT}
    done = subprocess.run([sys.executable, "-c", CHILD, mode, folder], env=env, capture_output=True, text=True,
                          timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"listing process failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small networks, every file real (seconds)")
    parser.add_argument("--counts", default="40,200", help="library sizes (default 40,200)")
    parser.add_argument("--real", type=int, default=4, help="distinct files written; others are hard links "
                                                           "(default 4; 0 = all distinct)")
    parser.add_argument("--baseline-max", type=int, default=40, help="largest library timed the old way")
    parser.add_argument("--dir", help="work folder (default: a temporary folder, removed afterwards)")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args(argv)
    spec = SMALL if args.quick else FULL
    real = 0 if args.quick else args.real
    counts = [int(c) for c in args.counts.split(",")]
    work = args.dir or tempfile.mkdtemp(prefix="hypernet-listing-")
    results = {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
               "quick": args.quick, "real_files": real, "runs": []}
    failed = False
    try:
        for count in counts:
            folder = os.path.join(work, f"lib{count}")
            written = make_library(folder, count, real, spec)
            size = os.path.getsize(os.path.join(folder, "net000.pt"))
            cache = os.path.join(work, f"cache{count}")
            row = {"files": count, "distinct_files": written, "file_mb": round(size / 1e6, 1)}
            if count <= args.baseline_max:
                row["before"] = run_child("full", folder, os.path.join(work, f"unused{count}"))
            row["cold"] = run_child("cached", folder, cache)
            row["warm"] = run_child("cached", folder, cache)
            # what a listing says must not depend on how it was made
            same = row["cold"]["described"] == row["warm"]["described"]
            if "before" in row:
                same = same and row["before"]["described"] == row["cold"]["described"]
            row["same_descriptions"] = same
            failed = failed or not same or row["warm"]["header_reads"] != 0 or row["warm"]["hashed"] != 0
            for key in ("before", "cold", "warm"):
                if key in row:
                    row[key].pop("described")
            results["runs"].append(row)
            shutil.rmtree(folder, ignore_errors=True)
    finally:
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)

    print(f"first listing after a start, fresh process each ({'quick: small files' if args.quick else 'full-size networks'})")
    print(f"{'files':>6} {'MB each':>8} {'before #11':>11} {'cold':>8} {'warm':>8} {'before/warm':>12}  reads/hashes (cold, warm)")
    for row in results["runs"]:
        before = row.get("before", {}).get("listing_s")
        cold, warm = row["cold"], row["warm"]
        ratio = f"{before / warm['listing_s']:.0f}x" if before else "-"
        print(f"{row['files']:>6} {row['file_mb']:>8} {f'{before:.2f} s' if before else '-':>11} "
              f"{cold['listing_s']:>6.2f} s {warm['listing_s']:>6.3f} s {ratio:>12}  "
              f"{cold['header_reads']}/{cold['hashed']}, {warm['header_reads']}/{warm['hashed']}"
              f"{'' if row['same_descriptions'] else '  DESCRIPTIONS DIFFER'}")
    print("(times exclude the interpreter's start and imports, "
          f"~{results['runs'][0]['warm']['import_s']:.1f} s here)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
