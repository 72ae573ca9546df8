"""What a hypernetwork costs per UNet step: the webui's way (per layer, per step) against sd_hypernet.attach.

Not a test. An SD1.5-shaped ldm UNet (v1-inference.yaml's unet_config) with random weights, batch 2
(cond + uncond), a few sampling steps with one constant context tensor. Also: load times (.pt against
.safetensors, from disk against an LRU hit) and process memory over many load/apply/clear cycles.

    python benchmarks/unet_speed.py                  # full run on CPU, fp32, latent 32x32 (minutes)
    python benchmarks/unet_speed.py --quick          # tiny UNet, seconds; what CI runs
    python benchmarks/unet_speed.py --device cuda --dtype fp16 --latent 64 --json out.json

Exits non-zero when the two ways give different UNet outputs.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager, nullcontext

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import sd_hypernet as sh  # noqa: E402
from sd_hypernet import hook  # noqa: E402
from sd_hypernet.control import as_chain  # noqa: E402
from sd_hypernet.library import Library  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fused_first_linear as fused  # noqa: E402

# configs/stable-diffusion/v1-inference.yaml, model.params.unet_config.params
SD15_UNET = dict(in_channels=4, out_channels=4, model_channels=320, attention_resolutions=[4, 2, 1],
                 num_res_blocks=2, channel_mult=[1, 2, 4, 4], num_heads=8, use_spatial_transformer=True,
                 transformer_depth=1, context_dim=768, use_checkpoint=False, legacy=False)
# Widths 32/64 and context 48, so no width is both a self- and a cross-attention width.
TINY_UNET = dict(in_channels=4, out_channels=4, model_channels=32, attention_resolutions=[2, 1],
                 num_res_blocks=1, channel_mult=[1, 2], num_heads=2, use_spatial_transformer=True,
                 transformer_depth=1, context_dim=48, use_checkpoint=False, legacy=False)


# ---- the baseline: the webui's way, kept only here ------------------------------------------------------

# Time inside the hooks. With one torch thread on CPU all hypernetwork work runs on the calling thread, so its
# CPU time is exact and immune to other processes; otherwise wall time (on CUDA: host-side time only).
hook_clock = time.perf_counter

class WebuiWay:
    """The webui's cost: every attention call runs each network's k and v module on its own context.

    As in the webui's attention forwards, one call computes (k, v) once: to_k's hook computes both and
    to_v's hook takes v. Nothing is kept between calls or steps.
    """

    def __init__(self, unet, chain):
        self.chain = as_chain(chain)
        self.seconds = 0.0
        self.handles = []
        for site in hook.find_sites(unet):
            stash: dict = {}
            self.handles.append(site.module.to_k.register_forward_pre_hook(self._k_hook(site, stash)))
            self.handles.append(site.module.to_v.register_forward_pre_hook(self._v_hook(site, stash)))

    def _k_hook(self, site, stash):
        def k_hook(module, args):
            t0 = hook_clock()
            context = args[0]
            k, v = self._apply(context, site)
            stash["v"] = (context, v)
            self.seconds += hook_clock() - t0
            return None if k is context else (k,) + tuple(args[1:])
        return k_hook

    def _v_hook(self, site, stash):
        def v_hook(module, args):
            t0 = hook_clock()
            context = args[0]
            seen, v = stash.pop("v", (None, None))
            if seen is not context:
                v = self._apply(context, site)[1]
            self.seconds += hook_clock() - t0
            return None if v is context else (v,) + tuple(args[1:])
        return v_hook

    def _apply(self, context, site):
        # fp32 outside autocast, as ours computes, so the two ways can be compared bit for bit
        device_type = hook._autocast_device(context)
        with torch.autocast(device_type, enabled=False) if device_type else nullcontext():
            return sh.apply_chain(self.chain, context, site.kind, site.block)

    def remove(self):
        for h in self.handles:
            h.remove()
        self.handles = []


class Ours:
    """sd_hypernet.attach as a host uses it: one set_chain per generation, set_step every step."""

    def __init__(self, unet, chain):
        self.patcher = sh.attach(unet)
        self.seconds = 0.0
        make_hook = self.patcher._make_hook

        def timed_hook(*args):  # an instance attribute: set_chain builds every hook through it
            hook_fn = make_hook(*args)

            def timed(module, inputs):
                t0 = hook_clock()
                try:
                    return hook_fn(module, inputs)
                finally:
                    self.seconds += hook_clock() - t0
            return timed
        self.patcher._make_hook = timed_hook
        self.patcher.set_chain(chain)

    def remove(self):
        self.patcher.remove()


@contextmanager
def fused_path(enabled: bool):
    """The proposed hook.py change, tried here without editing hook.py: apply_chain uses fused.transform_pair."""
    if not enabled:
        yield
        return
    saved = hook.transform_pair
    hook.transform_pair = fused.transform_pair
    try:
        yield
    finally:
        hook.transform_pair = saved


# ---- setup -------------------------------------------------------------------------------------------------

def build_unet(config, device, dtype, seed=0):
    from ldm.modules.diffusionmodules.openaimodel import UNetModel
    torch.manual_seed(seed)
    unet = UNetModel(image_size=32, **config)
    # ldm zero-initialises output convs and every transformer's proj_out, so attention (and with it any
    # hypernetwork) would not reach the output: give those layers small random weights.
    with torch.no_grad():
        for p in unet.parameters():
            if p.dim() >= 2 and not p.any():
                p.normal_(0.0, 0.02)
    unet = unet.to(device=device, dtype=dtype)
    for m in unet.modules():  # norms stay fp32 (ldm's GroupNorm32 computes in fp32), as in half-precision webui
        if isinstance(m, (torch.nn.GroupNorm, torch.nn.LayerNorm)):
            m.float()
    return unet.eval().requires_grad_(False)


def widths_of(unet) -> list[int]:
    return sorted({hook._width(s.module.to_k) for s in hook.find_sites(unet) if s.kind == "self"})


def make_networks(unet, context_dim, seed=1):
    torch.manual_seed(seed)
    full_sizes = [context_dim] + widths_of(unet)
    cross = sh.create([context_dim], (1, 2, 1), name="cross")
    full = sh.create(full_sizes, (1, 2, 1), name="full")
    full_b = sh.create(full_sizes, (1, 2, 1), name="full_b")
    return {
        "cross": [(cross, 1.0)],
        "full": [(full, 1.0)],
        "chain": [(full, 1.0), (full_b, 0.7)],
    }, full_sizes


class Sampler:
    """A few Euler-like steps with classifier-free guidance batched as (cond, uncond)."""

    def __init__(self, unet, latent, steps, device, dtype, context_dim, seed=2):
        g = torch.Generator().manual_seed(seed)
        self.unet, self.steps = unet, steps
        self.x0 = torch.randn(1, 4, latent, latent, generator=g).to(device, dtype)
        cond = torch.randn(1, 77, context_dim, generator=g)
        uncond = torch.randn(1, 77, context_dim, generator=g)
        self.context = torch.cat([cond, uncond]).to(device, dtype)  # one object for every step
        self.timesteps = torch.linspace(999, 1, steps).round().long().tolist()
        self.device, self.dtype = device, dtype

    def run(self, on_step=None, fresh_context=False):
        x = self.x0
        outs = []
        with torch.no_grad(), autocast_for(self.device, self.dtype):
            for i, t in enumerate(self.timesteps):
                if on_step:
                    on_step(i, self.steps)
                x_in = torch.cat([x, x])
                ts = torch.full((2,), t, device=self.device, dtype=torch.long)
                ctx = self.context.clone() if fresh_context else self.context
                out = self.unet(x_in, ts, context=ctx)
                cond, uncond = out.chunk(2)
                eps = uncond + 7.0 * (cond - uncond)
                x = x - 0.05 * eps
                outs.append(out)
        return outs


def autocast_for(device, dtype):
    """Half-precision UNets run under autocast, as the webui runs them (ldm's attention upcasts q and k)."""
    return torch.autocast(device.type, dtype=dtype) if dtype != torch.float32 else nullcontext()


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


# ---- modes -------------------------------------------------------------------------------------------------

def run_mode(mode, unet, sampler, chains, device):
    """(outputs, wall seconds, process cpu seconds, seconds inside hypernetwork hooks) for one generation."""
    kind, _, way = mode.partition(":")
    fresh = way.endswith("-fresh")
    way = way.removesuffix("-fresh")
    runner = None
    if kind != "none":
        chain = chains[kind]
        runner = WebuiWay(unet, chain) if way == "webui" else Ours(unet, chain)
    on_step = runner.patcher.set_step if isinstance(runner, Ours) else None
    try:
        with fused_path(way == "fused"):
            sync(device)
            w0, c0 = time.perf_counter(), time.process_time()
            outs = sampler.run(on_step, fresh_context=fresh)
            sync(device)
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    finally:
        if runner is not None:
            runner.remove()
    return outs, wall, cpu, (runner.seconds if runner else 0.0)


def modes_for(args):
    # "-fresh": a new context tensor every step, as the webui's CFG denoiser builds it (torch.cat per step);
    # without it the one constant context lets our cache serve every step after the first.
    modes = ["none", "cross:webui", "cross:ours", "cross:ours-fresh", "full:webui", "full:ours-fresh"]
    if args.fused:
        modes.append("full:fused-fresh")
    modes += ["chain:webui", "chain:ours-fresh"]
    if args.only:
        keep = set(args.only.split(","))
        modes = [m for m in modes if m == "none" or m.split(":")[0] in keep]
    return modes


def compare(a, b):
    """(bit-identical, max abs difference) over every step's output."""
    diffs = [(x.float() - y.float()).abs().max().item() for x, y in zip(a, b)]
    identical = all(torch.equal(x, y) for x, y in zip(a, b))
    return identical, max(diffs) if diffs else 0.0


def check_outputs(results, modes, tolerance):
    """The two ways must agree; and a hypernetwork must change the output, or the check proves nothing."""
    failures, checks = [], []
    base = results["none"]
    kinds = [k for k in ("cross", "full", "chain") if f"{k}:webui" in results]
    for mode in modes:
        if mode == "none" or mode.endswith(":webui"):
            continue
        kind = mode.split(":")[0]
        identical, diff = compare(results[f"{kind}:webui"], results[mode])
        checks.append({"mode": mode, "against": f"{kind}:webui", "bit_identical": identical, "max_abs_diff": diff})
        # the fused experiment is not what ships: on CUDA its other summation order may drift in fp16; report only
        if not identical and diff > tolerance and not mode.endswith("fused-fresh"):
            failures.append(f"{mode} differs from {kind}:webui by {diff:g} (tolerance {tolerance:g})")
    for kind in kinds:
        _, effect = compare(base, results[f"{kind}:webui"])
        checks.append({"mode": f"{kind}:webui", "against": "none", "max_abs_diff": effect})
        if effect == 0:
            failures.append(f"{kind}: the hypernetwork did not change the UNet output; the comparison is void")
    return checks, failures


def time_modes(args, unet, sampler, chains, device, modes, first_outputs):
    """Timings; the first repeat's outputs go to first_outputs for the checks."""
    samples = {m: {"wall": [], "cpu": [], "hook": []} for m in modes}
    for r in range(args.repeats):
        order = modes if r % 2 == 0 else list(reversed(modes))  # interleaved, alternating, against drift
        for mode in order:
            outs, wall, cpu, hook_s = run_mode(mode, unet, sampler, chains, device)
            if r == 0:
                first_outputs[mode] = outs
            s = samples[mode]
            s["wall"].append(wall / args.steps)
            s["cpu"].append(cpu / args.steps)
            s["hook"].append(hook_s / args.steps)
        if args.verbose:
            print(f"  repeat {r + 1}/{args.repeats} done", file=sys.stderr)
    rows = {}
    for mode in modes:
        s = samples[mode]
        row = {"wall_ms": 1e3 * statistics.median(s["wall"]), "cpu_ms": 1e3 * statistics.median(s["cpu"]),
               "hook_ms": 1e3 * statistics.median(s["hook"])}
        # Overheads as medians of per-repeat ratios: both runs of a ratio are neighbours in time.
        for clock in ("wall", "cpu"):
            ratios = [m / n for m, n in zip(s[clock], samples["none"][clock])]
            row[f"{clock}_ratio"] = statistics.median(ratios)
        bare = samples["none"]["cpu" if hook_clock is time.thread_time else "wall"]
        row["hook_share"] = statistics.median([h / n for h, n in zip(s["hook"], bare)])
        rows[mode] = row
    return rows, samples


# ---- loading -----------------------------------------------------------------------------------------------

def median_seconds(fn, n):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_loading(net, folder, repeats):
    rows = {}
    for ext in (".pt", ".safetensors"):
        path = os.path.join(folder, "loadbench" + ext)
        sh.save_file(net, path)
        lib = Library(folder, cache_size=4)
        t0 = time.perf_counter()
        lib.load("loadbench" + ext)  # first load in this process
        first = time.perf_counter() - t0
        uncached = median_seconds(lambda: sh.load_file(path), repeats)
        hit = median_seconds(lambda: lib.load("loadbench" + ext), max(repeats, 20))
        rows[ext] = {"first_ms": 1e3 * first, "from_disk_ms": 1e3 * uncached, "lru_hit_ms": 1e3 * hit,
                     "size_mb": os.path.getsize(path) / 2**20, "disk_loads": lib.disk_loads}
        os.remove(path)
    return rows


# ---- memory ------------------------------------------------------------------------------------------------

def rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, AttributeError):
        import resource  # not Linux: peak, not current; still shows growth
        scale = 1 if sys.platform == "darwin" else 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def trim_heap() -> bool:
    """Hand freed heap back to the OS (glibc), so RSS shows memory still held rather than allocator slack."""
    try:
        import ctypes
        return bool(ctypes.CDLL("libc.so.6").malloc_trim(0))
    except (OSError, AttributeError):
        return False


