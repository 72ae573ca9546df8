"""The "Hypernetworks" settings section (shared by both hosts: both use the webui's options API)."""
from __future__ import annotations

from modules import shared

from sd_hypernet.hosts import common

SECTION = ("hypernetworks", "Hypernetworks", "sd")


def _components():
    try:
        import gradio as gr
    except ImportError:  # API-only installs without gradio still get the options, just no widgets
        return None, None
    return gr.Slider, gr.Number


def options(host: common.Host) -> dict:
    slider, number = _components()

    def cache_size_changed():
        size = host.opt(common.OPT_CACHE_SIZE, 8)
        try:
            host.library().set_cache_size(int(size))
        except Exception:
            pass

    OptionInfo = shared.OptionInfo
    return shared.options_section(SECTION, {
        common.OPT_DEFAULT_MULTIPLIER: OptionInfo(
            1.0, "Default multiplier for hypernetwork tags", slider,
            {"minimum": -1.0, "maximum": 2.0, "step": 0.05}),
        common.OPT_CACHE_SIZE: OptionInfo(
            8, "Hypernetworks kept loaded in memory", number, {"precision": 0},
            onchange=cache_size_changed).info("least recently used are dropped first"),
        common.OPT_HASHES_IN_INFOTEXT: OptionInfo(True, "Add hypernetwork hashes to infotext"),
        common.OPT_SHOW_ALL: OptionInfo(
            False, "Show hypernetworks made for other model families").info("cards are hidden otherwise"),
        common.OPT_WARN_CONSOLE: OptionInfo(True, "Report hypernetworks not found in the console"),
        common.OPT_WARN_TOAST: OptionInfo(
            False, "Report hypernetwork problems in a browser notification").info(
            "not found, refused for another model, bad values: what the image's infotext lists as Hypernet errors"),
        common.OPT_SELF_ATTENTION: OptionInfo(
            True, "Apply hypernetworks to self-attention too").info("as the webui does; off = cross-attention only"),
        common.OPT_FORCE_FAMILY: OptionInfo(
            False, "Apply hypernetworks made for another model family").info("same as force=1 in every tag"),
        common.OPT_ANY_OUTPUT_DIR: OptionInfo(
            False, "Training may write into any folder").info(
            "off: a training job's output folder must lie inside the webui's output folders or the hypernetwork folder"),
    })


def register(host: common.Host) -> None:
    """Add the options now (works at script import, before the settings UI is built, and in API-only mode)."""
    for key, info in options(host).items():
        shared.opts.add_option(key, info)
