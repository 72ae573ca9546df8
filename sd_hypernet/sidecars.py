"""Files other tools keep beside a network: the `NAME.civitai.info` JSON that civitai helper extensions download
(the civitai model-version record: trained words, base model, description). Plain Python, no host.

The webui's own sidecars (`NAME.json` user metadata, `NAME.txt` description, `NAME.png` / `NAME.preview.*`
previews) are read by the host's extra-networks page; only what the host does not know is read here.
"""
from __future__ import annotations

import html
import json
import os
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from .file_memo import PerFileVersion
from .network import family_from_text

CIVITAI_INFO_SUFFIX = ".civitai.info"

# civitai's base-model names that family_from_text cannot read (SDXL derivatives named without "XL").
_CIVITAI_SDXL_BASES = ("pony", "illustrious", "noobai")


@dataclass(frozen=True)
class CivitaiInfo:
    path: str
    model_name: str = ""
    version_name: str = ""
    base_model: str = ""                  # civitai's "baseModel", e.g. "SD 1.5", "SDXL 1.0", "Pony"
    family: str | None = None             # "sd1" | "sd2" | "sdxl" | None, from base_model
    trained_words: tuple = field(default_factory=tuple)
    description: str = ""                 # plain text (civitai stores HTML)
    model_id: int | None = None
    version_id: int | None = None

    @property
    def activation_text(self) -> str:
        """The trained words as an activation text suggestion ("" when none)."""
        return ", ".join(w for w in self.trained_words if w)


def civitai_info_path(path: str) -> str:
    return os.path.splitext(path)[0] + CIVITAI_INFO_SUFFIX


def family_from_base_model(text) -> str | None:
    """civitai's baseModel → family: "SD 1.5" → sd1, "SD 2.1 768" → sd2, "SDXL 1.0" / "Pony" → sdxl; other
    bases (Flux, SD3, video models…) → None: no hypernetwork family."""
    if not isinstance(text, str) or not text.strip():
        return None
    low = text.strip().lower()
    if low.startswith(_CIVITAI_SDXL_BASES):
        return "sdxl"
    if low.startswith(("sd 3", "sd3", "flux", "hunyuan", "aura", "kolors", "lumina", "pixart", "svd", "wan", "ltx")):
        return None
    return family_from_text(text)


class _Text(HTMLParser):
    BLOCKS = {"p", "br", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "hr", "ul", "ol"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        self.parts.append(data)


def html_to_text(text: str) -> str:
    """civitai's HTML descriptions as plain text: tags dropped, paragraphs kept as line breaks."""
    if not text:
        return ""
    parser = _Text()
    try:
        parser.feed(str(text))
        parser.close()
        out = "".join(parser.parts)
    except Exception:  # malformed markup: fall back to a crude strip
        out = html.unescape(re.sub(r"<[^>]*>", " ", str(text)))
    lines = [re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in out.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _parse(path: str, data) -> CivitaiInfo | None:
    if not isinstance(data, dict):
        return None
    model = data.get("model") if isinstance(data.get("model"), dict) else {}
    words = data.get("trainedWords") or []
    if isinstance(words, str):
        words = [words]
    words = tuple(str(w).strip() for w in words if isinstance(w, (str, int, float)) and str(w).strip())
    base = str(data.get("baseModel") or "")
    description = data.get("description") or model.get("description") or ""

    def as_int(value):
        try:
            return int(value)
        except (TypeError, ValueError):
            return None

    return CivitaiInfo(
        path=path, model_name=str(model.get("name") or ""), version_name=str(data.get("name") or ""),
        base_model=base, family=family_from_base_model(base), trained_words=words,
        description=html_to_text(description) if isinstance(description, str) else "",
        model_id=as_int(data.get("modelId") or model.get("id")), version_id=as_int(data.get("id")))


_records = PerFileVersion()


def read_civitai_info(network_path: str) -> CivitaiInfo | None:
    """The `NAME.civitai.info` beside a network, or None (missing, unreadable or not a civitai record).
    Read once per version of the sidecar file."""
    return _records.get(civitai_info_path(network_path), _read_record)


def _read_record(path: str) -> CivitaiInfo | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return _parse(path, json.load(f))
    except (OSError, ValueError):
        return None