def bench_memory(cycles, warmup, context_dim, n_files, folder, device, dtype):
    """Load/apply/clear different networks many times on a small UNet; RSS after warm-up must stay flat."""
    unet = build_unet(TINY_UNET | {"context_dim": context_dim}, device, dtype, seed=5)
    sizes = [context_dim] + widths_of(unet)
    for i in range(n_files):
        torch.manual_seed(100 + i)
        net = sh.create(sizes if i % 2 else [context_dim], (1, 2, 1), name=f"mem{i}")
        sh.save_file(net, os.path.join(folder, f"mem{i}" + (".safetensors" if i % 3 else ".pt")))
    lib = Library(folder, cache_size=3)
    patcher = sh.attach(unet)
    x = torch.randn(2, 4, 8, 8, device=device, dtype=dtype)
    ts = torch.tensor([500, 500], device=device)
    marks, trace = {}, []
    with torch.no_grad(), autocast_for(device, dtype):
        for i in range(cycles):
            first = lib.load(f"mem{i % n_files}")
            second = lib.load(f"mem{(i * 7 + 3) % n_files}")
            patcher.set_chain([(first, 1.0), (second, 0.5)])
            for step in range(2):
                patcher.set_step(step, 2)
                ctx = torch.randn(2, 77, context_dim, device=device, dtype=dtype)
                unet(x, ts, context=ctx)
            patcher.clear()
            if i + 1 >= warmup and ((i + 1 - warmup) % 10 == 0 or i + 1 == cycles):
                gc.collect()
                untrimmed = rss_mb()
                trim_heap()
                trace.append((i + 1, rss_mb(), untrimmed))
            if i + 1 in (warmup, cycles):
                marks[i + 1] = trace[-1][1]
                if device.type == "cuda":
                    marks[f"cuda{i + 1}"] = torch.cuda.memory_allocated(device) / 2**20
    patcher.remove()
    return {"cycles": cycles, "warmup_cycles": warmup, "files": n_files, "library_cache_size": lib.cache_size,
            "disk_loads": lib.disk_loads, "rss_after_warmup_mb": marks[warmup],
            "rss_at_end_mb": marks[cycles], "growth_mb": marks[cycles] - marks[warmup],
            "rss_range_mb": max(t[1] for t in trace) - min(t[1] for t in trace),
            "untrimmed_range_mb": max(t[2] for t in trace) - min(t[2] for t in trace),
            "trace": trace, "heap_trimmed": trim_heap(),
            "cuda_allocated_mb": [marks.get(f"cuda{warmup}"), marks.get(f"cuda{cycles}")]}


