"""The `hypernet` extra network: prompt tags → validated chain → the host, with problems reported by name."""
from __future__ import annotations

import json
import os

from modules import extra_networks, shared

from sd_hypernet import control, tags
from sd_hypernet.errors import HypernetError, UnknownNetwork

from sd_hypernet.hosts import common

EXTENSION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PRESETS_FILE = os.path.join(EXTENSION_ROOT, "lbw_presets.txt")
HASHES_FIELD = "Hypernet hashes"
ERRORS_FIELD = "Hypernet errors"
# The JSON field civitai's reader (and its webui extension) uses for resources: {"model": ..., "lora:NAME": ...};
# ours go in as "hypernet:NAME", beside whatever another extension put there.
CIVITAI_HASHES_FIELD = "Hashes"
CIVITAI_PREFIX = "hypernet:"

_presets_cache: tuple = (None, None)


def user_presets():
    """LoRA-Block-Weight-style presets from lbw_presets.txt in the extension folder (re-read when it changes)."""
    global _presets_cache
    try:
        mtime = os.path.getmtime(PRESETS_FILE)
    except OSError:
        return None
    if _presets_cache[0] != mtime:
        with open(PRESETS_FILE, encoding="utf8") as f:
            _presets_cache = (mtime, control.read_presets(f.read()))
    return _presets_cache[1]


def infotext_name(name: str) -> str:
    # ':' and ',' would break the "name: hash, ..." field; '{' '}' the JSON object civitai's reader cuts out
    return name.replace(":", "").replace(",", "").replace("{", "").replace("}", "")


def strip_label(label: str, reason: str) -> str:
    """The reason without a leading "label: " (library messages name the file; the report names it already)."""
    prefix = f"{label}: "
    return reason[len(prefix):] if reason.startswith(prefix) else reason


def merge_civitai_hashes(params: dict, hashes: dict[str, str]) -> None:
    """Put our networks into the `Hashes` JSON field as "hypernet:NAME", keeping every other key in it (another
    extension may write it) and dropping our keys from an earlier generation; an emptied field is removed.
    The value stays a dict: the host's infotext quoting writes a dict as a JSON object."""
    existing = params.get(CIVITAI_HASHES_FIELD)
    if isinstance(existing, str):
        try:
            existing = json.loads(existing)
        except ValueError:
            return  # not JSON: someone else's field; leave it alone
    if existing is not None and not isinstance(existing, dict):
        return
    merged = {k: v for k, v in (existing or {}).items() if not str(k).startswith(CIVITAI_PREFIX)}
    merged.update({CIVITAI_PREFIX + name: short for name, short in hashes.items()})
    if merged:
        params[CIVITAI_HASHES_FIELD] = merged
    else:
        params.pop(CIVITAI_HASHES_FIELD, None)


class GenerationReport:
    """What one generation (all batches and passes of one `p`) applied and refused."""

    def __init__(self):
        self.hashes: dict[str, str] = {}
        self.errors: dict[str, str] = {}


