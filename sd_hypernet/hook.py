"""Attach a chain of hypernetworks to any UNet whose attention modules have `to_k`/`to_v` layers."""
from __future__ import annotations

import contextlib
import functools
import re
import weakref

import torch

from .control import ChainEntry, as_chain, block_name
from .network import CONTEXT_DIM_FAMILY, transform_pair


def apply_chain(chain, context: torch.Tensor, kind: str | None = None, block: str | None = None):
    """(k, v) for a context: each network in order on separate k and v streams, as the webui composes them."""
    ctx_k = ctx_v = context
    for entry in as_chain(chain):
        multiplier = entry.effective_multiplier(kind, block)
        pair = entry.network.layers.get(ctx_k.shape[-1])
        if pair is None or multiplier == 0:
            continue
        ctx_k, ctx_v = transform_pair(pair, ctx_k, ctx_v, multiplier, entry.network)
    return ctx_k, ctx_v


def _autocast_device(t: torch.Tensor) -> str | None:
    device_type = t.device.type
    try:
        return device_type if torch.is_autocast_enabled(device_type) else None
    except TypeError:  # torch < 2.4 takes no device argument
        return device_type if torch.is_autocast_enabled() else None


class _Slot:
    """A cached context: a weak reference proves identity, the stamp proves no in-place change."""
    __slots__ = ("ref", "stamp", "results")

    def __init__(self, ref, stamp):
        self.ref, self.stamp = ref, stamp
        self.results: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