# ---- fused first Linear, isolated --------------------------------------------------------------------------

def bench_fused_isolated(net, shapes, device, dtype, repeats):
    """The self-attention transform alone, plain against fused, per width at this latent size."""
    from sd_hypernet.network import transform_pair
    rows = {}
    with torch.no_grad():
        for shape in shapes:
            x = torch.randn(*shape, device=device, dtype=dtype)
            pair = net.layers[shape[-1]]
            a = transform_pair(pair, x, x, 1.0, net)
            b = fused.transform_pair(pair, x, x, 1.0, net)
            identical = all(torch.equal(p, q) for p, q in zip(a, b))
            plain_t, fused_t = [], []
            for _ in range(repeats):
                for fn, bucket in ((transform_pair, plain_t), (fused.transform_pair, fused_t)):
                    sync(device)
                    t0 = time.process_time() if device.type == "cpu" else time.perf_counter()
                    fn(pair, x, x, 1.0, net)
                    sync(device)
                    bucket.append((time.process_time() if device.type == "cpu" else time.perf_counter()) - t0)
            rows["x".join(map(str, shape))] = {"plain_ms": 1e3 * statistics.median(plain_t),
                                               "fused_ms": 1e3 * statistics.median(fused_t),
                                               "bit_identical": identical}
    return rows


