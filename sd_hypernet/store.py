"""Where file facts (descriptions, hashes) outlive the process: named sections of plain-data values.

The core only needs a tiny interface — `current().section(name)` returns a mapping with `get(key)` and
`[key] = value` — so the backend is pluggable:
- outside a host, `JsonFileStore`: one JSON file of our own (`default_path()`), written atomically;
- inside the webui or Forge, the host glue installs a store backed by the host's own `modules.cache`
  (sd_hypernet/hosts/cache_store.py), so hashes are shared with the webui and other extensions.

Values must be JSON data (dicts, lists, str, numbers, bool, None); a value read back is a copy, so change
an entry by writing it again. A store that cannot be read or written never fails the caller: it says so
once and carries on in memory.
"""
from __future__ import annotations

import atexit
import copy
import json
import os
import sys
import threading

APP_DIR = "sd-webui-hypernetworks"
FILE_NAME = "cache.json"
ENV_DIR = "SD_HYPERNET_CACHE_DIR"   # overrides the folder of our own cache file


def default_path() -> str:
    """`$SD_HYPERNET_CACHE_DIR/cache.json`, else the per-user cache folder: `$XDG_CACHE_HOME` (or `~/.cache`)
    on Linux and macOS, `%LOCALAPPDATA%` on Windows, each with `sd-webui-hypernetworks/cache.json`."""
    folder = os.environ.get(ENV_DIR)
    if not folder:
        if os.name == "nt" and os.environ.get("LOCALAPPDATA"):
            base = os.environ["LOCALAPPDATA"]
        else:
            base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        folder = os.path.join(base, APP_DIR)
    return os.path.join(folder, FILE_NAME)


def _warn(message: str) -> None:
    print(f"[hypernetworks] {message}", file=sys.stderr)


class Store:
    """A set of named sections; each section is a mapping (get / [key] = value)."""

    def section(self, name: str):
        raise NotImplementedError

    def flush(self) -> None:
        """Make every write so far durable (a no-op for stores that write through)."""


class MemoryStore(Store):
    """Sections in this process only (what a store falls back to when its file cannot be used)."""

    def __init__(self):
        self._sections: dict[str, _Section] = {}
        self._lock = threading.Lock()

    def section(self, name: str):
        with self._lock:
            found = self._sections.get(name)
            if found is None:
                found = self._sections[name] = _Section(self, {})
            return found

    def _changed(self) -> None:
        pass


class _Section:
    """One section of a MemoryStore / JsonFileStore: values are copied in and out, like diskcache's."""

    def __init__(self, owner, data: dict):
        self._owner = owner
        self._data = data

    def get(self, key, default=None):
        with self._owner._lock:
            value = self._data.get(key, _MISSING)
        return default if value is _MISSING else copy.deepcopy(value)

    def __getitem__(self, key):
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __contains__(self, key) -> bool:
        with self._owner._lock:
            return key in self._data

    def __setitem__(self, key, value) -> None:
        value = copy.deepcopy(value)
        with self._owner._lock:
            self._data[key] = value
        self._owner._changed()

    def __delitem__(self, key) -> None:
        with self._owner._lock:
            del self._data[key]
        self._owner._changed()

    def __len__(self) -> int:
        return len(self._data)

    def keys(self):
        with self._owner._lock:
            return list(self._data)


_MISSING = object()


class JsonFileStore(MemoryStore):
    """Every section in one JSON file, `{"version": 1, "sections": {name: {key: value}}}`.

    Read once, on first use; a missing file is an empty store, an unreadable or corrupt one is reported
    and replaced on the next write. Writes are coalesced (at most one every `delay` seconds, and at exit)
    and atomic (a temporary file renamed over the old one), so a crash leaves the old file or the new one.
    Writes from another process in the meantime are merged section by section, key by key (ours win)."""

    VERSION = 1

    def __init__(self, path: str | None = None, delay: float = 0.5):
        super().__init__()
        self.path = path or default_path()
        self.delay = delay
        self._loaded = False
        self._dirty = False
        self._timer: threading.Timer | None = None
        self._broken = False  # could not write: stay in memory, say so once
        self._write_lock = threading.Lock()
        atexit.register(self.flush)

    def _read_file(self, quiet: bool = False) -> dict:
        try:
            with open(self.path, encoding="utf8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            if not quiet:
                _warn(f"cache file {self.path} cannot be read ({type(e).__name__}: {e}); "
                      f"starting with an empty cache")
            return {}
        if not isinstance(data, dict) or data.get("version") != self.VERSION \
                or not isinstance(data.get("sections"), dict):
            if not quiet:
                _warn(f"cache file {self.path} is not a cache this version reads; starting with an empty cache")
            return {}
        return {name: values for name, values in data["sections"].items() if isinstance(values, dict)}

    def _load(self) -> None:
        if self._loaded:
            return
        data = self._read_file()
        with self._lock:
            if not self._loaded:
                for name, values in data.items():
                    self._sections[name] = _Section(self, values)
                self._loaded = True

    def section(self, name: str):
        self._load()
        return super().section(name)

    def _changed(self) -> None:
        with self._lock:
            self._dirty = True
            if self._timer is None and self.delay > 0:
                self._timer = threading.Timer(self.delay, self.flush)
                self._timer.daemon = True
                self._timer.start()
        if self.delay <= 0:
            self.flush()

    def flush(self) -> None:
        with self._write_lock:
            with self._lock:
                timer, self._timer = self._timer, None
                if not self._dirty or self._broken:
                    return
                ours = {name: dict(section._data) for name, section in self._sections.items()}
                self._dirty = False
            if timer is not None:
                timer.cancel()
            merged = self._read_file(quiet=True)  # another process's entries since we read it
            for name, values in ours.items():
                merged.setdefault(name, {}).update(values)
            tmp = f"{self.path}.tmp-{os.getpid()}-{threading.get_ident()}"
            try:
                os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
                with open(tmp, "w", encoding="utf8") as f:
                    json.dump({"version": self.VERSION, "sections": merged}, f, ensure_ascii=False,
                              separators=(",", ":"))
                os.replace(tmp, self.path)
            except (OSError, TypeError, ValueError) as e:
                self._broken = True
                _warn(f"cache file {self.path} cannot be written ({type(e).__name__}: {e}); "
                      f"descriptions and hashes are kept for this session only")
            finally:
                if os.path.exists(tmp):
                    try:
                        os.remove(tmp)
                    except OSError:
                        pass


class MappingStore(Store):
    """Sections from a function name -> mapping (e.g. the host's `modules.cache.cache`)."""

    def __init__(self, open_section):
        self._open = open_section

    def section(self, name: str):
        return self._open(name)


_current: Store | None = None
_current_lock = threading.Lock()


def current() -> Store:
    """The installed store; by default our own JSON file (created on first use)."""
    global _current
    with _current_lock:
        if _current is None:
            _current = JsonFileStore()
        return _current


def install(store: Store | None) -> Store | None:
    """Make `store` the one every lookup uses (None: back to the default file); returns the previous one."""
    global _current
    with _current_lock:
        previous, _current = _current, store
    if previous is not None and previous is not store:
        previous.flush()
    return previous


def section(name: str):
    """`current().section(name)`, never failing: a broken store gives an in-memory section."""
    try:
        return current().section(name)
    except Exception as e:  # a host cache that cannot open: say so once, keep working
        if name not in _fallback._sections:
            _warn(f"cache section {name!r} cannot be opened ({type(e).__name__}: {e}); using memory")
        return _fallback.section(name)


_fallback = MemoryStore()
