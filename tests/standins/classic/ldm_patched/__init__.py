"""Forge Classic's ldm_patched package (its ComfyUI-derived UNet code): present, as in reForge."""
