"""ComfyUI's `hypernetworks` model folders as engine Libraries: names, the loaded-network LRU, lbw presets."""
from __future__ import annotations

import os

import folder_paths

from sd_hypernet import control, formats
from sd_hypernet.errors import UnknownNetwork
from sd_hypernet.library import Library

FOLDER = "hypernetworks"
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PRESETS_FILE = os.path.join(REPO_ROOT, "lbw_presets.txt")  # the same file the webui path reads

_libraries: dict[str, Library] = {}
_presets: tuple = (None, None)


def roots() -> list[str]:
    try:
        return list(folder_paths.get_folder_paths(FOLDER))
    except KeyError:
        return []


def library(root: str) -> Library:
    key = os.path.abspath(root)
    lib = _libraries.get(key)
    if lib is None:
        lib = _libraries[key] = Library(key)
    return lib


def file_names() -> list[str]:
    """The node's choices: ComfyUI's own listing of the folders, only the formats the engine reads."""
    return [n for n in folder_paths.get_filename_list(FOLDER) if n.lower().endswith(tuple(formats.EXTENSIONS))]


def load_file_name(name: str):
    """The network for a choice of the loader node (a path relative to one of the folders, with extension)."""
    path = os.path.abspath(folder_paths.get_full_path_or_raise(FOLDER, name))
    for root in roots():
        root = os.path.abspath(root)
        if os.path.commonpath([root, path]) == root:
            lib = library(root)
            return lib.load_item(lib.resolve(os.path.relpath(path, root).replace(os.sep, "/")))
    raise UnknownNetwork(f"{name}: not inside the {FOLDER} folders ({', '.join(roots())})")


def file_version(name: str) -> str:
    """'mtime_ns:size' of a loader choice ('' when it is not there)."""
    path = folder_paths.get_full_path(FOLDER, name) if name else None
    try:
        st = os.stat(path) if path else None
    except OSError:
        st = None
    return f"{st.st_mtime_ns}:{st.st_size}" if st else ""


def load_tag_name(name: str):
    """The network for a tag name (stem or relative path, as on the webui), from the first folder that has it."""
    for root in roots():
        try:
            return library(root).load(name)
        except UnknownNetwork:
            continue
    raise UnknownNetwork(f"{name}: no hypernetwork with this name in {', '.join(roots()) or 'no folder'}")


def presets():
    """LoRA-Block-Weight-style user presets (lbw_presets.txt in the repository folder), re-read when it changes."""
    global _presets
    try:
        mtime = os.path.getmtime(PRESETS_FILE)
    except OSError:
        return None
    if _presets[0] != mtime:
        with open(PRESETS_FILE, encoding="utf8") as f:
            _presets = (mtime, control.read_presets(f.read()))
    return _presets[1]
