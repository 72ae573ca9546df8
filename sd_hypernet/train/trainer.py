"""The training loop: only the hypernetwork's parameters learn; the UNet and the encoders stay frozen.

One step = one optimizer step = `gradient_accumulation` micro-batches of `batch_size`. Every random draw comes
from the trainer's own generators (dropout runs on a per-step seed inside a forked global RNG), so a run
resumed from a snapshot's sidecar repeats exactly what an uninterrupted run would have done.
"""
from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import asdict, dataclass, field

import torch

from ..control import ChainEntry
from ..errors import HypernetError
from ..formats import load_file
from ..hook import attach
from . import losslog, snapshot
from .adapter import cond_cat, cond_split, cond_to
from .dataset import BatchOrder, TrainingSet
from .divergence import DivergenceWatch
from .objective import NoiseSchedule, compute_loss
from .options import TrainOptions, optimizer_class, resolve
from .schedules import make_schedule
from .unet_state import frozen_for_training

_COND_CACHE_SIZE = 4096


@dataclass
class Progress:
    status: str = "preparing"            # preparing | training | done | interrupted | error
    phase: str = "preparing"             # what runs now: preparing | step | snapshot | preview | plot | finished
    step: int = 0
    max_steps: int = 0
    loss: float | None = None
    learn_rate: float | None = None
    epoch: int = 0
    eta_seconds: float | None = None
    steps_per_second: float | None = None
    last_snapshot: str | None = None
    last_preview: str | None = None
    loss_plot: str | None = None
    final: str | None = None
    message: str = ""
    warning: str | None = None           # divergence: what happened, the likely cause, what to try
    suggested_learn_rate: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainResult:
    progress: Progress
    losses: list[float] = field(default_factory=list)   # this run's per-step losses