# ---- report ------------------------------------------------------------------------------------------------

LABELS = {"none": "no hypernetwork", "cross": "cross-only", "full": "full", "chain": "two full chained"}


def pct(ratio):
    return f"{(ratio - 1) * 100:+.2f} %"


def print_report(res):
    env = res["environment"]
    print(f"\n# UNet step with hypernetworks — {env['unet']}, {env['device']} {env['dtype']}, latent "
          f"{env['latent']}x{env['latent']}, batch 2, {env['steps']} steps x {env['repeats']} repeats")
    print(f"# torch {env['torch']}, {env['threads']} threads, {env['machine']}; hook time by {env['hook_clock']}")
    print(f"{'mode':30s} {'wall ms/step':>12s} {'wall ovh':>10s} {'cpu ovh':>10s} {'hook ms':>9s} {'hook share':>10s}")
    for mode, row in res["timing"].items():
        kind, _, way = mode.partition(":")
        label = LABELS[kind] + (f" — {way}" if way else "")
        print(f"{label:30s} {row['wall_ms']:12.1f} {pct(row['wall_ratio']):>10s} {pct(row['cpu_ratio']):>10s} "
              f"{row['hook_ms']:9.2f} {row['hook_share'] * 100:9.2f}%")
    sizes = env["network_sizes"]
    print(f"# cross-only = ({sizes[0]}, [1,2,1]); full = ({', '.join(map(str, sizes))}, [1,2,1]); "
          f"-fresh = new context tensor each step (the webui's CFG denoiser); hook share = hook time / bare step "
          f"({'CPU' if env['hook_clock'].startswith('thread') else 'wall'})")
    print("\n# overhead of ours (new context each step) against the webui's way")
    for kind, row in res["summary"].items():
        print(f"{LABELS[kind]:18s} webui {row['webui_hook_share'] * 100:6.2f} %   ours {row['ours_hook_share'] * 100:6.2f} %"
              f"   ratio {row['hook_ratio']:6.1f}x (hook time)   |   wall ovh webui {pct(row['webui_wall_ratio'])}"
              f" ours {pct(row['ours_wall_ratio'])}")
    print("\n# outputs")
    for c in res["checks"]:
        extra = f" bit-identical={c['bit_identical']}" if "bit_identical" in c else " (hypernetwork effect)"
        print(f"  {c['mode']:22s} vs {c['against']:12s} max|diff| {c['max_abs_diff']:.3g}{extra}")
    if res.get("fused_isolated"):
        print("\n# self-attention (k, v) transform alone: plain against fused first Linear (median CPU/GPU ms)")
        for shape, row in res["fused_isolated"].items():
            print(f"  {shape:16s} plain {row['plain_ms']:8.2f}  fused {row['fused_ms']:8.2f}  "
                  f"({row['plain_ms'] / max(row['fused_ms'], 1e-9):.2f}x)  bit-identical={row['bit_identical']}")
    if res.get("loading"):
        print("\n# loading the full network")
        for ext, row in res["loading"].items():
            print(f"  {ext:12s} {row['size_mb']:6.1f} MB  first {row['first_ms']:8.1f} ms  from disk "
                  f"{row['from_disk_ms']:8.1f} ms  LRU hit {row['lru_hit_ms'] * 1e3:8.1f} us")
    if res.get("memory"):
        m = res["memory"]
        print(f"\n# memory: {m['cycles']} load/apply/clear cycles over {m['files']} files (LRU {m['library_cache_size']},"
              f" {m['disk_loads']} disk loads): RSS {m['rss_after_warmup_mb']:.1f} MB after {m['warmup_cycles']}"
              f" -> {m['rss_at_end_mb']:.1f} MB at end ({m['growth_mb']:+.1f} MB; samples every 10 cycles span "
              f"{m['rss_range_mb']:.1f} MB after malloc_trim, {m['untrimmed_range_mb']:.1f} MB before)")