class ChainApplier:
    """Runs a chain for one attention call, and computes a context only once per chain and multipliers.

    All cross-attention layers of one UNet call get the same context tensor object, and to_k/to_v of one
    attention get the same input: the result is cached against that exact tensor object. A weak reference proves
    identity; the stamp proves the tensor was not modified in place since: its version counter for a normal
    tensor, the model call for an inference tensor (Forge and reForge sample under `torch.inference_mode()`, whose
    tensors keep no version counter): the host calls `new_call()` before each model call, so such a result never
    outlives the call it was computed in. The cache dies with the tensor.
    """

    def __init__(self, chain=(), apply_to_self: bool = True):
        self.chain: list[ChainEntry] = as_chain(chain)
        self.apply_to_self = apply_to_self
        self.step: int | None = None
        self.total: int | None = None
        self.active: list[ChainEntry] = list(self.chain)
        self.training = any(e.network.training for e in self.chain)
        self.hits = 0
        self.misses = 0
        self.call_stamp = ("call", 0)
        self.call_key = None  # what marks the current model call where no UNet hook does (Forge: its sigmas)
        # One entry per attention kind: a self-attention call between two cross-attention calls of one
        # UNet call must not evict the cross-attention context, which all 16 (SD1) layers share.
        self._slots: dict[str | None, _Slot] = {}
        # Training: per hooked site, the v half of the pair its to_k hook computed, until its to_v hook takes it
        self._held: dict[int, tuple] = {}
        self._sites: list[tuple[int, str, str | None]] = []  # (width, kind, block) of the hooked sites
        self.table: list[tuple | None] = []                  # per hooked site: its multipliers now, None = off

    def new_call(self) -> None:
        """A new model call starts: cached results for inference tensors are no longer trusted."""
        self.call_stamp = ("call", self.call_stamp[1] + 1)
        self._held = {}

    def set_sites(self, sites) -> None:
        """The (width, kind, block) of each hooked site, in hook order; `table` follows every step change."""
        self._sites = list(sites)
        self._fill_table()

    def _fill_table(self) -> None:
        table = []
        for width, kind, block in self._sites:
            mults = self.multipliers(width, kind, block)
            table.append(mults if any(mults) else None)
        self.table = table

    def drop_chain(self) -> None:
        """Apply nothing from now on (a network failed): every site's multipliers become None."""
        self.chain, self.active = [], []
        self.clear_cache()
        self._fill_table()

    def set_step(self, step: int | None, total: int | None = None) -> None:
        self.step, self.total = step, total
        self.set_active([e for e in self.chain if e.active_at(step, total)])

    def set_active(self, active) -> None:
        """The entries that apply now (a host with its own notion of a step range, e.g. ComfyUI's sigmas)."""
        if [id(e) for e in active] != [id(e) for e in self.active]:
            self.clear_cache()  # results are keyed by multipliers, which another set of networks can share
            self.active = list(active)
            self._fill_table()

    def clear_cache(self) -> None:
        self._slots = {}
        self._held = {}

    def _forget(self, kind, ref) -> None:
        slot = self._slots.get(kind)
        if slot is not None and slot.ref is ref:
            del self._slots[kind]

    def cached_results(self) -> int:
        """How many results the cache holds now (at most one context per attention kind)."""
        return sum(len(slot.results) for slot in self._slots.values())

    def multipliers(self, width: int, kind: str | None, block: str | None) -> tuple:
        if kind == "self" and not self.apply_to_self:
            return ()
        return tuple(e.effective_multiplier(kind, block) if width in e.network.layers else 0.0 for e in self.active)

    def transform(self, context: torch.Tensor, kind: str | None = None, block: str | None = None):
        mults = self.multipliers(context.shape[-1], kind, block)
        if not any(mults):
            return context, context
        return self.lookup(context, kind, mults)

    def lookup(self, context: torch.Tensor, kind: str | None, mults: tuple):
        """(k, v) for `context` at these multipliers, from the cache when the same tensor was seen unchanged."""
        if self.training:
            # Training: every layer gets its own dropout draw and its own graph, as in the webui (the hooks share
            # one computation between a site's to_k and to_v: site_pair)
            return self._compute(context, mults)
        stamp = self.call_stamp if context.is_inference() else context._version
        slot = self._slots.get(kind)
        if slot is not None and slot.ref() is context and slot.stamp == stamp:
            found = slot.results.get(mults)
            if found is not None:
                self.hits += 1
                return found
        else:
            slot = _Slot(weakref.ref(context, functools.partial(self._forget, kind)), stamp)
            self._slots[kind] = slot
        self.misses += 1
        result = self._compute(context, mults)
        slot.results[mults] = result
        return result

    def site_pair(self, site: int, which: int, context: torch.Tensor, mults: tuple):
        """Training: (k, v) for one attention call of hooked site `site`, each MLP run once per call.

        The to_k hook (`which` 0) computes the pair, with fresh dropout draws and its own graph, and leaves v for
        the site's to_v hook, which takes it when it gets the same context tensor unchanged (identity and stamp,
        as the cache). A to_v hook that finds nothing it can take computes its own pair and keeps v (hosts that
        feed to_v another tensor, or call it first). The taken pair is dropped at once, so every call draws anew.
        """
        stamp = self.call_stamp if context.is_inference() else context._version
        if which == 1:
            held = self._held.pop(site, None)
            if held is not None and held[0]() is context and held[1] == stamp and held[2] == mults:
                self.hits += 1
                return held[3]
        self.misses += 1
        pair = self._compute(context, mults)
        if which == 0:
            self._held[site] = (weakref.ref(context), stamp, mults, pair)
        return pair

    def _compute(self, context, mults):
        device_type = _autocast_device(context)
        with torch.autocast(device_type, enabled=False) if device_type else contextlib.nullcontext():
            ctx_k = ctx_v = context
            width = context.shape[-1]
            for entry, m in zip(self.active, mults):
                if m:  # a non-zero multiplier means the network has this width
                    ctx_k, ctx_v = transform_pair(entry.network.layers[width], ctx_k, ctx_v, m, entry.network)
            return ctx_k, ctx_v


_BLOCK_PATTERNS = (
    (re.compile(r"(?:^|\.)input_blocks\.(\d+)\."), "input"),
    (re.compile(r"(?:^|\.)middle_block\."), "middle"),
    (re.compile(r"(?:^|\.)output_blocks\.(\d+)\."), "output"),
)
_DIFFUSERS_BLOCK = re.compile(r"(?:^|\.)(down|up)_blocks\.(\d+)\.attentions\.(\d+)\.")


def _layers_per_block(unet) -> int:
    config = getattr(unet, "config", None)
    value = getattr(config, "layers_per_block", None) if config is not None else None
    if isinstance(value, (list, tuple)):
        value = value[0]
    return int(value) if value else 2


