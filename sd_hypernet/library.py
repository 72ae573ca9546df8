"""The hypernetwork folder on disk: names, ambiguity, re-scan on a miss, and an LRU of loaded networks."""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass

import torch

from . import formats, hashing
from .errors import HypernetError, UnknownNetwork


@dataclass(frozen=True)
class LibraryItem:
    name: str        # the stem, or the relative path without extension when stems collide
    stem: str
    relpath: str     # relative to the root, '/'-separated, with extension
    path: str
    mtime: float
    size: int

    @property
    def key(self) -> str:
        return os.path.splitext(self.relpath)[0]

    def sha256(self, compute: bool = True) -> str | None:
        return hashing.file_sha256(self.path) if compute else hashing.cached_sha256(self.path)

    def short_hash(self, compute: bool = True) -> str | None:
        full = self.sha256(compute)
        return full[:10] if full else None


def walk(root: str, extensions=formats.EXTENSIONS):
    """Files under root with a hypernetwork extension, skipping hidden files and folders."""
    for folder, dirs, files in os.walk(root, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for fname in sorted(files):
            if fname.startswith(".") or not fname.lower().endswith(tuple(extensions)):
                continue
            yield os.path.join(folder, fname)


class Library:
    def __init__(self, root: str, cache_size: int = 8):
        self.root = root
        self.cache_size = cache_size
        self._items: dict[str, LibraryItem] = {}
        self._by_stem: dict[str, list[LibraryItem]] = {}
        self._loaded: OrderedDict[str, tuple[tuple, object]] = OrderedDict()
        self._lock = threading.RLock()
        self.scans = 0
        self.disk_loads = 0

    # ---- listing ------------------------------------------------------------------------------------------
    def scan(self) -> None:
        by_stem: dict[str, list[tuple[str, str, os.stat_result]]] = {}
        if os.path.isdir(self.root):
            for path in walk(self.root):
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                rel = os.path.relpath(path, self.root).replace(os.sep, "/")
                stem = os.path.splitext(os.path.basename(path))[0]
                by_stem.setdefault(stem, []).append((rel, path, st))
        items: dict[str, LibraryItem] = {}
        stems: dict[str, list[LibraryItem]] = {}
        for stem, found in by_stem.items():
            keys = [os.path.splitext(rel)[0] for rel, _, _ in found]
            for (rel, path, st), key in zip(found, keys):
                # a stem shared by files in other folders → relative path; by a.pt and a.safetensors → with extension
                name = stem if len(found) == 1 else key if keys.count(key) == 1 and key != stem else rel
                item = LibraryItem(name, stem, rel, path, st.st_mtime, st.st_size)
                items[name] = item
                stems.setdefault(stem, []).append(item)
        with self._lock:
            self._items = dict(sorted(items.items(), key=lambda kv: kv[1].relpath.lower()))
            self._by_stem = stems
            self.scans += 1

    def items(self) -> list[LibraryItem]:
        return list(self._items.values())

    @property
    def ambiguous(self) -> dict[str, list[str]]:
        return {stem: [i.relpath for i in found] for stem, found in self._by_stem.items() if len(found) > 1}

    def _lookup(self, name: str) -> LibraryItem | None:
        """By name, relative path (with or without extension) or unique stem; ambiguity is an error, never a guess."""
        key = name.replace("\\", "/")
        by_stem = self._by_stem.get(key, [])
        if len(by_stem) > 1:
            self._ambiguity(name, by_stem)
        item = self._items.get(key)
        if item is not None:
            return item
        matches = [i for i in self._items.values() if i.relpath == key] or \
                  [i for i in self._items.values() if i.key == key]
        if len(matches) > 1:
            self._ambiguity(name, matches)
        if matches:
            return matches[0]
        return by_stem[0] if by_stem else None

    @staticmethod
    def _ambiguity(name: str, found: list[LibraryItem]):
        raise HypernetError(f"{name}: several files share this name ({', '.join(i.relpath for i in found)}); "
                            f"use the relative path, e.g. <hypernet:{found[0].name}:1>")

    def resolve(self, name: str) -> LibraryItem:
        """The file for a tag name: a stem, or a relative path; re-scans once before giving up."""
        with self._lock:
            item = self._lookup(name)
            if item is None:
                self.scan()
                item = self._lookup(name)
        if item is None:
            raise UnknownNetwork(f"{name}: no hypernetwork with this name in {self.root}")
        return item

    def find_by_hash(self, short: str) -> LibraryItem | None:
        short = short.lower()
        for item in self.items():
            cached = item.sha256(compute=False)
            if cached and cached.startswith(short):
                return item
        for item in self.items():
            try:
                if item.sha256().startswith(short):
                    return item
            except OSError:
                continue
        return None

    # ---- loading ------------------------------------------------------------------------------------------
    def load(self, name: str):
        """The loaded network; read from disk only when not cached or when the file changed."""
        item = self.resolve(name)
        return self.load_item(item)

    def load_item(self, item: LibraryItem):
        try:
            st = os.stat(item.path)
        except OSError:
            raise HypernetError(f"{item.name}: file {item.relpath} is gone") from None
        version = (st.st_mtime_ns, st.st_size)
        with self._lock:
            cached = self._loaded.get(item.path)
            if cached is not None and cached[0] == version:
                self._loaded.move_to_end(item.path)
                return cached[1]
        with torch.inference_mode(False):  # normal tensors even when a host loads under inference_mode
            net = formats.load_file(item.path)
        with self._lock:
            self.disk_loads += 1
            self._loaded[item.path] = (version, net)
            self._loaded.move_to_end(item.path)
            self._evict()
        return net

    def _evict(self) -> None:
        while len(self._loaded) > max(1, int(self.cache_size)):
            self._loaded.popitem(last=False)

    def set_cache_size(self, size: int) -> None:
        with self._lock:
            self.cache_size = size
            self._evict()

    def offload_except(self, keep) -> int:
        """Move every cached network not in `keep` back to the CPU (no accelerator memory for networks the
        current generation does not use); returns how many moved."""
        keep_ids = {id(n) for n in keep}
        with self._lock:
            idle = [net for _, net in self._loaded.values() if id(net) not in keep_ids]
        moved = 0
        for net in idle:
            if net.device().type != "cpu":
                net.to("cpu")
                moved += 1
        return moved

    def unload_all(self) -> None:
        with self._lock:
            self._loaded.clear()

    @property
    def loaded_paths(self) -> list[str]:
        return list(self._loaded)
