"""The hypernetwork itself, built exactly as webui v1.10.1 builds it (same module order, same keys)."""
from __future__ import annotations

import inspect
import re

import torch
import torch.nn.modules.activation as torch_activations

from .errors import HypernetError

# Names the webui maps explicitly; note that "swish" is Hardswish there, not SiLU.
_BASE_ACTIVATIONS = {
    "linear": torch.nn.Identity,
    "relu": torch.nn.ReLU,
    "leakyrelu": torch.nn.LeakyReLU,
    "elu": torch.nn.ELU,
    "swish": torch.nn.Hardswish,
    "tanh": torch.nn.Tanh,
    "sigmoid": torch.nn.Sigmoid,
}

# Classes that exist in torch.nn.modules.activation but cannot sit between two Linear layers:
# they need constructor arguments, change the feature width, or normalise over an implicit dim.
UNUSABLE_ACTIVATIONS = frozenset({
    "threshold", "glu", "softmax", "softmin", "logsoftmax", "softmax2d", "multiheadattention", "module",
})


def _activation_table() -> dict[str, type]:
    table = dict(_BASE_ACTIVATIONS)
    for name, cls in inspect.getmembers(torch_activations, inspect.isclass):
        if issubclass(cls, torch.nn.Module) and cls.__module__ == torch_activations.__name__:
            table.setdefault(name.lower(), cls)
    return table


ACTIVATIONS = _activation_table()
USABLE_ACTIVATIONS = sorted(n for n in ACTIVATIONS if n not in UNUSABLE_ACTIVATIONS and n != "hardswish")
WEIGHT_INITS = ("Normal", "XavierUniform", "XavierNormal", "KaimingUniform", "KaimingNormal")


def activation_class(name: str | None, source: str = "hypernetwork"):
    """The activation layer class for a name, or None for no activation; HypernetError if it cannot work."""
    if name is None or name == "linear":
        return None
    if name in UNUSABLE_ACTIVATIONS:
        raise HypernetError(f"{source}: activation {name!r} cannot be used between Linear layers")
    cls = ACTIVATIONS.get(name)
    if cls is None:
        raise HypernetError(f"{source}: unknown activation function {name!r}")
    return cls


def parse_dropout_structure(layer_structure, use_dropout: bool, last_layer_dropout: bool) -> list[float]:
    """The dropout structure the webui rebuilds for files that lack one."""
    if not use_dropout:
        return [0] * len(layer_structure)
    return [0] + [0.3] * (len(layer_structure) - 3) + [0.3 if last_layer_dropout else 0] + [0]


def validate_structure(layer_structure, dropout_structure, source: str = "hypernetwork") -> None:
    ls = list(layer_structure)
    if len(ls) < 2 or ls[0] != 1 or ls[-1] != 1:
        raise HypernetError(f"{source}: layer structure {ls} must have at least two entries, first and last 1")
    if any(float(x) <= 0 for x in ls):
        raise HypernetError(f"{source}: layer structure {ls} has a non-positive entry")
    ds = list(dropout_structure)
    if len(ds) != len(ls):
        raise HypernetError(f"{source}: dropout structure {ds} must have {len(ls)} entries like the layer structure")
    if ds[0] != 0 or ds[-1] != 0:
        raise HypernetError(f"{source}: dropout structure {ds} must start and end with 0")
    if any(not 0 <= float(p) < 1 for p in ds):
        raise HypernetError(f"{source}: dropout structure {ds} entries must be in [0, 1)")