class HypernetHandler(extra_networks.ExtraNetwork):
    def __init__(self, host: common.Host):
        super().__init__("hypernet")
        self.host = host

    def _report(self, p) -> GenerationReport:
        # fresh at each generation's first activation; X/Y/Z cells are shallow copies of one p, hence the id
        entry = p.__dict__.get("_hypernet_report")
        first = not getattr(p, "is_hr_pass", False) and getattr(p, "iteration", 0) == 0
        if entry is None or entry[0] != id(p) or (first and not getattr(p, "_hypernet_in_activate", False)):
            entry = (id(p), GenerationReport())
            p.__dict__["_hypernet_report"] = entry
        return entry[1]

    def _add_prompt_option(self, p, params_list, lib):
        """The host's "Add hypernetwork to prompt" option, as its built-in handler applies it."""
        extra = self.host.opt(common.OPT_HOST_ADD_TO_PROMPT, "None")
        if not extra or extra == "None" or any(x.items and x.items[0] == extra for x in params_list):
            return
        try:
            lib.resolve(extra)
        except HypernetError as e:
            self._problem(p, extra, str(e), not_found=isinstance(e, UnknownNetwork))
            return
        m = self.host.opt(common.OPT_DEFAULT_MULTIPLIER, None)
        if m is None:
            m = self.host.opt("extra_networks_default_multiplier", 1.0)
        p.all_prompts = [f"{prompt}<hypernet:{extra}:{m}>" for prompt in p.all_prompts]
        params_list.append(extra_networks.ExtraNetworkParams(items=[extra, str(m)]))

    def _problem(self, p, label, reason, not_found=False):
        report = self._report(p)
        reason = strip_label(label, reason)
        text = f"Hypernet {label}: {reason}"
        # the browser notification comes from the infotext's "Hypernet errors" (javascript/hypernet_notices.js)
        if label not in report.errors and (not not_found or self.host.opt(common.OPT_WARN_CONSOLE, True)):
            print(f"[hypernetworks] {text}")
        report.errors[label] = reason
        p.comment(text)

    def activate(self, p, params_list):
        params_list = list(params_list)
        report = self._report(p)
        p.__dict__["_hypernet_in_activate"] = True
        try:
            self._activate(p, params_list, report)
        finally:
            p.__dict__["_hypernet_in_activate"] = False

    def _activate(self, p, params_list, report):
        lib = self.host.library()
        scans = lib.scans
        self._add_prompt_option(p, params_list, lib)
        family = self.host.model_family()
        force_all = bool(self.host.opt(common.OPT_FORCE_FAMILY, False))
        chain = []
        for params in params_list:
            items = [str(x) for x in params.items]
            label = items[0] if items else "?"
            try:
                spec = tags.parse_tag(items, family=family, presets=user_presets())
                item = lib.resolve(spec.name)
                net = lib.load_item(item)
            except HypernetError as e:
                self._problem(p, label, str(e), not_found=isinstance(e, UnknownNetwork))
                continue
            except Exception as e:  # a file that fails to load must not stop the generation
                self._problem(p, label, f"could not load: {type(e).__name__}: {e}")
                continue
            entry = spec.to_entry(net, label=spec.name)
            entry.force = entry.force or force_all
            chain.append(entry)
            if self.host.opt(common.OPT_HASHES_IN_INFOTEXT, True):
                try:
                    report.hashes[infotext_name(spec.name)] = item.short_hash()
                except OSError:
                    pass
        for label, reason in self.host.set_chain(p, chain):
            report.hashes.pop(infotext_name(label), None)
            self._problem(p, label, reason)
        lib.offload_except(e.network for e in chain)
        if lib.scans != scans:
            sync_host_list(self.host)
        self._write_infotext(p, report)

    def _write_infotext(self, p, report):
        # set or drop every time: X/Y/Z cells share one extra_generation_params dict
        params = p.extra_generation_params
        if report.hashes:
            params[HASHES_FIELD] = ", ".join(f"{k}: {v}" for k, v in report.hashes.items())
        else:
            params.pop(HASHES_FIELD, None)
        if report.hashes or CIVITAI_HASHES_FIELD in params:
            merge_civitai_hashes(params, report.hashes)
        if report.errors:
            params[ERRORS_FIELD] = "; ".join(f"{k}: {v}" for k, v in report.errors.items())
        else:
            params.pop(ERRORS_FIELD, None)

    def deactivate(self, p):
        self.host.set_chain(p, [])


def register(handler: HypernetHandler) -> None:
    """Take the `hypernet` name (the registry is a dict), so the host's built-in handler never runs."""
    extra_networks.register_extra_network(handler)


def unregister(handler: HypernetHandler) -> None:
    if extra_networks.extra_network_registry.get("hypernet") is handler:
        try:
            from modules.extra_networks_hypernet import ExtraNetworkHypernet
            extra_networks.register_extra_network(ExtraNetworkHypernet())
        except Exception:  # a host without the built-in handler (Forge may drop it)
            del extra_networks.extra_network_registry["hypernet"]


def replace_page(host: common.Host) -> None:
    """Drop the built-in Hypernetworks page and add ours under the same title (keeps ids and tab order)."""
    from modules import ui_extra_networks

    from sd_hypernet.hosts.ui.page import HypernetworksPage

    ui_extra_networks.extra_pages[:] = [p for p in ui_extra_networks.extra_pages if p.name != "hypernetworks"]
    ui_extra_networks.register_page(HypernetworksPage(host.library(), opt=host.opt, model_family=host.model_family))


def sync_host_list(host: common.Host) -> None:
    """Keep the host's own name → path list (its API route, the `sd_hypernetwork` choices) showing every file."""
    if not hasattr(shared, "hypernetworks"):  # Forge Neo / Classic removed it: nothing there to keep up to date
        return
    lib = host.library()
    if not lib.items():
        lib.scan()
    shared.hypernetworks = {item.name: item.path for item in lib.items()}
