"""reForge's `ldm_patched` package (its ComfyUI-derived UNet code): present in reForge, absent in the webui."""
