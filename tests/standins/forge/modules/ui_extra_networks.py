"""Forge's modules/ui_extra_networks.py is the webui's except that the Hypernetworks page is not registered
(its registration is commented out in Forge), so Forge shows no Hypernetworks tab."""
from mirror_webui import run_webui_module

run_webui_module("ui_extra_networks.py", globals())


def register_default_pages():  # noqa: F811 - Forge registers none of the webui's hypernetwork page
    pass


# Forge's card filter (sd / xl / flux buttons in extraNetworks.js) reads `data-sort-SDversion`, which Forge's
# create_item_html adds from item["sd_version_str"] ("SdVersion.SD1" …, default "SdVersion.Unknown"), and
# read_user_metadata takes a user's "sd_version_str" from the card's .json.
_webui_create_item_html = ExtraNetworksPage.create_item_html  # noqa: F821 - defined by the webui module above
_webui_read_user_metadata = ExtraNetworksPage.read_user_metadata  # noqa: F821


def _forge_create_item_html(self, tabname, item, template=None):
    item.setdefault("sort_keys", {})["SDversion"] = item.get("sd_version_str", "SdVersion.Unknown")
    return _webui_create_item_html(self, tabname, item, template)


def _forge_read_user_metadata(self, item, use_cache=True):
    _webui_read_user_metadata(self, item, use_cache)
    version = item["user_metadata"].get("sd_version_str")
    if version is not None:
        item["sd_version_str"] = version


ExtraNetworksPage.create_item_html = _forge_create_item_html  # noqa: F821
ExtraNetworksPage.read_user_metadata = _forge_read_user_metadata  # noqa: F821
