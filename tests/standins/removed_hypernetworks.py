"""What Forge Neo and Forge Classic removed, for their stand-ins: both reuse the webui stand-in's modules from
a `modules` package whose `HYPERNETWORKS_REMOVED` is True. Then the webui stand-in leaves out every piece those
hosts dropped (the flag, globals, option, routes, page, handler, paste), and the modules they deleted cannot be
imported at all: a meta-path finder refuses them while such a package is the live `modules`."""
import importlib.abc
import sys

REMOVED_MODULES = ("modules.hypernetworks", "modules.extra_networks_hypernet", "modules.ui_extra_networks_hypernets")


def hypernetworks_removed() -> bool:
    return bool(getattr(sys.modules.get("modules"), "HYPERNETWORKS_REMOVED", False))


class _Removed(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if hypernetworks_removed() and any(name == m or name.startswith(m + ".") for m in REMOVED_MODULES):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


def install() -> None:
    if not any(isinstance(f, _Removed) for f in sys.meta_path):
        sys.meta_path.insert(0, _Removed())


install()
