"""The nodes: "Load Hypernetwork (exact)" and "Hypernetwork tags" (category loaders/hypernetworks).

A problem (unknown file, bad value, a network for another model family, a file that fails to load) is logged with
the network's name and the node hands its MODEL on without that network: a prompt never fails because of us.
"""
from __future__ import annotations

import logging
import math
import os

from sd_hypernet import control, tags
from sd_hypernet.attn_patch import SIGMA_RANGE
from sd_hypernet.errors import HypernetError

from . import files, patching

log = logging.getLogger("sd_hypernet")
CATEGORY = "loaders/hypernetworks"


def warn(message: str) -> None:
    log.warning(f"[hypernetworks] {message}")


def _report_failure(names, error) -> None:
    warn(f"skipped {', '.join(names)} for the rest of this model's use: {type(error).__name__}: {error}")


def _apply(model, entries):
    out, refused = patching.add_chain(model, entries, on_error=_report_failure)
    for label, reason in refused:
        warn(f"{label}: not applied: {reason}")
    return out


def _optional_number(value, what: str) -> float | None:
    """'' (or None) = not given; a number or its text otherwise."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise tags.TagError(f"{what}: expected a finite number, got {value!r}")
        return float(value)
    return tags.parse_number(str(value).strip(), what)


def loader_entry(model, name: str, strength, self_strength="", cross_strength="", lbw="", start_percent=0.0,
                 end_percent=1.0, force=False):
    """The chain entry the loader node's inputs describe; TagError names the input that is wrong."""
    label = os.path.splitext(os.path.basename(name))[0]
    multiplier = _optional_number(strength, f"{label}: strength")
    if multiplier is None:
        raise tags.TagError(f"{label}: strength: expected a number")
    entry = control.ChainEntry(None, multiplier, _optional_number(self_strength, f"{label}: self_strength"),
                               _optional_number(cross_strength, f"{label}: cross_strength"), force=bool(force),
                               label=label)
    if lbw and str(lbw).strip():
        _, family = patching.family_of(model)
        try:
            entry.block_weights = control.parse_block_weights(str(lbw), family, files.presets())
        except HypernetError as e:
            raise tags.TagError(f"{label}: {e}") from None
    start = _optional_number(start_percent, f"{label}: start_percent")
    end = _optional_number(end_percent, f"{label}: end_percent")
    start = 0.0 if start is None else start
    end = 1.0 if end is None else end
    if not (0.0 <= start <= 1.0 and 0.0 <= end <= 1.0):
        raise tags.TagError(f"{label}: start_percent={start:g}, end_percent={end:g}: expected values from 0 to 1")
    if start >= end:
        raise tags.TagError(f"{label}: end_percent={end:g} must be above start_percent={start:g}")
    if start > 0.0 or end < 1.0:
        # as ComfyUI's own ranges: sigmas from the model's sampling, active while sigma_end <= sigma <= sigma_start
        entry.extra[SIGMA_RANGE] = (patching.percent_to_sigma(model, start), patching.percent_to_sigma(model, end))
    entry.network = files.load_file_name(name)
    return entry


