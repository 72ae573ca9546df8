"""Training speed: optimizer steps per second and peak memory for an SD1.5-shaped ldm UNet.

Not a test. The UNet is v1-inference.yaml's unet_config (320 channels, mult 1,2,4,4, context 768) with random
weights, its zero-initialised layers (ldm's zero_module: out conv, each ResBlock's last conv, each
SpatialTransformer's proj_out) re-randomised, or no gradient would reach the network; the network is an SD1
[1, 2, 1] linear hypernetwork (768/320/640/1280); latents and conditioning are random (no VAE, no text
encoder), batch 1. `grad_norm_first` is the L2 norm of the network's gradient at the first step (0 would mean
it trains nothing).

`--flops` also counts, with torch's FLOP counter (a count, not a timing), one trainer step against the limit:
the same step written out by hand (frozen UNet, each MLP once per attention call, MSE, backward, AdamW;
tests/train/step_reference.py).

    python benchmarks/train_speed.py                          # CPU, fp32, 32x32 latents (a few minutes)
    python benchmarks/train_speed.py --quick                  # tiny UNet, seconds
    python benchmarks/train_speed.py --flops --steps 1 --warmup 1 --latent 16   # FLOPs against the limit
    python benchmarks/train_speed.py --device cuda --precision fp16 --latent 64 --json out.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _path in (ROOT, os.path.join(ROOT, "tests", "train")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from sd_hypernet.train import LdmUNetAdapter, Trainer, TrainingSet, TrainOptions, new_network  # noqa: E402
from step_reference import count_flops, limit_step, randomise_zero_layers, trainer_step_flops  # noqa: E402

# configs/stable-diffusion/v1-inference.yaml, model.params.unet_config.params (use_checkpoint as there:
# the trainer switches ldm's own checkpointing off, since it would drop the networks' gradients)
SD15_UNET = dict(image_size=32, in_channels=4, out_channels=4, model_channels=320, attention_resolutions=[4, 2, 1],
                 num_res_blocks=2, channel_mult=[1, 2, 4, 4], num_heads=8, use_spatial_transformer=True,
                 transformer_depth=1, context_dim=768, use_checkpoint=True, legacy=False)
TINY_UNET = dict(image_size=8, in_channels=4, out_channels=4, model_channels=32, attention_resolutions=[1],
                 num_res_blocks=1, channel_mult=[1], num_heads=2, use_spatial_transformer=True,
                 transformer_depth=1, context_dim=768, use_checkpoint=True, legacy=False)


def rss_mib() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step_flops(host, data, args) -> dict:
    """FLOPs of the trainer's second step and of the hand-written limit step on the same shapes."""
    with tempfile.TemporaryDirectory() as out:
        opts = TrainOptions(output_dir=out, steps=2, learn_rate="1e-5", batch_size=args.batch, save_every=0,
                            preview_every=0, plot_every=0, csv_every=0)
        flops = trainer_step_flops(Trainer(new_network("bench", family="sd1"), host, data, opts), step=2)
    ref = new_network("ref", family="sd1").train()
    optimizer = torch.optim.AdamW(list(ref.parameters()), lr=1e-5)
    device = next(host.unet.parameters()).device
    g = torch.Generator().manual_seed(3)
    x0 = torch.stack([data.latent_for(i, g) for i in range(args.batch)]).to(device)
    noise = torch.randn(x0.shape, generator=g).to(device)
    t = torch.randint(0, 1000, (args.batch,), generator=g).to(device)
    cond = {k: v.to(device) for k, v in host.encode_text(["x"] * args.batch, [(8 * args.latent,) * 2]).items()}
    ref.to(device)
    limit_step(host, ref, x0, t, noise, cond, optimizer)  # AdamW's state exists from the second step on
    limit = count_flops(lambda: limit_step(host, ref, x0, t, noise, cond, optimizer))
    return {"flops_step": flops, "flops_limit": limit, "flops_ratio": round(flops / limit, 4)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", choices=["fp32", "fp16", "bf16"], default="fp32",
                    help="fp16/bf16: autocast (CUDA only); the UNet weights stay in their dtype")
    ap.add_argument("--unet-dtype", choices=["fp32", "fp16"], default="fp32")
    ap.add_argument("--latent", type=int, default=32)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--steps", type=int, default=6, help="timed steps")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--learn-rate", default="auto",
                    help="auto: the default; shows the loss fall with --quick --latent 8 --steps 200")
    ap.add_argument("--flops", action="store_true", help="count one step's FLOPs against the limit's")
    ap.add_argument("--gradient-checkpointing", action="store_true")
    ap.add_argument("--quick", action="store_true", help="tiny UNet")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    from ldm.modules.diffusionmodules.openaimodel import UNetModel

    rss_start = rss_mib()
    unet = randomise_zero_layers(UNetModel(**(TINY_UNET if args.quick else SD15_UNET))).eval()
    unet.to(device, torch.float16 if args.unet_dtype == "fp16" else torch.float32)
    rss_model = rss_mib()

    def encode_text(texts, sizes):
        g = torch.Generator().manual_seed(1)
        return {"context": torch.randn(len(texts), 77, 768, generator=g)}

    host = LdmUNetAdapter(unet, encode_text)
    net = new_network("bench", family="sd1")
    g = torch.Generator().manual_seed(2)
    lat = [torch.randn(4, args.latent, args.latent, generator=g) for _ in range(max(2, args.batch))]
    data = TrainingSet.from_latents(lat, ["x"] * len(lat), template="none", name="bench")
    stamps = []
    with tempfile.TemporaryDirectory() as out:
        opts = TrainOptions(output_dir=out, steps=args.warmup + args.steps, learn_rate=args.learn_rate,
                            batch_size=args.batch,
                            save_every=0, preview_every=0, plot_every=0, csv_every=0,
                            mixed_precision=None if args.precision == "fp32" else args.precision,
                            gradient_checkpointing=args.gradient_checkpointing)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)

        first_grad = {}

        def tick(progress):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            stamps.append(time.perf_counter())
            if progress.step == 1 and not first_grad:  # the step's gradients are still on the parameters
                grads = [p.grad for p in net.parameters() if p.grad is not None]
                first_grad["norm"] = float(torch.sqrt(sum((g.float() ** 2).sum() for g in grads))) if grads else 0.0

        start = time.perf_counter()
        losses = Trainer(net, host, data, opts, on_progress=tick).run().losses
    timed = stamps[-args.steps - 1:]  # the first stamp is the "training" report before step 1
    per_step = (timed[-1] - timed[0]) / (len(timed) - 1)
    window = max(1, min(20, len(losses) // 4))
    result = {
        "unet": "tiny" if args.quick else "sd15", "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or
        platform.machine(), "threads": torch.get_num_threads(), "precision": args.precision,
        "unet_dtype": args.unet_dtype, "latent": args.latent, "batch": args.batch,
        "gradient_checkpointing": args.gradient_checkpointing, "timed_steps": len(timed) - 1,
        "seconds_per_step": round(per_step, 4), "steps_per_second": round(1 / per_step, 4),
        "total_seconds": round(time.perf_counter() - start, 2),
        "network_parameters": net.parameter_count(), "grad_norm_first": first_grad.get("norm"),
        "loss_first": round(sum(losses[:window]) / window, 5), "loss_last": round(sum(losses[-window:]) / window, 5),
        "peak_rss_mib": round(rss_mib(), 1), "model_rss_mib": round(rss_model - rss_start, 1),
        "torch": torch.__version__,
    }
    if device.type == "cuda":
        result["peak_cuda_mib"] = round(torch.cuda.max_memory_allocated(device) / 2 ** 20, 1)
    if args.flops:
        result.update(step_flops(host, data, args))
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w", encoding="utf8") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
