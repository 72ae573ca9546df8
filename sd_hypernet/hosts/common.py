"""The one interface every host implements for the shared glue.

The shared glue (prompt/, ui/, routes/, training/) talks to the host only through `Host`; each adapter
(adapters/webui.py, forge.py, ...) provides one subclass and `current()` returns the live one. The webui-family
hosts expose the webui's `modules.*` extension API (extra networks, callbacks, options), so what differs is
mostly how the UNet is reached and how a chain reaches its attention layers.
"""
from __future__ import annotations

import os

# Option keys (registered by settings.py, read through Host.opt); kept here so both hosts agree.
OPT_DEFAULT_MULTIPLIER = "hypernet_default_multiplier"
OPT_CACHE_SIZE = "hypernet_cache_size"
OPT_HASHES_IN_INFOTEXT = "hypernet_add_hashes_to_infotext"
OPT_SHOW_ALL = "hypernet_show_all"
OPT_WARN_CONSOLE = "hypernet_not_found_warning_console"
OPT_WARN_TOAST = "hypernet_not_found_warning_toast"
OPT_SELF_ATTENTION = "hypernet_apply_to_self_attention"
OPT_FORCE_FAMILY = "hypernet_force_other_families"
OPT_ANY_OUTPUT_DIR = "hypernet_train_any_output_dir"
OPT_HOST_ADD_TO_PROMPT = "sd_hypernetwork"  # the host's own "Add hypernetwork to prompt"

DEFAULT_DIR = os.path.join("models", "hypernetworks")


class Host:
    """What the glue needs from a host. Subclasses override every method marked "host"."""

    name = "host"
    # the host removed hypernetworks (Forge Neo, Forge Classic): we supply the folder, the list route, the page
    supplies_removed = False

    # -- where things are ---------------------------------------------------------------------------
    def hypernetwork_dir(self) -> str:
        """host: the folder scanned for networks (`--hypernetwork-dir`)."""
        raise NotImplementedError

    def opt(self, key: str, default=None):
        """host: a user option (`shared.opts`), or `default` when unset/unknown."""
        raise NotImplementedError

    def library(self):
        """The shared Library of `hypernetwork_dir()` (same object until the folder changes)."""
        from sd_hypernet.library import Library

        root = self.hypernetwork_dir()
        lib = getattr(self, "_library", None)
        if lib is None or os.path.abspath(lib.root) != os.path.abspath(root):
            lib = self._library = Library(root)
        size = self.opt(OPT_CACHE_SIZE, None)
        if size is not None and int(size) != lib.cache_size:
            lib.set_cache_size(int(size))
        return lib

    # -- the model ----------------------------------------------------------------------------------
    def unet(self):
        """host: the loaded UNet as an nn.Module holding the to_k/to_v layers, or None before a model loads."""
        raise NotImplementedError

    def model_family(self) -> str | None:
        """host: "sd1" | "sd2" | "sdxl" | None for the loaded model (drives the family guard and card filter)."""
        raise NotImplementedError

    # -- a generation -------------------------------------------------------------------------------
    def set_chain(self, p, chain: list) -> list[tuple[str, str]]:
        """host: make `chain` (list of ChainEntry) the networks of the generation `p` is running, replacing any
        previous chain; [] clears. Returns (label, reason) pairs the family guard refused."""
        raise NotImplementedError

    def step(self) -> tuple[int | None, int | None]:
        """host: (current sampling step, total steps of the current pass) or (None, None) outside sampling."""
        raise NotImplementedError

    def interrupted(self) -> bool:
        """host: whether the user asked to stop the current job."""
        return False

    # -- reporting ----------------------------------------------------------------------------------
    def warn(self, message: str, toast: bool = False) -> None:
        """host: show a warning in the console and, when `toast`, in the browser."""
        print(f"[hypernetworks] {message}")

    def detach(self) -> None:
        """host: remove everything this host attached (hooks, patches); called on Reload UI."""
        raise NotImplementedError


def family_from_flags(sd_model) -> str | None:
    """The family a host's model object declares (`is_sdxl` / `is_sd2` / `is_sd1`, as webui and Forge set)."""
    for flag, family in (("is_sdxl", "sdxl"), ("is_sd2", "sd2"), ("is_sd1", "sd1")):
        if getattr(sd_model, flag, False):
            return family
    return None


_current: Host | None = None


def set_current(host: Host | None) -> None:
    global _current
    _current = host


def current() -> Host:
    if _current is None:
        raise RuntimeError("no host selected; call sd_hypernet.hosts.install() first")
    return _current
