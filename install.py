"""Run by the webui before start-up. Everything the extension needs (torch, safetensors, gradio, fastapi) ships
with the webui and Forge, so nothing is installed; this only says so when something is missing."""
import importlib.util

for module in ("torch", "safetensors"):
    if importlib.util.find_spec(module) is None:
        print(f"[hypernetworks] {module} is missing; the webui normally provides it")