def site_block(name: str, layers_per_block: int = 2) -> str | None:
    """LoRA-Block-Weight block name of an attention module, from its path in an ldm/sgm or diffusers UNet."""
    for pattern, section in _BLOCK_PATTERNS:
        m = pattern.search(name + ".")
        if m:
            return block_name(section, int(m.group(1)) if m.groups() else None)
    if re.search(r"(?:^|\.)mid_block\.", name + "."):
        return "MID"
    m = _DIFFUSERS_BLOCK.search(name + ".")
    if m:
        level, index = int(m.group(2)), int(m.group(3))
        if m.group(1) == "down":
            return block_name("input", 1 + level * (layers_per_block + 1) + index)
        return block_name("output", level * (layers_per_block + 1) + index)
    return None


def _width(layer) -> int | None:
    width = getattr(layer, "in_features", None)
    if width is None:
        weight = getattr(layer, "weight", None)
        if isinstance(weight, torch.Tensor) and weight.dim() == 2:
            width = weight.shape[1]
    return int(width) if width is not None else None


layer_width = _width  # public: the input width of a Linear-like layer (hosts read site widths with it)


class Site:
    """One attention module the patcher hooks: its path, self or cross, and its block."""

    def __init__(self, name: str, module, kind: str, block: str | None):
        self.name, self.module, self.kind, self.block = name, module, kind, block

    def __repr__(self):
        return f"Site({self.name!r}, {self.kind}, {self.block})"


def touches(site: Site, chain, apply_to_self: bool = True) -> bool:
    """Whether any network of the chain can change this site at some step (its width, kind and block)."""
    if site.kind == "self" and not apply_to_self:
        return False
    width = _width(site.module.to_k)
    return any(width in e.network.layers and e.effective_multiplier(site.kind, site.block) != 0
               for e in as_chain(chain))


def find_sites(unet) -> list[Site]:
    lpb = _layers_per_block(unet)
    sites = []
    for name, module in unet.named_modules():
        to_k, to_v = getattr(module, "to_k", None), getattr(module, "to_v", None)
        if not isinstance(to_k, torch.nn.Module) or not isinstance(to_v, torch.nn.Module):
            continue
        leaf = name.rsplit(".", 1)[-1]
        if leaf in ("attn1", "attn2"):
            kind = "self" if leaf == "attn1" else "cross"
        else:
            to_q = getattr(module, "to_q", None)
            kind = "self" if to_q is not None and _width(to_q) == _width(to_k) else "cross"
        sites.append(Site(name, module, kind, site_block(name, lpb)))
    return sites


def site_widths(sites) -> set[int]:
    """Every input width the sites' to_k layers take (self-attention widths and the context width)."""
    return {w for w in (_width(s.module.to_k) for s in sites) if w is not None}


def cross_attention_width(sites) -> int | None:
    """The context width of the UNet's cross-attention (768 SD1, 1024 SD2, 2048 SDXL), from its first to_k."""
    cross = [s for s in sites if s.kind == "cross"]
    return _width(cross[0].module.to_k) if cross else None


