"""Stand-in of webui v1.10.1's modules/cache.py (Forge v2's is the same file).

The real module keeps one `diskcache.Cache` per subsection under `SD_WEBUI_CACHE_DIR` (default
`<data_path>/cache`), migrates a legacy `cache.json` on first use, and offers `cached_data_for_file`. The
stand-in keeps that API and behaviour; only the storage differs: `_DiskCache` is a small dict-like object
persisted (pickled, written through on every change, atomically) in `<cache_dir>/<subsection>/cache.pickle`.
Like diskcache, a value read back is a copy (it was pickled), and another process sees every write.
"""
import json
import os
import os.path
import pickle
import threading

from modules.paths import data_path, script_path

cache_filename = os.environ.get('SD_WEBUI_CACHE_FILE', os.path.join(data_path, "cache.json"))
cache_dir = os.environ.get('SD_WEBUI_CACHE_DIR', os.path.join(data_path, "cache"))
caches = {}
cache_lock = threading.Lock()


class _DiskCache:
    """The part of diskcache.Cache's mapping API the webui and extensions use."""

    def __init__(self, directory):
        self.directory = directory
        self._file = os.path.join(directory, "cache.pickle")
        self._lock = threading.RLock()
        os.makedirs(directory, exist_ok=True)

    def _read(self):
        try:
            with open(self._file, "rb") as f:
                return pickle.load(f)
        except FileNotFoundError:
            return {}

    def _write(self, data):
        tmp = f"{self._file}.tmp-{os.getpid()}-{threading.get_ident()}"
        with open(tmp, "wb") as f:
            pickle.dump(data, f)
        os.replace(tmp, self._file)

    def get(self, key, default=None):
        with self._lock:
            data = self._read()
        return data[key] if key in data else default

    def __getitem__(self, key):
        with self._lock:
            return self._read()[key]

    def __contains__(self, key):
        with self._lock:
            return key in self._read()

    def __setitem__(self, key, value):
        with self._lock:
            data = self._read()
            data[key] = value
            self._write(data)

    def __delitem__(self, key):
        with self._lock:
            data = self._read()
            del data[key]
            self._write(data)

    def __len__(self):
        with self._lock:
            return len(self._read())

    def __iter__(self):
        with self._lock:
            return iter(list(self._read()))

    def close(self):
        pass


def dump_cache():
    """old function for dumping cache to disk; does nothing since diskcache."""


def make_cache(subsection):
    return _DiskCache(os.path.join(cache_dir, subsection))


def convert_old_cached_data():
    try:
        with open(cache_filename, "r", encoding="utf8") as file:
            data = json.load(file)
    except FileNotFoundError:
        return
    except Exception:
        os.makedirs(os.path.join(script_path, "tmp"), exist_ok=True)
        os.replace(cache_filename, os.path.join(script_path, "tmp", "cache.json"))
        print('[ERROR] issue occurred while trying to read cache.json; old cache has been moved to tmp/cache.json')
        return
    for subsection, keyvalues in data.items():
        cache_obj = caches.get(subsection)
        if cache_obj is None:
            cache_obj = caches[subsection] = make_cache(subsection)
        for key, value in keyvalues.items():
            cache_obj[key] = value


def cache(subsection):
    """The cache for a subsection, opened once per process."""
    cache_obj = caches.get(subsection)
    if not cache_obj:
        with cache_lock:
            if not os.path.exists(cache_dir) and os.path.isfile(cache_filename):
                convert_old_cached_data()
            cache_obj = caches.get(subsection)
            if not cache_obj:
                cache_obj = caches[subsection] = make_cache(subsection)
    return cache_obj


def cached_data_for_file(subsection, title, filename, func):
    """v1.10.1: the entry for `title` unless the file's mtime is newer than the recorded one; else func()."""
    existing_cache = cache(subsection)
    ondisk_mtime = os.path.getmtime(filename)
    entry = existing_cache.get(title)
    if entry:
        if ondisk_mtime > entry.get("mtime", 0):
            entry = None
    if not entry or 'value' not in entry:
        value = func()
        if value is None:
            return None
        entry = {'mtime': ondisk_mtime, 'value': value}
        existing_cache[title] = entry
        dump_cache()
    return entry['value']
