"""ComfyUI: the engine as two custom nodes (nodes.py), loaded by the repository's root `__init__.py`.

The only code importing ComfyUI's `folder_paths` / `comfy.*`: files.py (the hypernetworks folders), patching.py
(a MODEL's attention patch lists), nodes.py (the node classes). The webui never imports this package.
"""
