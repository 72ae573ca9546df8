"""A MODEL (ComfyUI's ModelPatcher) and our attention patches: its family, and a clone carrying a chain.

Chained nodes share one chain: a node whose input MODEL already ends with our patches replaces them, on the clone,
by one chain holding the earlier entries then its own. That is the webui's composition (each network on the
previous one's k and v), computed by one applier, so the cross-attention context is still computed once per model
call. When another node's attention patch came after ours, ours go after it as a second chain: the same
composition, each chain with its own cache.
"""
from __future__ import annotations

import weakref

from sd_hypernet.attn_patch import AttnPatch, PatchChain
from sd_hypernet.guard import split_by_family
from sd_hypernet.hook import cross_attention_width, find_sites, layer_width, touches
from sd_hypernet.network import CONTEXT_DIM_FAMILY

LISTS = {"self": "attn1_patch", "cross": "attn2_patch"}
_sites: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def diffusion_model(model):
    return model.get_model_object("diffusion_model")


def sites_of(model):
    unet = diffusion_model(model)
    found = _sites.get(unet)
    if found is None:
        found = _sites[unet] = find_sites(unet)
    return found


def family_of(model) -> tuple[int | None, str | None]:
    """(cross-attention width, "sd1" | "sd2" | "sdxl" | None) of the MODEL's UNet."""
    width = cross_attention_width(sites_of(model))
    return width, CONTEXT_DIM_FAMILY.get(width)


def percent_to_sigma(model, percent: float) -> float:
    return float(model.get_model_object("model_sampling").percent_to_sigma(percent))


def _lists(model) -> dict:
    return model.model_options.get("transformer_options", {}).get("patches") or {}


def extendable_chain(model) -> PatchChain | None:
    """Our chain when its patches are the last ones of every list holding them (nothing ran after it)."""
    lists = _lists(model)
    last = None
    for name in LISTS.values():
        for p in lists.get(name, ()):
            if isinstance(p, AttnPatch):
                last = p.chain
    if last is None:
        return None
    for name in LISTS.values():
        patches = lists.get(name, ())
        holds = [i for i, p in enumerate(patches) if isinstance(p, AttnPatch) and p.chain is last]
        if holds and holds != [len(patches) - 1]:
            return None
    return last


def _drop(model, chain: PatchChain) -> None:
    lists = _lists(model)
    for name in LISTS.values():
        if name in lists:
            lists[name] = [p for p in lists[name] if not (isinstance(p, AttnPatch) and p.chain is chain)]


def add_chain(model, entries, on_error=None):
    """(MODEL, [(label, reason)] not applied): a clone of `model` whose attention gets `entries` after what it had; the same `model` when
    nothing applies anywhere (a strength of 0, every block weight 0, refused by the family guard)."""
    width, family = family_of(model)
    accepted, refused = split_by_family(entries, width, family)
    sites = sites_of(model)
    useful = [e for e in accepted if any(touches(s, [e]) for s in sites)]
    widths = sorted({layer_width(s.module.to_k) for s in sites} - {None})
    for e in accepted:
        if not set(e.network.layers) & set(widths):  # not a choice of the user's (as strength 0 is): say so
            refused.append((e.name, f"none of its widths ({', '.join(map(str, e.network.layers))}) is an "
                                    f"attention width of this model ({', '.join(map(str, widths)) or 'none'})"))
    if not useful:
        return model, refused
    out = model.clone()
    base = extendable_chain(out)
    merged = useful
    if base is not None:
        merged = base.entries + useful
        _drop(out, base)
    chain = PatchChain(merged, on_error=on_error)
    kinds = {s.kind for s in sites if touches(s, merged)}
    if "self" in kinds:
        out.set_model_attn1_patch(AttnPatch(chain, "self"))
    if "cross" in kinds:
        out.set_model_attn2_patch(AttnPatch(chain, "cross"))
    return out, refused


def chain_of(model) -> list:
    """The entries our patches apply on this MODEL, in order (every chain of ours, as they run)."""
    seen, entries = [], []
    for name in LISTS.values():
        for p in _lists(model).get(name, ()):
            if isinstance(p, AttnPatch) and p.chain not in seen:
                seen.append(p.chain)
    for chain in seen:
        entries += chain.entries
    return entries
