"""reForge's `modules_forge` package (its Forge-v1 heritage): present, so the glue can tell reForge apart."""
