"""The model-family guard: a network made for another base model is not applied unless forced."""
from __future__ import annotations

from .network import CONTEXT_DIM_FAMILY, FAMILY_LABELS


def split_by_family(chain, context_dim: int | None, family: str | None = None, widths=None):
    """(accepted entries, [(label, reason)] refused): entries with force=True pass the family check, but one
    sharing no width with the model's attention (`widths`, when known) is refused even then: it would change
    nothing, and its hash in the infotext would claim otherwise."""
    accepted, refused = [], []
    for entry in chain:
        reason = check_fits(entry.network, widths)
        if reason is None and not entry.force:
            reason = check_family(entry.network, context_dim, family)
        if reason:
            refused.append((entry.name, reason))
        else:
            accepted.append(entry)
    return accepted, refused


def check_fits(network, widths) -> str | None:
    """None when the network has a width the model's attention layers have (or the widths are unknown)."""
    if not widths or set(network.layers) & set(widths):
        return None
    own = ", ".join(str(d) for d in sorted(network.layers))
    model = ", ".join(str(d) for d in sorted(widths))
    return f"nothing of it fits this model: its widths ({own}) are none of the model's attention widths ({model})"


def check_family(network, context_dim: int | None, family: str | None = None) -> str | None:
    """None when the network fits the UNet; otherwise the reason it does not."""
    cross = [d for d in network.layers if d in CONTEXT_DIM_FAMILY]
    unet_family = family or CONTEXT_DIM_FAMILY.get(context_dim)
    if cross:
        if context_dim is not None and context_dim not in cross:
            made_for = ", ".join(f"{FAMILY_LABELS[CONTEXT_DIM_FAMILY[d]]} ({d})" for d in cross)
            model = FAMILY_LABELS.get(unet_family, "this model")
            return (f"made for {made_for} but the loaded model is {model} with context width {context_dim}; "
                    f"add force=1 to apply it anyway")
        return None
    recorded = network.family
    if recorded and unet_family and recorded != unet_family:
        return (f"recorded base model is {FAMILY_LABELS[recorded]} but the loaded model is "
                f"{FAMILY_LABELS[unet_family]}; add force=1 to apply it anyway")
    return None


# Self-attention widths of each family's UNet (SDXL has no attention at 320).
SELF_WIDTHS = {"sd1": (320, 640, 1280), "sd2": (320, 640, 1280), "sdxl": (640, 1280)}


def usable_families(sizes, family: str | None = None) -> list[str]:
    """The families a network with these widths is applied to without force=1: its cross-attention width's family;
    without one, the recorded `family` when there is one, else every family with one of its self-attention widths."""
    cross = [d for d in sizes if d in CONTEXT_DIM_FAMILY]
    if cross:
        return list(dict.fromkeys(CONTEXT_DIM_FAMILY[d] for d in cross))
    if family:
        return [family]
    return [fam for fam, widths in SELF_WIDTHS.items() if any(d in widths for d in sizes)]