class Trainer:
    def __init__(self, network, host, dataset: TrainingSet, options: TrainOptions, *, source_path: str | None = None,
                 base_model: dict | None = None, resume_state: dict | None = None, on_progress=None,
                 on_preview=None, interrupted=None, patcher=None):
        self.network = network
        self.host = host
        self.dataset = dataset
        self.options = options.validate()
        self.source_path = source_path if source_path is not None else getattr(network, "path", None)
        self.base_model = dict(base_model or {})
        self.on_progress = on_progress
        self.on_preview = on_preview
        self._external_interrupt = interrupted or (lambda: False)
        self._interrupt = False
        self._patcher = patcher
        self.name = options.name or network.name
        self.progress = Progress(max_steps=int(options.steps))
        self.losses: list[float] = []
        self._resume_state = resume_state
        self.watch = DivergenceWatch()

    # -- resuming -------------------------------------------------------------------------------------
    @classmethod
    def resume(cls, snapshot_file: str, host, dataset: TrainingSet, options: TrainOptions, **kwargs) -> "Trainer":
        """Continue from a snapshot; exact when its `.optim` sidecar matches it, else with a fresh optimizer."""
        network = load_file(snapshot_file)
        side = snapshot.load_sidecar(snapshot_file)
        state = None
        if side is not None:
            state = dict(side["trainer_state"])
            state["optimizer"] = side["optimizer_state_dict"]
            state["optimizer_name"] = side["optimizer_name"]
        kwargs.setdefault("source_path", snapshot_file)
        return cls(network, host, dataset, options, resume_state=state, **kwargs)

    def interrupt(self) -> None:
        self._interrupt = True

    @property
    def interrupted(self) -> bool:
        return self._interrupt or bool(self._external_interrupt())

    # -- setup ----------------------------------------------------------------------------------------
    def _device(self) -> torch.device:
        dev = getattr(self.host, "device", None)
        if dev is not None:
            return torch.device(dev)
        return next(self.host.unet.parameters()).device

    def _setup(self):
        opts = self.options
        self.device = self._device()
        self.start_step = int(self.network.step)
        self.step = self.start_step
        self.gen = torch.Generator().manual_seed(int(opts.seed))
        self.order = BatchOrder(self.dataset, opts.batch_size, int(opts.seed))
        if self.order.batch_size != opts.batch_size:
            print(f"[hypernetworks] batch size {opts.batch_size} reduced to the dataset size {self.order.batch_size}")
        self.noise = NoiseSchedule(self.host.alphas_cumprod)
        state = self._resume_state
        # Pairs before the step a run first started at are skipped (webui); a resume keeps that origin.
        self._sched_origin = int(state["schedule_origin"]) if state else self.start_step
        cur = self._sched_origin
        self.plan = resolve(opts)
        self.lr_sched = make_schedule(self.plan.lr_schedule, self.plan.learn_rate, int(opts.steps),
                                      self.plan.warmup_steps, float(opts.min_lr), cur)
        self.clip_sched = None
        if opts.clip_grad_mode:
            self.clip_sched = make_schedule("webui", opts.clip_grad_value, int(opts.steps), 0, 0.0, cur)
        self.network.to(self.device)
        self.network.train()
        params = list(self.network.parameters())
        self.optimizer = optimizer_class(self.plan.optimizer)(params, lr=1e-3, **opts.optimizer_args)
        self.amp_dtype = None
        if opts.mixed_precision:
            if self.device.type == "cuda":
                self.amp_dtype = torch.float16 if opts.mixed_precision == "fp16" else torch.bfloat16
            else:
                print(f"[hypernetworks] mixed precision {opts.mixed_precision} needs CUDA; training in fp32")
        self.scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None
        self._cond_cache: dict[tuple, dict] = {}
        os.makedirs(opts.output_dir, exist_ok=True)
        self.log = losslog.LossLog(os.path.join(opts.output_dir, f"{self.name}-loss.csv"))
        if state:
            self._load_state(state)
        self.log.truncate_after(self.step)
        self._resume_state = self._capture()

    def _capture(self) -> dict:
        state = {
            "step": self.step, "seed": int(self.options.seed), "generator": self.gen.get_state().clone(),
            "order": self.order.state_dict(), "dataset": self.dataset.state_dict(),
            "lr_schedule": self.lr_sched.state_dict(), "schedule_origin": self._sched_origin,
        }
        if self.clip_sched is not None:
            state["clip_schedule"] = self.clip_sched.state_dict()
        if self.scaler is not None:
            state["scaler"] = self.scaler.state_dict()
        return state

    def _load_state(self, state: dict) -> None:
        if int(state.get("step", -1)) != self.step:
            raise HypernetError(f"training state is for step {state.get('step')} but the network records step "
                                f"{self.step}; the sidecar does not belong to this file")
        if state.get("optimizer_name", self.plan.optimizer) != self.plan.optimizer:
            print(f"[hypernetworks] optimizer changed from {state['optimizer_name']} to {self.plan.optimizer}; "
                  f"starting it fresh")
        elif "optimizer" in state:
            self.optimizer.load_state_dict(state["optimizer"])
        self.gen.set_state(state["generator"])
        self.order.load_state_dict(state["order"])
        self.dataset.load_state_dict(state["dataset"])
        self.lr_sched.load_state_dict(state["lr_schedule"])
        if self.clip_sched is not None and "clip_schedule" in state:
            self.clip_sched.load_state_dict(state["clip_schedule"])
        if self.scaler is not None and "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])

    # -- one step -------------------------------------------------------------------------------------
    def _conditioning(self, indices: list[int], texts: list[str]) -> dict:
        sizes = [self.dataset.entries[i].size for i in indices]
        keys = [(t, s) for t, s in zip(texts, sizes)]
        missing = [k for k in dict.fromkeys(keys) if k not in self._cond_cache]
        if missing:
            with torch.no_grad():
                cond = self.host.encode_text([k[0] for k in missing], [k[1] for k in missing])
            parts = cond_split(cond, len(missing))
            bad = [k[0] for k, part in zip(missing, parts) if not _finite(list(_cond_tensors(part)))]
            if bad:
                # no learning rate makes this train: the host's own txt2img with such a prompt fails alike
                raise HypernetError(
                    f"the model's text encoder gave non-finite values (NaN/inf) for the prompt "
                    f"{', '.join(repr(t) for t in bad[:3])}{' and more' if len(bad) > 3 else ''}, so no step can "
                    f"learn from it (the learning rate is not the cause); stopped without saving this run. Check "
                    f"that prompt (caption or template) with the host's txt2img, or the checkpoint's text encoder")
            if len(self._cond_cache) + len(missing) > _COND_CACHE_SIZE:
                self._cond_cache.clear()
            for k, part in zip(missing, parts):
                self._cond_cache[k] = cond_to(part, self.device)
        return cond_cat([self._cond_cache[k] for k in keys])

    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast("cuda", dtype=self.amp_dtype)

    @contextlib.contextmanager
    def _dropout_rng(self, seed: int):
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.default_generator.manual_seed(seed)
            if devices:
                torch.cuda.manual_seed(seed)
            yield

    def _micro_batch(self, indices, t):
        latents, noises, weights = [], [], []
        for i in indices:
            lat = self.dataset.latent_for(i, self.gen)
            latents.append(lat)
            noises.append(torch.randn(lat.shape, generator=self.gen, dtype=lat.dtype))
            weights.append(self.dataset.entries[i].weight)
        texts = [self.dataset.text_for(i) for i in indices]
        x0 = torch.stack(latents).to(self.device)
        noise = torch.stack(noises).to(self.device)
        weight = None
        if any(w is not None for w in weights):
            weight = torch.stack([w if w is not None else torch.ones(1, *x0.shape[-2:]) for w in weights])
        return x0, noise, t.to(self.device), self._conditioning(indices, texts), weight, texts

    def _train_step(self):
        """One optimizer step; returns (loss, lr, first prompt) or None when the schedule ended / interrupted."""
        lr = self.lr_sched.advance(self.step)
        if self.lr_sched.finished:
            return None
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        clip = self.clip_sched.advance(self.step) if self.clip_sched is not None else None
        batches = [self.order.next() for _ in range(int(self.options.gradient_accumulation))]
        total = sum(len(b) for b in batches)
        t_all = torch.randint(0, self.noise.num_timesteps, (total,), generator=self.gen)
        seed = int(torch.randint(0, 2 ** 62, (1,), generator=self.gen))
        self.optimizer.zero_grad(set_to_none=True)
        loss_sum, offset, first_prompt = 0.0, 0, None
        with self._dropout_rng(seed):
            for indices in batches:
                if self.interrupted:
                    self.optimizer.zero_grad(set_to_none=True)
                    return None
                x0, noise, t, cond, weight, texts = self._micro_batch(indices, t_all[offset:offset + len(indices)])
                first_prompt = first_prompt or texts[0]
                offset += len(indices)
                with self._autocast():
                    loss = compute_loss(self.host.apply_unet, self.noise, self.host.prediction_type,
                                        x0, t, noise, cond, weight, getattr(self.host, "target_for", None))
                scaled = loss * (len(indices) / total)
                (self.scaler.scale(scaled) if self.scaler else scaled).backward()
                loss_sum += float(loss.detach()) * len(indices)
        if self.scaler:
            self.scaler.unscale_(self.optimizer)
        params = list(self.network.parameters())
        if self.options.clip_grad_mode == "value":
            torch.nn.utils.clip_grad_value_(params, clip)
        elif self.options.clip_grad_mode == "norm":
            torch.nn.utils.clip_grad_norm_(params, clip)
        loss = loss_sum / total
        if not math.isfinite(loss):
            self.optimizer.zero_grad(set_to_none=True)
            if self.step == self.start_step:
                # nothing of this run has changed the network yet: not a divergence, whatever the learning rate
                raise HypernetError(
                    f"the loss was {loss} at step {self.step + 1}, before this run changed the network, so the "
                    f"learning rate is not the cause: the model's prediction for this batch is not finite (the "
                    f"prompt: {first_prompt!r}); nothing was trained")
            # the previous step's update already broke the network: nothing of it is saved
            why = self._diverged(loss, lr, "the loss")
            raise HypernetError(
                f"training diverged: the loss became {loss} at step {self.step + 1} (learning rate {lr:g}); "
                f"stopped without saving this run's last state (the last snapshot on disk, if any, is the last "
                f"good one). {why}")
        if self.scaler:
            self.scaler.step(self.optimizer)  # the scaler skips a step whose gradients overflowed, as fp16 needs
            self.scaler.update()
        elif not _finite([p.grad for p in params if p.grad is not None]):
            self.optimizer.zero_grad(set_to_none=True)
            saved = self.save_snapshot() if self.step > self.start_step else None
            why = self._diverged(float("nan"), lr, "the gradients")
            raise HypernetError(
                f"training diverged: non-finite gradients at step {self.step + 1} (learning rate {lr:g}); the step "
                f"was not applied" + (f", the network as it was is saved as {saved}" if saved else "")
                + f". {why}")
        else:
            self.optimizer.step()
        return loss, lr, first_prompt

    def _diverged(self, value: float, lr: float, what: str) -> str:
        """Explain a non-finite loss or gradient in the progress (job status, tab) and return the explanation."""
        why = self.watch.non_finite(self.step + 1, value, lr, what)
        self._report(warning=why, suggested_learn_rate=self.watch.suggested)
        return why[0].upper() + why[1:]

    # -- saving ---------------------------------------------------------------------------------------
    def _metadata(self) -> dict:
        meta = {}
        if self.base_model.get("hash"):
            meta["sd_checkpoint"] = self.base_model["hash"]
        if self.base_model.get("name"):
            meta["sd_checkpoint_name"] = self.base_model["name"]
        if self.base_model.get("family"):
            meta["sd_family"] = self.base_model["family"]
        return meta

    def _protected(self) -> str | None:
        return None if self.options.overwrite_source else self.source_path

    def save_snapshot(self) -> str:
        path = snapshot.snapshot_path(self.options.output_dir, self.name, self.step, self.options.save_format)
        snapshot.save_network(self.network, path, self.step, self.name, self._metadata(), protect=self._protected())
        if self.options.save_optimizer_state:
            state = dict(self._resume_state)
            snapshot.save_sidecar(path, self.plan.optimizer, self.optimizer.state_dict(), state)
        self.progress.last_snapshot = path
        return path

    def _preview(self, prompt: str | None) -> None:
        render = getattr(self.host, "preview", None)
        if render is None:
            return
        prompt = self.options.preview_prompt or prompt or ""
        self.network.eval()
        try:
            with torch.random.fork_rng(devices=[]), torch.no_grad():
                image = render(prompt, self.step, self.network)
        finally:
            self.network.train()
        if image is None:
            return
        folder = os.path.join(self.options.output_dir, "images")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"{self.name}-{self.step}.png")
        image.save(path)
        self.progress.last_preview = path
        if self.on_preview:
            self.on_preview(path, image)

    def _plot(self) -> None:
        path = os.path.join(self.options.output_dir, f"{self.name}-loss.png")
        self.progress.loss_plot = losslog.plot(self.log.steps, self.log.losses, path, f"{self.name} loss")

    def _report(self, **changes) -> None:
        for key, value in changes.items():
            setattr(self.progress, key, value)
        if self.on_progress:
            self.on_progress(self.progress)

    # -- the run --------------------------------------------------------------------------------------
    def run(self) -> TrainResult:
        opts = self.options
        self._setup()
        print(f"[hypernetworks] training {self.name}: {self.plan.note}")
        self._report(status="training", phase="step", step=self.step, epoch=self.order.epoch, message=self.plan.note)
        if self.step >= opts.steps:
            self._report(status="done", message=f"already trained to step {self.step} (max {opts.steps})")
            self.network.eval()
            return TrainResult(self.progress, self.losses)
        patcher = self._patcher or attach(self.host.unet)
        old_chain = list(patcher.chain)
        patcher.set_chain([ChainEntry(self.network, 1.0, force=True, label=self.name)])
        patcher.set_step(None, None)
        status = "done"
        started = time.perf_counter()
        try:
            with frozen_for_training(self.host.unet, opts.gradient_checkpointing):
                while self.step < opts.steps:
                    if self.interrupted:
                        status = "interrupted"
                        break
                    out = self._train_step()
                    if out is None:
                        status = "interrupted" if self.interrupted else "done"
                        break
                    loss, lr, prompt = out
                    self.step += 1
                    self._resume_state = self._capture()
                    self.losses.append(loss)
                    elapsed = time.perf_counter() - started
                    done = self.step - self.start_step
                    write = opts.csv_every > 0 and self.step % opts.csv_every == 0
                    self.log.append(self.step, loss, lr, self.order.epoch, elapsed, write=write)
                    rate = done / elapsed if elapsed > 0 else None
                    eta = (opts.steps - self.step) / rate if rate else None
                    rising = self.watch.add(self.step, loss, lr)
                    if rising:
                        print(f"[hypernetworks] {self.name}: {rising}")
                        self.progress.warning, self.progress.suggested_learn_rate = rising, self.watch.suggested
                    # the step is reported first; what follows it at this step names its phase
                    self._report(phase="step", step=self.step, loss=loss, learn_rate=lr, epoch=self.order.epoch,
                                 steps_per_second=rate, eta_seconds=eta)
                    extra = False
                    if opts.save_every and self.step % opts.save_every == 0:
                        self._report(phase="snapshot")
                        self.save_snapshot()
                        extra = True
                    if opts.preview_every and self.step % opts.preview_every == 0:
                        self._report(phase="preview")
                        self._preview(prompt)
                        extra = True
                    if opts.plot_every and self.step % opts.plot_every == 0:
                        self._plot()
                    if extra and self.step < opts.steps:
                        self._report(phase="step")
            self._finish(status)
        except BaseException as e:
            self._report(status="error", message=f"{type(e).__name__}: {e}")
            raise
        finally:
            if self._patcher is None:
                patcher.remove()
            else:
                patcher.set_chain(old_chain)
            self.network.eval()
        return TrainResult(self.progress, self.losses)

    def _finish(self, status: str) -> None:
        opts = self.options
        final = self.progress.last_snapshot
        trained = self.step > self.start_step
        snap = snapshot.snapshot_path(opts.output_dir, self.name, self.step, opts.save_format)
        if trained and final != snap:
            self._report(phase="snapshot")
            final = self.save_snapshot()
        if trained and opts.overwrite_source and self.source_path:
            snapshot.save_network(self.network, self.source_path, self.step, self.name, self._metadata())
            final = self.source_path
        if self.log.steps:
            self._plot()
        what = "stopped by interrupt" if status == "interrupted" else "finished"
        self._report(status=status, phase="finished", final=final, step=self.step,
                     message=f"{what} at step {self.step}" + (f"; saved {final}" if final else ""))


def _cond_tensors(cond: dict):
    for value in cond.values():
        if isinstance(value, dict):
            yield from _cond_tensors(value)
        elif torch.is_tensor(value) and value.is_floating_point():
            yield value


def _finite(tensors) -> bool:
    """Whether every tensor is free of inf/NaN, with one host-device sync for all of them."""
    return not tensors or bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all())
