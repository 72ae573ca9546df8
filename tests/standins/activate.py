"""Put one host's stand-in (`tests/standins/<host>/`) on sys.path, isolated from the other host's.

Every host provides a top-level `modules` package (Forge also `backend`, reForge `modules_forge`), so switching hosts must purge
those packages and our host glue from sys.modules on the way in and out.
"""
import contextlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
HOST_PACKAGES = ("modules", "backend", "modules_forge", "ldm_patched", "scripts", "sd_hypernet.hosts", "comfy",
                 "folder_paths")


def _purge():
    for name in list(sys.modules):
        if any(name == p or name.startswith(p + ".") for p in HOST_PACKAGES):
            del sys.modules[name]


@contextlib.contextmanager
def use_host(host: str):
    root = os.path.join(HERE, host)
    if not os.path.isdir(root):
        raise ValueError(f"no stand-in for host {host!r}")
    _purge()
    sys.path.insert(0, root)
    try:
        yield root
    finally:
        sys.path.remove(root)
        _purge()