def summarise(rows):
    summary = {}
    for kind in [k for k in ("cross", "full", "chain") if f"{k}:webui" in rows]:
        web, ours = rows[f"{kind}:webui"], rows[f"{kind}:ours-fresh"]
        summary[kind] = {
            "webui_hook_share": web["hook_share"], "ours_hook_share": ours["hook_share"],
            "hook_ratio": web["hook_ms"] / max(ours["hook_ms"], 1e-9),
            "webui_wall_ratio": web["wall_ratio"], "ours_wall_ratio": ours["wall_ratio"],
            "wall_overhead_ratio": (web["wall_ratio"] - 1) / max(ours["wall_ratio"] - 1, 1e-9),
            "webui_cpu_ratio": web["cpu_ratio"], "ours_cpu_ratio": ours["cpu_ratio"],
        }
    return summary


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny UNet, few steps: seconds (CI)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="fp32", choices=["fp32", "fp16", "bf16"])
    p.add_argument("--latent", type=int, default=None, help="latent side (default 32; 8 with --quick)")
    p.add_argument("--steps", type=int, default=None, help="sampling steps per generation (default 3)")
    p.add_argument("--repeats", type=int, default=None, help="generations per mode (default 5)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch.set_num_threads (default: torch's; 1 with --quick, where OpenMP start-up dominates)")
    p.add_argument("--memory-cycles", type=int, default=None, help="default 200 (20 with --quick)")
    p.add_argument("--no-memory", action="store_true")
    p.add_argument("--no-loading", action="store_true")
    p.add_argument("--fused", action="store_true",
                   help="also time the UNet with the fused-first-Linear experiment (its isolated timing always runs)")
    p.add_argument("--tolerance", type=float, default=None,
                   help="accepted max |diff| between the ways when not bit-identical (default 0 on CPU fp32)")
    p.add_argument("--only", help="comma-separated kinds to time (cross,full,chain); default all")
    p.add_argument("--json", help="write all results here")
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args(argv)

    if args.threads or args.quick:
        torch.set_num_threads(args.threads or 1)
    global hook_clock
    if args.device == "cpu" and torch.get_num_threads() == 1:
        hook_clock = time.thread_time
    device = torch.device(args.device)
    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[args.dtype]
    config = TINY_UNET if args.quick else SD15_UNET
    args.latent = args.latent or (8 if args.quick else 32)
    args.steps = args.steps or (2 if args.quick else 3)
    args.repeats = args.repeats or (2 if args.quick else 5)
    cycles = args.memory_cycles or (10 if args.quick else 200)
    if args.tolerance is None:
        args.tolerance = 0.0 if (device.type == "cpu" and dtype == torch.float32) else 1e-2

    t_build = time.perf_counter()
    unet = build_unet(config, device, dtype)
    chains, full_sizes = make_networks(unet, config["context_dim"])
    sampler = Sampler(unet, args.latent, args.steps, device, dtype, config["context_dim"])
    modes = modes_for(args)
    if args.verbose:
        print(f"built in {time.perf_counter() - t_build:.1f} s; modes: {', '.join(modes)}", file=sys.stderr)

    outputs: dict = {}
    rows, samples = time_modes(args, unet, sampler, chains, device, modes, outputs)
    checks, failures = check_outputs(outputs, modes, args.tolerance)
    del outputs
    res = {
        "environment": {
            "unet": "tiny" if args.quick else "SD1.5 (v1-inference.yaml)", "device": str(device),
            "dtype": args.dtype, "latent": args.latent, "steps": args.steps, "repeats": args.repeats,
            "torch": torch.__version__, "python": platform.python_version(), "threads": torch.get_num_threads(),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.processor() or platform.system()}"
                       + (f", {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""),
            "network_sizes": full_sizes, "hook_clock": "thread CPU time" if hook_clock is time.thread_time
            else "wall time" + (" (host side)" if device.type == "cuda" else ""),
        },
        "timing": rows, "summary": summarise(rows), "samples": samples, "checks": checks, "failures": failures,
    }
    shapes = [(2, 77, config["context_dim"])]
    for level, width in enumerate(widths_of(unet)):
        shapes.append((2, (args.latent >> level) ** 2, width))
    res["fused_isolated"] = bench_fused_isolated(chains["full"][0][0], shapes, device, dtype, max(5, args.repeats * 3))
    with tempfile.TemporaryDirectory() as folder:
        if not args.no_loading:
            res["loading"] = bench_loading(chains["full"][0][0], folder, 3 if args.quick else 5)
        if not args.no_memory:
            mem_dir = os.path.join(folder, "mem")
            os.makedirs(mem_dir)
            res["memory"] = bench_memory(cycles, max(2, cycles // 10), config["context_dim"], 8, mem_dir,
                                         device, torch.float32 if device.type == "cpu" else dtype)
    print_report(res)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    if failures:
        print("\nFAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    print("\nOK: the webui's way and ours give the same UNet output")
    return 0


if __name__ == "__main__":
    sys.exit(main())