class Patcher:
    """Forward pre-hooks on the to_k/to_v of the sites a chain touches, and on nothing while no chain is set;
    the UNet keeps no module of ours, so its state_dict is unchanged.

    A hook's work on a hit is one call: it reads its site's multipliers from a table the applier keeps per step
    and the (k, v) pair cached for that exact context. One more pre-hook on the UNet itself marks each model call
    (what keeps the cache honest for inference tensors)."""

    def __init__(self, unet, apply_to_self: bool = True):
        self.unet_ref = weakref.ref(unet)
        self.sites = find_sites(unet)
        self.context_dim = cross_attention_width(self.sites)
        self.family = CONTEXT_DIM_FAMILY.get(self.context_dim)
        self.applier = ChainApplier((), apply_to_self)
        self.refused: list[tuple[str, str]] = []
        self.received: list | None = None  # set to a list to record (site name, which, tensor) for inspection
        self._handles = []
        self._removed = False
        self.hooked: list[Site] = []
        self.on_error = None  # (network names, exception) when a network fails inside a UNet call

    # -- hooks: only while a chain is set, only where it does something ----------------------------------------
    def _rehook(self) -> None:
        self._unhook()
        applier = self.applier
        unet = self.unet_ref()
        if self._removed or unet is None or not applier.chain:
            applier.set_sites([])
            return
        self.hooked = [s for s in self.sites if touches(s, applier.chain, applier.apply_to_self)]
        applier.set_sites([(_width(s.module.to_k), s.kind, s.block) for s in self.hooked])
        if not self.hooked:
            return
        self._handles.append(unet.register_forward_pre_hook(self._new_call))
        for index, site in enumerate(self.hooked):
            self._handles.append(site.module.to_k.register_forward_pre_hook(self._make_hook(site, index, 0)))
            self._handles.append(site.module.to_v.register_forward_pre_hook(self._make_hook(site, index, 1)))

    def _unhook(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self.hooked = []

    def _failed(self, applier: ChainApplier, error: Exception) -> None:
        names = ", ".join(e.name for e in applier.chain)
        applier.drop_chain()  # every hook lets its input through from now on
        (self.on_error or _print_error)(names, error)

    def _new_call(self, module, args):
        self.applier.new_call()

    def _make_hook(self, site: Site, index: int, which: int):
        kind = site.kind

        def hook(module, args):
            applier = self.applier
            mults = applier.table[index]
            if mults is None or not args:
                return None
            context = args[0]
            if applier.training:
                try:
                    out = applier.site_pair(index, which, context, mults)[which]
                except Exception as e:
                    self._failed(applier, e)
                    return None
                if self.received is not None:
                    self.received.append((site.name, "kv"[which], out))
                return None if out is context else (out,) + tuple(args[1:])
            # lookup()'s hit test, inlined: a hit costs this one call of ours
            slot = applier._slots.get(kind)
            found = None
            if slot is not None and slot.ref() is context and slot.stamp == (
                    applier.call_stamp if context.is_inference() else context._version):
                found = slot.results.get(mults)
            if found is None:
                try:
                    found = applier.lookup(context, kind, mults)
                except Exception as e:  # a generation never fails because of us: the chain is dropped
                    self._failed(applier, e)
                    return None
            else:
                applier.hits += 1
            out = found[which]
            if self.received is not None:
                self.received.append((site.name, "kv"[which], out))
            if out is context:
                return None
            return (out,) + tuple(args[1:])
        return hook

    @property
    def apply_to_self(self) -> bool:
        return self.applier.apply_to_self

    @apply_to_self.setter
    def apply_to_self(self, value: bool) -> None:
        value = bool(value)
        if value != self.applier.apply_to_self:
            self.applier.apply_to_self = value
            self.applier.clear_cache()
            self._rehook()

    @property
    def chain(self) -> list[ChainEntry]:
        return self.applier.chain

    def set_chain(self, chain, family: str | None = None) -> list[tuple[str, str]]:
        """Install a chain; networks for another model family are left out unless forced. Returns refusals."""
        from .guard import split_by_family
        accepted, refused = split_by_family(as_chain(chain), self.context_dim, family or self.family,
                                            site_widths(self.sites))
        applier = ChainApplier(accepted, self.applier.apply_to_self)
        applier.set_step(self.applier.step, self.applier.total)
        self.applier = applier
        self.refused = refused
        self._rehook()
        return refused

    def set_step(self, step: int | None, total: int | None = None) -> None:
        self.applier.set_step(step, total)

    def clear(self) -> None:
        self.applier = ChainApplier((), self.applier.apply_to_self)
        self.refused = []
        self._unhook()

    def remove(self) -> None:
        self._removed = True
        self.clear()

    @property
    def attached(self) -> bool:
        """Bound to its UNet (not removed); hooks exist only while a chain does something (`hook_count`)."""
        return not self._removed and self.unet_ref() is not None

    @property
    def hook_count(self) -> int:
        return len(self._handles)


def _print_error(names: str, error: Exception) -> None:
    print(f"[hypernetworks] skipped {names}: {type(error).__name__}: {error}")


def attach(unet, apply_to_self: bool = True) -> Patcher:
    """A Patcher for this UNet; it hooks nothing until a chain is set."""
    return Patcher(unet, apply_to_self)
