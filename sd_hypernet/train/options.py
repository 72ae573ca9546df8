"""Every training setting, with the webui's defaults where it has one, checked before a run starts."""
from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field

import torch

from ..errors import HypernetError
from ..names import check_name
from .dataset import LATENT_SAMPLING, SIZE_MODES
from .schedules import make_schedule, parse_webui_schedule

CLIP_MODES = (None, "value", "norm")
PRECISIONS = (None, "fp16", "bf16")
SAVE_FORMATS = (".safetensors", ".pt")


AUTO = "auto"
# learn_rate "auto" with AdamW (the default): this rate after a linear warm-up of AUTO_WARMUP_SHARE of the steps
# (at most AUTO_WARMUP_MAX), then constant. Adam moves a weight by about the rate per step whatever the gradient's
# scale, so 1e-4 is 1 % of a fresh network's weight scale (N(0, 0.01)) per step; measured in docs/DESIGN.md.
AUTO_ADAMW_LR = 1e-4
AUTO_WARMUP_SHARE = 0.05
AUTO_WARMUP_MAX = 100


def prodigy_class():
    """prodigyopt's Prodigy (a learning-rate-free Adam), or None where the package is not installed."""
    try:
        from prodigyopt import Prodigy
    except ImportError:
        return None
    return Prodigy


@dataclass
class Plan:
    """What a run's options resolve to: the optimizer, its schedule, and in words why."""
    optimizer: str
    learn_rate: str
    lr_schedule: str
    warmup_steps: int
    note: str


def resolve(opts: "TrainOptions") -> Plan:
    """`optimizer` "auto" is AdamW. `learn_rate` "auto" (the default): AdamW-calibrated warm-up then constant
    (AUTO_ADAMW_LR), or Prodigy's own multiplier 1 when Prodigy is chosen (it estimates its step size). A given
    learn_rate is used as written (webui schedule syntax) with the chosen optimizer."""
    steps, warmup = int(opts.steps), int(opts.warmup_steps)
    name = "AdamW" if str(opts.optimizer) == AUTO else str(opts.optimizer)
    if str(opts.learn_rate).strip().lower() != AUTO:
        return Plan(name, str(opts.learn_rate), opts.lr_schedule, warmup, f"{name}, learning rate {opts.learn_rate}")
    if name == "Prodigy":
        return Plan(name, "1.0", opts.lr_schedule, warmup, "Prodigy (learning-rate-free): it sets its own step size")
    warmup = warmup or max(1, min(AUTO_WARMUP_MAX, int(steps * AUTO_WARMUP_SHARE)))
    return Plan(name, repr(AUTO_ADAMW_LR), opts.lr_schedule, warmup,
                f"{name}, learning rate auto: {AUTO_ADAMW_LR:g} after {warmup} warm-up steps")


def optimizer_class(name: str):
    if str(name) == "Prodigy":
        cls = prodigy_class()
        if cls is None:
            raise HypernetError("optimizer 'Prodigy' needs the prodigyopt package (pip install prodigyopt)")
        return cls
    cls = getattr(torch.optim, str(name), None)
    if not (inspect.isclass(cls) and issubclass(cls, torch.optim.Optimizer)):
        known = sorted(n for n, c in vars(torch.optim).items() if inspect.isclass(c)
                       and issubclass(c, torch.optim.Optimizer) and c is not torch.optim.Optimizer)
        raise HypernetError(f"optimizer {name!r} is not in torch.optim; known: {', '.join(known)}")
    return cls


