"""Forge Neo (Haoming02's continuation of Forge v2): Forge v2's UNet, patch API and sampling, so the Forge adapter
serves as it is. Neo removed every piece of hypernetwork support (code, `--hypernetwork-dir`, the page, the
`hypernet` handler, `/sdapi/v1/hypernetworks`, the `Hypernet:` paste): `supplies_removed` makes the wiring supply
them (preload.py adds the flag)."""
from __future__ import annotations

from sd_hypernet.hosts.adapters import forge


class NeoHost(forge.ForgeHost):
    name = "neo"
    supplies_removed = True


def install():
    return forge.install(NeoHost)
