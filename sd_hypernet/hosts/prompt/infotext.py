"""Paste: tags naming a file unknown here are rewritten to the local file with the same hash; the webui's
legacy `Hypernet:` / `Hypernet hash:` fields resolve too."""
from __future__ import annotations

import hashlib
import json
import re

from sd_hypernet.errors import HypernetError

from sd_hypernet.hosts import common
from sd_hypernet.hosts.prompt.extra_network import CIVITAI_PREFIX, HASHES_FIELD

re_tag_name = re.compile(r"<hypernet:([^:>]+)([:>])")
# The `Hashes: {...}` JSON object (civitai's convention); the host's own field parser splits it at commas, so it
# is read from the raw text.
re_json_hashes = re.compile(r"(?:^|,)\s*Hashes:\s*(\{[^}]*\})", re.M)
PROMPT_KEYS = ("Prompt", "Hires prompt")


def parse_hashes(text: str) -> dict[str, str]:
    """`a: 0123456789, b: abcdef0123` → {"a": "0123456789", "b": "abcdef0123"}."""
    res = {}
    for part in str(text).split(","):
        name, sep, short = part.rpartition(":")
        if sep and name.strip() and short.strip():
            res[name.strip()] = short.strip().lower()
    return res


def json_hashes(infotext: str) -> dict[str, str]:
    """`hypernet:NAME` keys of a `Hashes: {...}` field in raw infotext → {"NAME": short hash}."""
    res = {}
    for m in re_json_hashes.finditer(str(infotext or "")):
        try:
            data = json.loads(m.group(1))
        except ValueError:
            continue
        if isinstance(data, dict):
            for key, value in data.items():
                if str(key).startswith(CIVITAI_PREFIX) and isinstance(value, str) and value.strip():
                    res[str(key)[len(CIVITAI_PREFIX):]] = value.strip().lower()
    return res


def legacy_model_hash(path: str) -> str:
    """The webui's pre-2023 short hash (old "Hypernet hash" fields): 64 KiB at offset 1 MiB."""
    with open(path, "rb") as f:
        f.seek(0x100000)
        return hashlib.sha256(f.read(0x10000)).hexdigest()[:8]


def _known(lib, name) -> bool:
    try:
        lib.resolve(name)
        return True
    except HypernetError:
        return False


def _find_legacy(lib, short: str):
    for item in lib.items():
        try:
            if legacy_model_hash(item.path) == short.lower():
                return item
        except OSError:
            continue
    return None


def rewrite_prompt(prompt: str, lib, hashes: dict[str, str]) -> str:
    def swap(m):
        name = m.group(1)
        short = hashes.get(name)
        if not short or _known(lib, name):
            return m.group(0)
        item = lib.find_by_hash(short)
        return m.group(0) if item is None else f"<hypernet:{item.name}{m.group(2)}"

    return re_tag_name.sub(swap, prompt)


def on_infotext_pasted(host: common.Host, infotext: str, params: dict) -> None:
    lib = host.library()
    hashes = {**json_hashes(infotext), **parse_hashes(params.get(HASHES_FIELD, ""))}

    legacy = params.get("Hypernet")
    if legacy:
        legacy_name = str(legacy).strip()
        # the host turns `Hypernet:` into a tag already; a host that does not still gets one
        if f"<hypernet:{legacy_name}:" not in params.get("Prompt", ""):
            params["Prompt"] = params.get("Prompt", "") + f"<hypernet:{legacy_name}:{params.get('Hypernet strength', '1.0')}>"
        old_hash = str(params.get("Hypernet hash", "")).strip()
        if old_hash and legacy_name not in hashes and not _known(lib, legacy_name):
            item = _find_legacy(lib, old_hash)
            if item is not None:
                params["Prompt"] = params["Prompt"].replace(f"<hypernet:{legacy_name}:", f"<hypernet:{item.name}:")

    if hashes:
        for key in PROMPT_KEYS:
            if params.get(key):
                params[key] = rewrite_prompt(params[key], lib, hashes)