class HypernetworkModule(torch.nn.Module):
    """One residual MLP for one context width: y = x + linear(x) * multiplier."""

    def __init__(self, dim: int, layer_structure, activation_func=None, is_layer_norm=False,
                 activate_output=False, dropout_structure=None, source: str = "hypernetwork"):
        super().__init__()
        ls = list(layer_structure)
        ds = list(dropout_structure) if dropout_structure is not None else [0] * len(ls)
        validate_structure(ls, ds, source)
        act = activation_class(activation_func, source)
        layers: list[torch.nn.Module] = []
        for i in range(len(ls) - 1):
            out_features = int(dim * ls[i + 1])
            layers.append(torch.nn.Linear(int(dim * ls[i]), out_features))
            is_last = i >= len(ls) - 2
            if act is not None and not (is_last and not activate_output):
                layers.append(act())
            if is_layer_norm:
                layers.append(torch.nn.LayerNorm(out_features))
            if ds[i + 1] > 0:
                layers.append(torch.nn.Dropout(p=float(ds[i + 1])))
        self.linear = torch.nn.Sequential(*layers)
        self.dim = dim

    def forward(self, x: torch.Tensor, multiplier: float = 1.0) -> torch.Tensor:
        return x + self.linear(x) * multiplier

    def init_weights(self, weight_init: str, activation_func) -> None:
        """The webui's initialisations (LayerNorm always gets N(0, 0.01) weights, as the webui does)."""
        if weight_init not in WEIGHT_INITS:
            raise HypernetError(f"unknown weight initialisation {weight_init!r}; expected one of {', '.join(WEIGHT_INITS)}")
        gain_for = "leaky_relu" if activation_func == "leakyrelu" else "relu"
        for layer in self.linear:
            if not isinstance(layer, (torch.nn.Linear, torch.nn.LayerNorm)):
                continue
            w, b = layer.weight.data, layer.bias.data
            if weight_init == "Normal" or isinstance(layer, torch.nn.LayerNorm):
                w.normal_(mean=0.0, std=0.01)
                b.normal_(mean=0.0, std=0.0)  # zero, but drawn like the webui so a seed gives its weights
                continue
            if weight_init == "XavierUniform":
                torch.nn.init.xavier_uniform_(w)
            elif weight_init == "XavierNormal":
                torch.nn.init.xavier_normal_(w)
            elif weight_init == "KaimingUniform":
                torch.nn.init.kaiming_uniform_(w, nonlinearity=gain_for)
            else:
                torch.nn.init.kaiming_normal_(w, nonlinearity=gain_for)
            b.zero_()


FAMILY_CONTEXT_DIM = {"sd1": 768, "sd2": 1024, "sdxl": 2048}
CONTEXT_DIM_FAMILY = {v: k for k, v in FAMILY_CONTEXT_DIM.items()}
FAMILY_LABELS = {"sd1": "SD1", "sd2": "SD2", "sdxl": "SDXL"}


def family_for_context_dim(dim) -> str | None:
    return CONTEXT_DIM_FAMILY.get(dim)


def family_from_text(text) -> str | None:
    """A family from a recorded base-model string such as 'SDXL 1.0', 'sd_xl_base_1.0' or 'v2-1_768'."""
    if not isinstance(text, str) or not text:
        return None
    t = re.sub(r"[\s_.\-]", "", text.lower())
    if t in FAMILY_CONTEXT_DIM:
        return t
    if "xl" in t:
        return "sdxl"
    if t.startswith(("sd2", "v2", "sdv2")):
        return "sd2"
    if t.startswith(("sd1", "v1", "sdv1")):
        return "sd1"
    return None


def family_of(sizes, metadata: dict) -> str | None:
    """The base model family of a network with these widths and metadata: from a cross-attention width,
    else from a recorded base-model string (what `Hypernetwork.family` says, without building the network)."""
    for dim in sizes:
        if dim in CONTEXT_DIM_FAMILY:
            return CONTEXT_DIM_FAMILY[dim]
    for key in ("sd_family", "base_model", "sd_checkpoint_name"):
        fam = family_from_text(metadata.get(key))
        if fam:
            return fam
    return None


STRUCTURE_KEYS = ("layer_structure", "activation_func", "is_layer_norm", "activate_output",
                  "dropout_structure", "use_dropout", "last_layer_dropout", "weight_initialization")


