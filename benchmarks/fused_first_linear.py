"""Experiment (issue 4, item 2): k and v networks of one width that read the same tensor run their first
Linear layers as one matmul. Kept in benchmarks/ because it did not help on CPU; the benchmark's
"fused" mode measures it wherever it runs (e.g. CUDA), and it moves into sd_hypernet/ only if it pays there.

A drop-in for network.transform_pair. It only takes the fused path when both streams are the same tensor
object (self-attention, or the first network of a chain) and the network is in eval mode; anything else
falls back to the plain form. The concatenated weights are built once per network, width, device and
dtype, and rebuilt if either source weight changes in place (version counters, no sync).
"""
from __future__ import annotations

import weakref

import torch
import torch.nn.functional as F

from sd_hypernet.network import transform_pair as plain_transform_pair


class _Fused:
    __slots__ = ("weight", "bias", "hidden", "rest_k", "rest_v", "sources", "versions")

    def __init__(self, k_mod, v_mod):
        k_first, v_first = k_mod.linear[0], v_mod.linear[0]
        self.sources = (k_first.weight, v_first.weight, k_first.bias, v_first.bias)
        self.versions = tuple(t._version for t in self.sources)
        with torch.no_grad():
            self.weight = torch.cat([k_first.weight, v_first.weight], 0)
            self.bias = torch.cat([k_first.bias, v_first.bias], 0)
        self.hidden = k_first.out_features
        self.rest_k = k_mod.linear[1:]
        self.rest_v = v_mod.linear[1:]

    def fresh(self, k_mod, v_mod) -> bool:
        k_first, v_first = k_mod.linear[0], v_mod.linear[0]
        current = (k_first.weight, v_first.weight, k_first.bias, v_first.bias)
        return (all(a is b for a, b in zip(current, self.sources))
                and tuple(t._version for t in current) == self.versions
                and self.weight.device == k_first.weight.device)  # .to() keeps the Parameter objects


def fusable(pair) -> bool:
    k_mod, v_mod = pair
    if not len(k_mod.linear) or not len(v_mod.linear):
        return False
    k_first, v_first = k_mod.linear[0], v_mod.linear[0]
    return (isinstance(k_first, torch.nn.Linear) and isinstance(v_first, torch.nn.Linear)
            and k_first.bias is not None and v_first.bias is not None
            and k_first.weight.shape == v_first.weight.shape)


_fused: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # module pair's k module -> _Fused


def fused_for(net, dim: int, pair) -> _Fused:
    """The concatenated first layers, built once per module pair (rebuilt if its weights were replaced)."""
    found = _fused.get(pair[0])
    if found is None or not found.fresh(*pair):
        found = _Fused(*pair)
        _fused[pair[0]] = found
    return found


def transform_pair(pair, ctx_k: torch.Tensor, ctx_v: torch.Tensor, multiplier: float, net):
    """Same contract as network.transform_pair."""
    if ctx_v is not ctx_k or net.training or not fusable(pair):
        return plain_transform_pair(pair, ctx_k, ctx_v, multiplier, net)
    if net.device() != ctx_k.device:
        net.to(ctx_k.device)
    dtype = ctx_k.dtype
    x = ctx_k.float()
    fused = fused_for(net, x.shape[-1], pair)
    both = F.linear(x, fused.weight, fused.bias)
    h_k, h_v = both.split(fused.hidden, dim=-1)
    out_k = x + fused.rest_k(h_k) * multiplier
    out_v = x + fused.rest_v(h_v) * multiplier
    if out_k.dtype != dtype:
        out_k, out_v = out_k.to(dtype), out_v.to(dtype)
    return out_k, out_v
