"""Forge v2's modules_forge package (only what tells the host apart)."""
