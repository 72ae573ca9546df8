"""Forge's modules/ui_extra_networks.py is the webui's except that the Hypernetworks page is not registered
(its registration is commented out in Forge), so Forge shows no Hypernetworks tab."""
from mirror_webui import run_webui_module

run_webui_module("ui_extra_networks.py", globals())


def register_default_pages():  # noqa: F811 - Forge registers none of the webui's hypernetwork page
    pass