class SDHypernetworkLoader:
    """A hypernetwork from ComfyUI's hypernetworks folder, computed exactly as webui v1.10.1 computes it."""

    CATEGORY = CATEGORY
    RETURN_TYPES = ("MODEL",)
    OUTPUT_TOOLTIPS = ("The model with the hypernetwork after any already on it.",)
    FUNCTION = "load"
    DESCRIPTION = ("Applies a hypernetwork exactly as AUTOMATIC1111 webui v1.10.1 does (.pt, .ckpt, .safetensors): "
                   "self/cross-attention strengths, LoRA Block Weight blocks, a step range, a model-family guard. "
                   "Chained loaders compose in order, as several hypernet tags of a webui prompt do.")

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "model": ("MODEL", {"tooltip": "The diffusion model."}),
                "hypernetwork_name": (files.file_names(), {"tooltip": "A file from the hypernetworks folder."}),
                "strength": ("FLOAT", {"default": 1.0, "min": -10.0, "max": 10.0, "step": 0.01,
                                       "tooltip": "The multiplier (the tag's number)."}),
            },
            "optional": {
                "self_strength": ("STRING", {"default": "", "tooltip": "Self-attention multiplier; empty = strength "
                                                                         "(the tag's self=)."}),
                "cross_strength": ("STRING", {"default": "", "tooltip": "Cross-attention multiplier; empty = "
                                                                          "strength (the tag's cross=)."}),
                "lbw": ("STRING", {"default": "", "tooltip": "Block weights: 17 numbers (SD1/SD2) or 12 (SDXL), or a "
                                                              "preset such as INS, MIDD, OUTALL (the tag's lbw=)."}),
                "start_percent": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1.0, "step": 0.001,
                                            "tooltip": "Applied from this point of the sampling."}),
                "end_percent": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.001,
                                          "tooltip": "Applied until this point of the sampling."}),
                "force": ("BOOLEAN", {"default": False, "tooltip": "Apply a network made for another model family."}),
            },
        }

    @classmethod
    def IS_CHANGED(cls, hypernetwork_name="", **kwargs):
        """A file replaced under the same name runs the node again (ComfyUI would reuse the cached MODEL)."""
        return files.file_version(hypernetwork_name)

    def load(self, model, hypernetwork_name, strength, self_strength="", cross_strength="", lbw="",
             start_percent=0.0, end_percent=1.0, force=False):
        try:
            entry = loader_entry(model, hypernetwork_name, strength, self_strength, cross_strength, lbw,
                                 start_percent, end_percent, force)
            return (_apply(model, [entry]),)
        except HypernetError as e:
            warn(f"{e}; not applied")
        except Exception as e:  # never a failed prompt because of us
            warn(f"{hypernetwork_name}: not applied: {type(e).__name__}: {e}")
        return (model,)


class SDHypernetworkTags:
    """Every <hypernet:name:multiplier[:key=value…]> tag of a prompt applied to the model; the prompt without them."""

    CATEGORY = CATEGORY
    RETURN_TYPES = ("MODEL", "STRING")
    RETURN_NAMES = ("model", "text")
    # no angle brackets in texts ComfyUI's frontend shows: it renders them as HTML tags
    OUTPUT_TOOLTIPS = ("The model with the tags' hypernetworks.", "The prompt without its hypernet tags.")
    FUNCTION = "apply"
    DESCRIPTION = ("Reads the hypernet tags of a prompt as AUTOMATIC1111 webui does (hypernet:name:multiplier in "
                   "angle brackets, with self=, cross=, start=, stop=, lbw=, force=), applies them in order, and "
                   "returns the prompt without them.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "model": ("MODEL", {"tooltip": "The diffusion model."}),
            "text": ("STRING", {"multiline": True, "dynamicPrompts": False,
                                "tooltip": "A prompt with hypernet tags (hypernet:name:multiplier in angle "
                                           "brackets)."}),
        }}

    def apply(self, model, text):
        try:
            found, stripped = tags.extract_tags(text or "")
        except Exception as e:
            warn(f"tags not read: {type(e).__name__}: {e}")
            return (model, text)
        entries = []
        try:
            family = patching.family_of(model)[1] if found else None
        except Exception as e:
            warn(f"tags not applied: the model's family: {type(e).__name__}: {e}")
            return (model, stripped)
        for items in found:
            try:
                spec = tags.parse_tag(items, family, files.presets())
                entries.append(spec.to_entry(files.load_tag_name(spec.name)))
            except HypernetError as e:
                warn(f"{e}; tag <hypernet:{':'.join(items)}> not applied")
            except Exception as e:
                warn(f"<hypernet:{':'.join(items)}> not applied: {type(e).__name__}: {e}")
        if not entries:
            return (model, stripped)
        try:
            return (_apply(model, entries), stripped)
        except Exception as e:
            warn(f"tags not applied: {type(e).__name__}: {e}")
            return (model, stripped)


NODE_CLASS_MAPPINGS = {
    "SDHypernetworkLoader": SDHypernetworkLoader,
    "SDHypernetworkTags": SDHypernetworkTags,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "SDHypernetworkLoader": "Load Hypernetwork (exact)",
    "SDHypernetworkTags": "Hypernetwork tags",
}
