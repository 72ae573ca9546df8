"""The store (sd_hypernet/store.py) inside a host: sections of the host's own cache, `modules.cache.cache(name)`.

webui 1.10 and Forge v2 share modules/cache.py: `cache(subsection)` opens (once) a diskcache.Cache under the
host's cache folder (`SD_WEBUI_CACHE_DIR`, default `<data>/cache/<subsection>`), which reads and writes like a
dict and pickles plain values. So our hashes sit in the host's `hashes` section, where the webui's
modules/hashes.py looks for `hypernet/<name>`, and our descriptions in a section of their own.
"""
from __future__ import annotations

from sd_hypernet import store


def host_store() -> store.Store | None:
    """A store over the host's cache, or None when the host has no usable modules.cache."""
    try:
        from modules import cache
    except Exception as e:  # an older host without modules/cache.py (or diskcache): our own file then
        print(f"[hypernetworks] the host's cache is unavailable ({type(e).__name__}: {e}); "
              f"using {store.default_path()}")
        return None
    if not callable(getattr(cache, "cache", None)):
        return None
    return store.MappingStore(cache.cache)


def install() -> tuple[bool, store.Store | None]:
    """Install the host's store; (installed, previous store) so unloading can put the previous one back."""
    found = host_store()
    if found is None:
        return False, None
    return True, store.install(found)