@dataclass
class TrainOptions:
    output_dir: str                          # snapshots, previews, loss log
    steps: int = 100000                      # total optimizer steps (the network's recorded step counts)
    learn_rate: str = AUTO                   # "auto" (see resolve), webui schedule syntax, or the peak for "cosine"
    lr_schedule: str = "webui"               # "webui" | "cosine"
    warmup_steps: int = 0
    min_lr: float = 0.0                      # the cosine floor
    batch_size: int = 1
    gradient_accumulation: int = 1
    clip_grad_mode: str | None = None        # None | "value" | "norm"
    clip_grad_value: str = "0.1"             # a schedule too, as in the webui
    optimizer: str = AUTO                    # "auto" = AdamW; any torch.optim name, or "Prodigy" (prodigyopt)
    optimizer_args: dict = field(default_factory=dict)
    mixed_precision: str | None = None       # None | "fp16" | "bf16" (CUDA only)
    gradient_checkpointing: bool = False
    seed: int = 0
    save_every: int = 500                    # 0: only the final save
    save_format: str = ".safetensors"
    save_optimizer_state: bool = True
    overwrite_source: bool = False           # also write the result over the file training started from
    preview_every: int = 500                 # 0: never
    preview_prompt: str = ""                 # "" = the first prompt of the step's batch
    csv_every: int = 1
    plot_every: int = 100
    name: str | None = None                  # base name of the snapshots; default the network's name
    # dataset (used by build_dataset in the hosts)
    data_root: str = ""
    template: str = "style_filewords"
    width: int = 0                           # 0: from the dataset (sizing.suggested_size), resolved by the host
    height: int = 0
    size_mode: str = "fixed"
    shuffle_tags: bool = False
    tag_drop_out: float = 0.0
    latent_sampling: str = "once"
    use_alpha_weight: bool = False

    def validate(self) -> "TrainOptions":
        def need(cond, msg):
            if not cond:
                raise HypernetError(f"training option {msg}")
        need(int(self.steps) > 0, f"steps={self.steps}: must be > 0")
        need(int(self.batch_size) >= 1, f"batch_size={self.batch_size}: must be >= 1")
        need(int(self.gradient_accumulation) >= 1,
             f"gradient_accumulation={self.gradient_accumulation}: must be >= 1")
        need(self.clip_grad_mode in CLIP_MODES, f"clip_grad_mode={self.clip_grad_mode!r}: expected value, norm or None")
        need(self.mixed_precision in PRECISIONS,
             f"mixed_precision={self.mixed_precision!r}: expected fp16, bf16 or None")
        need(self.save_format in SAVE_FORMATS, f"save_format={self.save_format!r}: expected .safetensors or .pt")
        need(self.size_mode in SIZE_MODES, f"size_mode={self.size_mode!r}: expected one of {SIZE_MODES}")
        need(self.latent_sampling in LATENT_SAMPLING,
             f"latent_sampling={self.latent_sampling!r}: expected {LATENT_SAMPLING}")
        need(0 <= float(self.tag_drop_out) < 1, f"tag_drop_out={self.tag_drop_out}: must be in [0, 1)")
        need(int(self.warmup_steps) >= 0, f"warmup_steps={self.warmup_steps}: must be >= 0")
        need(int(self.width) % 8 == 0 and int(self.height) % 8 == 0 and int(self.width) >= 0 and int(self.height) >= 0,
             f"width/height {self.width}x{self.height}: must be multiples of 8 (0: from the dataset)")
        need(self.output_dir, "output_dir: must be set")
        if self.name is not None:
            check_name(self.name, "training option name")
        plan = resolve(self)
        optimizer_class(plan.optimizer)
        make_schedule(plan.lr_schedule, plan.learn_rate, int(self.steps), plan.warmup_steps, float(self.min_lr))
        if self.clip_grad_mode:
            parse_webui_schedule(self.clip_grad_value, int(self.steps))
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainOptions":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise HypernetError(f"unknown training option(s): {', '.join(unknown)}")
        return cls(**{key: _coerce(key, value) for key, value in data.items()})


_NUMBER_FIELDS = {f.name: type(f.default) for f in dataclasses.fields(TrainOptions)
                  if type(f.default) in (int, float) and not isinstance(f.default, bool)}


def _coerce(key: str, value):
    """A number field given as text ("500") is read; one that is no number is named in the error."""
    kind = _NUMBER_FIELDS.get(key)
    if kind is None or value is None:
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise HypernetError(f"training option {key}={value!r}: expected a number") from None
    if kind is int:
        if number != int(number):
            raise HypernetError(f"training option {key}={value!r}: expected a whole number")
        return int(number)
    return number
