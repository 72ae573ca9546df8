"""Creating a new network for a model family, validated, with the base model recorded in its metadata."""
from __future__ import annotations

import os

from ..errors import HypernetError
from ..formats import save_file
from ..names import check_name
from ..network import FAMILY_CONTEXT_DIM, USABLE_ACTIVATIONS, WEIGHT_INITS, create

# Context width first, then the self-attention widths of that family's UNet.
FAMILY_SIZES = {
    "sd1": (768, 320, 640, 1280),
    "sd2": (1024, 320, 640, 1280),
    "sdxl": (2048, 640, 1280),
}


def parse_numbers(value, what: str) -> list[float]:
    """'1, 2, 1' or a list -> floats."""
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
    else:
        parts = list(value)
    try:
        return [float(p) for p in parts]
    except (TypeError, ValueError):
        raise HypernetError(f"{what} {value!r}: expected comma-separated numbers like '1, 2, 1'") from None


def sizes_for(family: str | None = None, sizes=None) -> list[int]:
    """Explicit `sizes` win; else the family preset."""
    if sizes:
        return sorted({int(s) for s in sizes})
    if family not in FAMILY_SIZES:
        raise HypernetError(f"family {family!r}: expected one of {', '.join(FAMILY_SIZES)} or explicit sizes")
    return sorted(FAMILY_SIZES[family])


def new_network(name: str, family: str | None = None, sizes=None, layer_structure="1, 2, 1",
                activation_func: str = "linear", weight_init: str = "Normal", is_layer_norm: bool = False,
                dropout_structure=None, activate_output: bool = False, base_model_name: str | None = None,
                base_model_hash: str | None = None, optional_info: str | None = None):
    """A validated new Hypernetwork (not saved)."""
    check_name(name)
    widths = sizes_for(family, sizes)
    ls = parse_numbers(layer_structure, "layer structure")
    act = activation_func or "linear"
    if act not in USABLE_ACTIVATIONS:
        raise HypernetError(f"activation {act!r}: expected one of {', '.join(USABLE_ACTIVATIONS)}")
    if weight_init not in WEIGHT_INITS:
        raise HypernetError(f"weight initialisation {weight_init!r}: expected one of {', '.join(WEIGHT_INITS)}")
    ds = parse_numbers(dropout_structure, "dropout structure") if dropout_structure not in (None, "") else None
    if family is None:
        family = next((f for f, d in FAMILY_CONTEXT_DIM.items() if d in widths), None)
    meta = {"sd_family": family, "sd_checkpoint": base_model_hash, "sd_checkpoint_name": base_model_name,
            "optional_info": optional_info}
    return create(widths, ls, act, weight_init, bool(is_layer_norm), ds, bool(activate_output), name, meta)


def create_file(folder: str, name: str, overwrite: bool = False, ext: str = ".safetensors", **kwargs) -> str:
    """Create and save `<folder>/<name><ext>`; returns the path."""
    if ext not in (".safetensors", ".pt"):
        raise HypernetError(f"extension {ext!r}: expected .safetensors or .pt")
    net = new_network(name, **kwargs)
    path = os.path.join(folder, net.name + ext)
    if os.path.exists(path) and not overwrite:
        raise HypernetError(f"{os.path.basename(path)} already exists; choose another name or allow overwriting")
    os.makedirs(folder, exist_ok=True)
    save_file(net, path)
    return path
