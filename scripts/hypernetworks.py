"""Entry point the webui/Forge loads: pick the host and wire the hypernetwork glue into it."""
from sd_hypernet import hosts

# Forge returns its per-sampling patch script here; on the webui this is None
HypernetworksScript = hosts.install()
