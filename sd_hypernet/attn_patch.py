"""A chain as attention patches of the patch API ComfyUI defined (and Forge copied): callables a transformer block
calls as `n, context, value = patch(n, context, value, extra_options)` before its to_q/to_k/to_v.

Host-free: no ComfyUI or Forge import. `extra_options` carries `block` (("input", 4), ("middle", 0), ...), and in
sampling `sigmas` (this model call's sigma tensor, a new object per call) and, on ComfyUI, `sample_sigmas` (the
pass's schedule). The attn1 patch (self) and attn2 patch (cross) of one chain share one `PatchChain`: one
per-call cache, one model-call marker, one step look-up.
"""
from __future__ import annotations

import copy
import dataclasses

import torch

from . import control
from .hook import ChainApplier

SIGMA_RANGE = "sigma_range"  # ChainEntry.extra key: (sigma at start, sigma at end), ComfyUI's start/end_percent
_UNSEEN = object()


def block_of(extra_options) -> str | None:
    """LoRA-Block-Weight name of the block a patch is called in ("IN04", "MID", "OUT03"), None when unknown."""
    block = extra_options.get("block")
    if not block:
        return None
    try:
        return control.block_name(block[0], block[1])
    except (ValueError, TypeError, IndexError):
        return None  # ("last", 0) and anything new


def step_at(schedule, sigma: float | None) -> tuple[int | None, int | None]:
    """(step, total) of a sigma in a schedule of total+1 sigmas: step i covers (schedule[i+1], schedule[i]]."""
    if schedule is None or sigma is None or len(schedule) < 2:
        return None, None
    above = int((schedule[:-1] >= sigma * (1 - 1e-5)).sum())
    return max(above - 1, 0), len(schedule) - 1


def sigma_range(entry) -> tuple[float, float] | None:
    return entry.extra.get(SIGMA_RANGE) if entry.extra else None


def in_sigma_range(entry, sigma: float | None) -> bool:
    """Active while sigma_end <= sigma <= sigma_start, as ComfyUI's own timestep ranges; always without a sigma."""
    rng = sigma_range(entry)
    if rng is None or sigma is None:
        return True
    start, end = rng
    return end <= sigma <= start


class PatchChain:
    """What the attn1 and attn2 patches of one model share: the chain, the applier with its per-call cache, the step
    clock, and the networks on the model's device.

    A deep copy (ComfyUI's `ModelPatcher.clone()` deep-copies `model_options`) is a fresh chain over the same entries:
    no cache, step or device copy is shared with the source. The entries' networks (read-only, on the CPU) are
    shared; `to(device)` works on private copies, so moving one model never moves another's networks."""

    def __init__(self, entries, apply_to_self: bool = True, on_error=None):
        self.entries = list(entries)
        self.apply_to_self = apply_to_self
        self.on_error = on_error  # fn(chain, exception): a network failed inside a model call
        self.device: torch.device | None = None
        self._copies: dict[int, object] = {}
        self._build(self.entries)

    def _build(self, entries) -> None:
        self.applier = ChainApplier(entries, self.apply_to_self)
        self.timed = any(e.has_step_range or sigma_range(e) is not None for e in entries)
        self.tables: dict[str, dict] = {"self": {}, "cross": {}}
        self._table_active = self.applier.active

    def __deepcopy__(self, memo):
        return PatchChain(self.entries, self.apply_to_self, self.on_error)

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.entries]

    # -- device --------------------------------------------------------------------------------------------
    def to(self, target) -> "PatchChain":
        """Follow the model: a device gets device copies of the networks; a dtype changes nothing (the networks
        compute in fp32 and hand back the model's dtype, as the webui's casts do)."""
        if isinstance(target, torch.dtype) or target is None:
            return self
        device = torch.device(target)
        if device == self.device:
            return self
        self.device = device
        if device.type == "cpu":
            entries = self.entries
            self._copies = {}
        else:
            entries = [dataclasses.replace(e, network=self._on(e.network, device)) for e in self.entries]
        self._build(entries)
        return self

    def _on(self, network, device):
        found = self._copies.get(id(network))
        if found is None or found.device() != device:
            with torch.inference_mode(False), torch.no_grad():
                found = copy.deepcopy(network).to(device)
            self._copies[id(network)] = found
        return found

    @property
    def networks(self) -> list:
        """The networks the patches compute with now (device copies after `to(device)`)."""
        return [e.network for e in self.applier.chain]

    # -- one call ------------------------------------------------------------------------------------------
    def begin(self, extra_options) -> None:
        """Mark a new model call when this call's sigma tensor is new; with a step range, pick the active entries."""
        applier = self.applier
        sigmas = extra_options.get("sigmas")
        if sigmas is None:
            applier.new_call()  # no call marker outside sampling: trust nothing cached for inference tensors
            return
        if sigmas is applier.call_key:
            return
        applier.call_key = sigmas
        applier.new_call()
        if self.timed:
            sigma = float(sigmas.reshape(-1)[0])  # one host-device sync per model call, only with a range
            step, total = step_at(extra_options.get("sample_sigmas"), sigma)
            applier.step, applier.total = step, total
            applier.set_active([e for e in applier.chain if e.active_at(step, total) and in_sigma_range(e, sigma)])

    def multipliers(self, kind: str, extra_options, width: int):
        """The site's multipliers for the active entries, None when nothing applies there."""
        applier = self.applier
        if self._table_active is not applier.active:
            self._table_active = applier.active
            for table in self.tables.values():
                table.clear()
        table = self.tables[kind]
        key = (extra_options.get("block"), width)
        mults = table.get(key, _UNSEEN)
        if mults is _UNSEEN:
            mults = applier.multipliers(width, kind, block_of(extra_options))
            mults = table[key] = mults if any(mults) else None
        return mults

    def failed(self, error: Exception) -> None:
        chain = list(self.applier.chain)
        self.applier.drop_chain()  # every patch lets its input through from now on
        if self.on_error is not None and chain:
            self.on_error([e.name for e in chain], error)


class AttnPatch:
    """One attention kind's patch ("self" → attn1_patch, "cross" → attn2_patch) over a shared PatchChain."""

    def __init__(self, chain: PatchChain, kind: str):
        self.chain = chain
        self.kind = kind

    def __call__(self, n, context, value, extra_options):
        chain = self.chain
        try:
            chain.begin(extra_options)
            mults = chain.multipliers(self.kind, extra_options, context.shape[-1])
            if mults is None:
                return n, context, value
            k, v = chain.applier.lookup(context, self.kind, mults)
            if value is not context:  # a patch before ours changed k and v apart: v goes on from its own input
                v = chain.applier.lookup(value, self.kind, mults)[1]
            return n, k, v
        except Exception as e:  # a generation never fails because of us: the chain is dropped for this model
            chain.failed(e)
            return n, context, value

    def to(self, target) -> "AttnPatch":
        self.chain.to(target)
        return self

    def __repr__(self):
        return f"AttnPatch({self.kind}, {', '.join(self.chain.names)})"
