"""What we cost per UNet call, by path: the webui's hooks (forward pre-hooks on to_k/to_v) and Forge's patches
(the stand-in transformer block calling attn1/attn2 patches exactly as Forge's BasicTransformerBlock._forward
does, residuals added in place). For each of no tag, cross-only, full and two chained networks: Python calls
of ours per UNet forward (exact, from the profiler), wall time per forward against the bare UNet in the same
process, and the webui's way (every network recomputed in every layer) as the baseline.

Not a test.    python benchmarks/call_cost.py [--quick] [--device cuda --dtype fp16 --latent 64] [--json F]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from contextlib import nullcontext

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for path in (ROOT, os.path.join(ROOT, "tests"), os.path.join(ROOT, "tests", "standins"),
             os.path.join(ROOT, "tests", "standins", "forge")):
    if path not in sys.path:
        sys.path.insert(0, path)

import sd_hypernet as sh  # noqa: E402
from call_count import calls_of_ours  # noqa: E402  (tests/call_count.py; Forge's block is the stand-in's)
from sd_hypernet import hook  # noqa: E402

SD15 = dict(model_channels=320, num_heads=8)
SMALL = dict(model_channels=32, num_heads=2)


def build(quick, device, dtype):
    from ldm.modules.diffusionmodules.openaimodel import UNetModel
    torch.manual_seed(0)
    unet = UNetModel(image_size=8, in_channels=4, out_channels=4, attention_resolutions=(4, 2, 1), num_res_blocks=2,
                     channel_mult=(1, 2, 4, 4), use_spatial_transformer=True, transformer_depth=1, context_dim=768,
                     legacy=False, **(SMALL if quick else SD15))
    return unet.to(device, dtype).eval()


def chains(unet):
    widths = sorted({hook._width(s.module.to_k) for s in hook.find_sites(unet) if s.kind == "self"})
    torch.manual_seed(1)
    cross = sh.create([768], name="cross")
    full = sh.create([768] + widths, name="full")
    full_b = sh.create([768] + widths, name="full_b")
    return {"none": [], "cross": [(cross, 1.0)], "full": [(full, 1.0)], "chain": [(full, 1.0), (full_b, 0.7)]}


def _seconds(fn, device):
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def against_bare(fn, bare, repeats, device):
    """(median ms of fn, median of fn/bare): the two interleaved, so a busy machine moves both alike."""
    fn(), bare()  # warm-up
    pairs = [(_seconds(fn, device), _seconds(bare, device)) for _ in range(repeats)]
    return statistics.median(a for a, _ in pairs) * 1e3, statistics.median(a / b for a, b in pairs)


class WebuiWayPatch:
    """The webui's cost through Forge's patch: every call recomputes every network on its context."""

    def __init__(self, chain, kind):
        self.chain, self.kind = chain, kind

    def __call__(self, n, context, value, extra_options):
        k, v = sh.apply_chain(self.chain, context, self.kind)
        return n, k, v


def forge_options(chain, way):
    from sd_hypernet.hosts.adapters.forge import make_patch
    if not chain:
        return {}
    if way == "webui":
        patches = {"attn1_patch": [WebuiWayPatch(chain, "self")], "attn2_patch": [WebuiWayPatch(chain, "cross")]}
    else:
        applier = hook.ChainApplier(chain)
        patches = {f"attn{i}_patch": [make_patch(applier, None, kind, lambda *a: None, lambda *a: None)]
                   for i, kind in ((1, "self"), (2, "cross")) if any(
                       s.kind == kind and hook.touches(s, chain) for s in SITES)}
    return {"patches": patches}


SITES: list = []


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small channels, few repeats (seconds)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="fp32", choices=["fp32", "fp16", "bf16"])
    p.add_argument("--latent", type=int, default=None, help="latent side (default 8 quick, 32 otherwise)")
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[args.dtype]
    latent = args.latent or (8 if args.quick else 32)
    repeats = args.repeats or (3 if args.quick else 5)
    from backend.nn.unet import adopt_unet  # noqa: E402  (the Forge stand-in's forward on ldm's modules)

    unet = build(args.quick, device, dtype)
    SITES[:] = hook.find_sites(unet)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 4, latent, latent, generator=g).to(device, dtype)
    t = torch.tensor([500, 500], device=device)
    ctx = torch.randn(2, 77, 768, generator=g).to(device, dtype)
    cast = torch.autocast(device.type, dtype=dtype) if dtype != torch.float32 else nullcontext()
    results = {"device": str(device), "dtype": args.dtype, "latent": latent, "sd15_channels": not args.quick,
               "torch": torch.__version__, "rows": []}

    def webui_call():
        with torch.no_grad(), cast:
            return unet(x, timesteps=t, context=ctx.clone())  # a new context per call, as a sampler gives

    def bare_unet():  # the same forward with every hook of ours and the baseline's bypassed
        saved = [(m, m._forward_pre_hooks) for m in unet.modules() if m._forward_pre_hooks]
        for m, _ in saved:
            m._forward_pre_hooks = type(m._forward_pre_hooks)()
        try:
            return webui_call()
        finally:
            for m, hooks in saved:
                m._forward_pre_hooks = hooks

    for name, chain in chains(unet).items():
        for way in ("ours", "webui") if chain else ("ours",):
            if way == "ours":
                patcher = sh.attach(unet)
                patcher.set_chain(chain)
                remove = patcher.remove
            else:
                sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
                from unet_speed import WebuiWay
                remove = WebuiWay(unet, chain).remove
            webui_call()  # the first call fills the per-site tables
            calls = calls_of_ours(webui_call)
            ms, ratio = against_bare(webui_call, bare_unet, repeats, device)
            remove()
            results["rows"].append({"path": "webui hooks", "network": name, "way": way, "calls": calls,
                                    "ms": ms, "overhead": ratio - 1})

    adopt_unet(unet)
    SITES[:] = hook.find_sites(unet)

    def forge_call(options):
        def run():
            with torch.inference_mode(), cast:  # Forge samples under inference_mode
                return unet(x.clone(), timesteps=t, context=ctx.clone(),
                            transformer_options={**options, "sigmas": torch.ones(2)})
        return run

    bare_forge = forge_call({})
    for name, chain in chains(unet).items():
        for way in ("ours", "webui") if chain else ("ours",):
            run = forge_call(forge_options(chain, way))
            run()  # the first call fills the per-block tables
            calls = calls_of_ours(run)
            ms, ratio = against_bare(run, bare_forge, repeats, device)
            results["rows"].append({"path": "forge patches", "network": name, "way": way, "calls": calls,
                                    "ms": ms, "overhead": ratio - 1})

    print(f"# per UNet call ({device}, {args.dtype}, latent {latent}, "
          f"{'SD1.5 channels' if not args.quick else 'small channels'}, batch 2, {args.threads} thread(s); "
          f"'vs bare': median ratio to the same forward without us, interleaved)")
    print(f"  {'path':14} {'network':7} {'way':6} {'calls of ours':>13} {'ms/call':>9} {'vs bare':>8}")
    for r in results["rows"]:
        print(f"  {r['path']:14} {r['network']:7} {r['way']:6} {r['calls']:13d} {r['ms']:9.2f} "
              f"{r['overhead'] * 100:+7.1f}%")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    none_calls = [r["calls"] for r in results["rows"] if r["network"] == "none"]
    return 0 if none_calls == [0, 0] else 1


if __name__ == "__main__":
    sys.exit(main())
