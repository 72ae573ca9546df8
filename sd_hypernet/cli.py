"""Command line: `python -m sd_hypernet info|convert|verify ...` (exit code 1 when any file fails)."""
from __future__ import annotations

import argparse
import json
import os
import sys

import torch

from . import hashing
from .errors import HypernetError
from .formats import load_file, save_file
from .info import cached_describe, file_hash
from .library import walk
from .network import FAMILY_LABELS

def _yes_no(value) -> str:
    return "yes" if value else "no"


def _numbers(values) -> str:
    return ", ".join(f"{v:g}" if isinstance(v, (int, float)) else str(v) for v in values or [])


def format_info(info: dict) -> str:
    family = f"{info['family_label']} (from {info['family_from']})" if info["family"] else "unknown"
    rows = [
        ("name", info["name"]),
        ("format", info["format"]),
        ("sizes", ", ".join(str(s) for s in info["sizes"])),
        ("family", family),
        ("layer structure", _numbers(info["layer_structure"])),
        ("activation", info["activation_func"] or "linear"),
        ("layer norm", _yes_no(info["is_layer_norm"])),
        ("activate output", _yes_no(info["activate_output"])),
        ("dropout", _numbers(info["dropout_structure"])),
        ("parameters", f"{info['parameters']:,}"),
        ("file size", f"{info['file_size']:,} bytes"),
    ]
    if info.get("sha256"):
        rows.append(("sha256", f"{info['sha256']} (short {info['short_hash']})"))
    lines = [info["file"]] + [f"  {label + ':':<17}{value}" for label, value in rows] + ["  metadata:"]
    for key in sorted(info["metadata"]):
        lines.append(f"    {key}: {json.dumps(info['metadata'][key], default=str)}")
    return "\n".join(lines)


def expand(paths) -> list[str]:
    """Files as given; a folder stands for every hypernetwork file under it (as the library finds them)."""
    out = []
    for path in paths:
        out.extend(walk(path) if os.path.isdir(path) else [path])
    return out


def cmd_info(args) -> int:
    results, failed = [], False
    args.files = expand(args.files)
    if not args.files:
        print("error: no hypernetwork files found", file=sys.stderr)
        return 1
    stream, hashing.progress_stream = hashing.progress_stream, sys.stderr  # stdout carries the answer (--json)
    try:
        for path in args.files:
            try:
                info = cached_describe(path)  # from the header; remembered in the per-user cache file
                if args.no_hash:
                    info.pop("sha256", None), info.pop("short_hash", None)
                else:
                    full = file_hash(path)
                    info.update(sha256=full, short_hash=full[:10])
                results.append(info)
            except (HypernetError, OSError) as e:
                failed = True
                print(f"error: {e}", file=sys.stderr)
    finally:
        hashing.progress_stream = stream
    if args.json:
        payload = results[0] if len(args.files) == 1 and results else results
        print(json.dumps(payload, indent=2, default=str))
    else:
        print("\n\n".join(format_info(info) for info in results))
    return 1 if failed else 0


def _same_tensors(a, b) -> bool:
    if a.sizes != b.sizes:
        return False
    for dim in a.sizes:
        for mod_a, mod_b in zip(a.layers[dim], b.layers[dim]):
            sa, sb = mod_a.state_dict(), mod_b.state_dict()
            if list(sa) != list(sb) or not all(torch.equal(sa[k], sb[k]) for k in sa):
                return False
    return True


def cmd_convert(args) -> int:
    src, dst = args.src, args.dst
    try:
        if os.path.abspath(src) == os.path.abspath(dst):
            raise HypernetError(f"{os.path.basename(dst)}: source and destination are the same file")
        if os.path.exists(dst) and not args.force:
            raise HypernetError(f"{os.path.basename(dst)}: already exists (use --force to overwrite)")
        net = load_file(src)
        save_file(net, dst)
        back = load_file(dst)  # prove the conversion is lossless before reporting success
        if not _same_tensors(net, back) or back.metadata != net.metadata:
            raise HypernetError(f"{os.path.basename(dst)}: written file does not read back identically")
    except HypernetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{src} -> {dst} ({net.parameter_count():,} parameters, widths {'/'.join(map(str, net.sizes))})")
    return 0


def cmd_verify(args) -> int:
    failures = 0
    missing = [p for p in args.files if not os.path.exists(p)]
    for path in missing:
        print(f"FAIL  {path}: not found (no such file or folder)")
    args.files = expand([p for p in args.files if p not in missing])
    if not args.files:
        # an empty folder (a fresh install) has nothing wrong in it
        print("no hypernetwork files found" + ("" if missing else "; nothing to verify"))
        return 1 if missing else 0
    for path in args.files:
        try:
            net = load_file(path)
            fam = FAMILY_LABELS.get(net.family, "unknown family")
            print(f"OK    {path}: {fam}, widths {'/'.join(map(str, net.sizes))}, "
                  f"{net.parameter_count():,} parameters")
        except HypernetError as e:
            failures += 1
            print(f"FAIL  {path}: {e}")
        except Exception as e:  # an engine bug must not hide the other files' results
            failures += 1
            print(f"FAIL  {path}: unexpected {type(e).__name__}: {e}")
    if len(args.files) > 1:
        print(f"{len(args.files) - failures} of {len(args.files)} files OK")
    return 1 if failures or missing else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sd_hypernet",
                                     description="Inspect, convert and check hypernetwork files.")
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="structure, sizes, model family, parameter count, hash and metadata")
    info.add_argument("files", nargs="+", metavar="FILE", help="files, or folders to search")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.add_argument("--no-hash", action="store_true", help="skip hashing the file")
    info.set_defaults(run=cmd_info)
    convert = sub.add_parser("convert", help="convert between .pt/.ckpt and .safetensors (format from DST's extension)")
    convert.add_argument("src", metavar="SRC")
    convert.add_argument("dst", metavar="DST")
    convert.add_argument("--force", action="store_true", help="overwrite DST if it exists")
    convert.set_defaults(run=cmd_convert)
    verify = sub.add_parser("verify", help="load each file; exit code 1 if any fails")
    verify.add_argument("files", nargs="+", metavar="FILE", help="files, or folders to search")
    verify.set_defaults(run=cmd_verify)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)
