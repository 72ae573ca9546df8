"""ComfyUI custom-node entry: ComfyUI imports this folder under `custom_nodes/` and reads NODE_CLASS_MAPPINGS.

The webui never imports it. It does ComfyUI work only when ComfyUI's own modules are importable, and a failure here
is logged by name instead of reaching ComfyUI's start.
"""
import importlib.util
import logging
import os
import sys

NODE_CLASS_MAPPINGS = {}
NODE_DISPLAY_NAME_MAPPINGS = {}


def _in_comfyui() -> bool:
    try:
        return importlib.util.find_spec("folder_paths") is not None and importlib.util.find_spec("comfy") is not None
    except (ImportError, ValueError):
        return False


def _load() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)  # the engine imports itself as `sd_hypernet`
    from sd_hypernet.hosts.comfyui import nodes

    origin = os.path.abspath(nodes.__file__)
    for _ in range(4):  # sd_hypernet/hosts/comfyui/nodes.py -> the repository folder
        origin = os.path.dirname(origin)
    if os.path.realpath(origin) != os.path.realpath(here):
        logging.warning("[sd-webui-hypernetworks] sd_hypernet came from %s, not from this folder %s", origin, here)
    NODE_CLASS_MAPPINGS.update(nodes.NODE_CLASS_MAPPINGS)
    NODE_DISPLAY_NAME_MAPPINGS.update(nodes.NODE_DISPLAY_NAME_MAPPINGS)


if _in_comfyui():
    try:
        _load()
    except Exception as e:  # never break ComfyUI's start
        logging.error("[sd-webui-hypernetworks] ComfyUI nodes not loaded: %s: %s", type(e).__name__, e)
