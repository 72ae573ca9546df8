"""Forge Classic's modules_forge package (only what tells the host apart)."""