class Hypernetwork:
    """A set of (k, v) module pairs keyed by context width, plus the file's metadata."""

    def __init__(self, layers: dict[int, tuple[HypernetworkModule, HypernetworkModule]], metadata: dict,
                 path: str | None = None):
        self.layers = dict(sorted(layers.items()))
        self.metadata = metadata
        self.path = path
        # Inference networks need no gradients (as the webui's eval mode); training turns them back on.
        self.eval()

    @property
    def name(self) -> str:
        return str(self.metadata.get("name") or "hypernet")

    @property
    def sizes(self) -> list[int]:
        return list(self.layers)

    @property
    def step(self) -> int:
        return int(self.metadata.get("step") or 0)

    @property
    def cross_sizes(self) -> list[int]:
        return [d for d in self.layers if d in CONTEXT_DIM_FAMILY]

    @property
    def family(self) -> str | None:
        """The base model family: from a cross-attention width, else from recorded metadata."""
        return family_of(self.layers, self.metadata)

    def modules(self):
        for k_mod, v_mod in self.layers.values():
            yield k_mod
            yield v_mod

    def parameters(self):
        for mod in self.modules():
            yield from mod.parameters()

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def train(self, mode: bool = True) -> "Hypernetwork":
        for mod in self.modules():
            mod.train(mode)
            for p in mod.parameters():
                p.requires_grad_(mode)
        return self

    def eval(self) -> "Hypernetwork":
        return self.train(False)

    @property
    def training(self) -> bool:
        return any(m.training for m in self.modules())

    def to(self, device=None, dtype=None) -> "Hypernetwork":
        # normal tensors even when called under inference_mode (Forge, reForge): a later training or a move
        # outside it must be able to use them
        with torch.inference_mode(False), torch.no_grad():
            for mod in self.modules():
                mod.to(device=device, dtype=dtype)
        return self

    def device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        return torch.device("cpu")

    def module_pair(self, dim: int):
        return self.layers.get(dim)

    def transform(self, context: torch.Tensor, multiplier: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """(k, v) inputs for a context; identity for a width this network lacks."""
        pair = self.layers.get(context.shape[-1])
        if pair is None:
            return context, context
        return transform_pair(pair, context, context, multiplier, self)

    def state_dicts(self) -> dict[int, tuple[dict, dict]]:
        return {dim: (k.state_dict(), v.state_dict()) for dim, (k, v) in self.layers.items()}


def transform_pair(pair, ctx_k: torch.Tensor, ctx_v: torch.Tensor, multiplier: float, net: Hypernetwork):
    """Apply one (k, v) module pair in fp32 and hand back the input dtype, as the webui's cond casts do."""
    k_mod, v_mod = pair
    if k_mod.linear[0].weight.device != ctx_k.device:  # networks follow the context lazily, as in the webui
        net.to(ctx_k.device)
    dtype = ctx_k.dtype
    k32 = ctx_k.float()
    v32 = k32 if ctx_v is ctx_k else ctx_v.float()
    out_k = k_mod(k32, multiplier)
    out_v = v_mod(v32, multiplier)
    if out_k.dtype != dtype:
        out_k, out_v = out_k.to(dtype), out_v.to(dtype)
    return out_k, out_v


def build(sizes, layer_structure, activation_func=None, is_layer_norm=False, activate_output=False,
          dropout_structure=None, source="hypernetwork", weight_init: str | None = None
          ) -> dict[int, tuple[HypernetworkModule, HypernetworkModule]]:
    """k and v modules width by width in the given order, each initialised right after it is built (the
    webui's order of random draws, so one seed gives the webui's weights)."""
    def one(dim):
        module = HypernetworkModule(dim, layer_structure, activation_func, is_layer_norm, activate_output,
                                    dropout_structure, source)
        if weight_init is not None:
            module.init_weights(weight_init, activation_func)
        return module
    layers = {}
    for dim in sizes:
        k_mod = one(int(dim))
        layers[int(dim)] = (k_mod, one(int(dim)))
    return layers


def create(sizes, layer_structure=(1, 2, 1), activation_func="linear", weight_init="Normal",
           is_layer_norm=False, dropout_structure=None, activate_output=False, name="hypernet",
           metadata: dict | None = None) -> Hypernetwork:
    """A new network with the webui's initialisations."""
    sizes = list(dict.fromkeys(int(s) for s in sizes))
    if not sizes or any(s <= 0 for s in sizes):
        raise HypernetError(f"a new hypernetwork needs positive context widths, got {sizes}")
    if weight_init not in WEIGHT_INITS:
        raise HypernetError(f"unknown weight initialisation {weight_init!r}; expected one of {', '.join(WEIGHT_INITS)}")
    ls = [float(x) for x in layer_structure]
    ds = [float(x) for x in dropout_structure] if dropout_structure is not None else [0.0] * len(ls)
    layers = build(sizes, ls, activation_func, is_layer_norm, activate_output, ds, source=name,
                   weight_init=weight_init)
    meta = {
        "name": name, "step": 0, "layer_structure": ls, "activation_func": activation_func,
        "is_layer_norm": bool(is_layer_norm), "weight_initialization": weight_init,
        "activate_output": bool(activate_output), "use_dropout": any(p > 0 for p in ds),
        "dropout_structure": ds, "last_layer_dropout": ds[-2] != 0 if len(ds) >= 2 else False,
        "sd_checkpoint": None, "sd_checkpoint_name": None, "optional_info": None,
    }
    meta.update(metadata or {})
    return Hypernetwork(layers, meta)
