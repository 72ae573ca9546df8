"""Axes for the host's built-in X/Y/Z plot: "Hypernet multiplier" and "Hypernet". Both rewrite the tags in the
cell's prompt, so each image's infotext records exactly what it used."""
from __future__ import annotations

import re

from sd_hypernet.errors import HypernetError
from sd_hypernet.tags import parse_number

from sd_hypernet.hosts import common

LABEL_MULTIPLIER = "Hypernet multiplier"
LABEL_NETWORK = "Hypernet"
re_tag = re.compile(r"<hypernet:([^:>]+)(:[^:>]*)?((?::[^>]*)?)>")
_added = []  # (module, option)


def find_xyz_module():
    from modules import scripts

    for data in scripts.scripts_data:
        if data.script_class.__module__ == "xyz_grid.py" and hasattr(data, "module"):
            return data.module
    return None


def parse_multiplier_value(text: str):
    """"0.5" → (None, 0.5): every tag; "name=0.5" → ("name", 0.5): that network's tags."""
    name, sep, value = str(text).partition("=")
    if not sep:
        return None, parse_number(text.strip(), f"Hypernet multiplier {text!r}")
    if not name.strip():
        raise HypernetError(f"Hypernet multiplier {text!r}: expected name=number")
    return name.strip(), parse_number(value.strip(), f"Hypernet multiplier {text!r}")


def _map_prompts(p, fn):
    for attr in ("prompt", "hr_prompt"):
        value = getattr(p, attr, None)
        if isinstance(value, str) and value:
            setattr(p, attr, fn(value))
        elif isinstance(value, list):
            setattr(p, attr, [fn(v) for v in value])


def _prompts(p):
    out = []
    for attr in ("prompt", "hr_prompt"):
        value = getattr(p, attr, None)
        out += value if isinstance(value, list) else [value] if isinstance(value, str) else []
    return out


def make_axes(host: common.Host, module):
    def confirm_multiplier(p, xs):
        for x in xs:
            name, _ = parse_multiplier_value(x)
            if name is not None and not any(m.group(1) == name for s in _prompts(p) for m in re_tag.finditer(s)):
                raise RuntimeError(f"Hypernet multiplier {x!r}: the prompt has no <hypernet:{name}:...> tag")
        if not any(re_tag.search(s) for s in _prompts(p)):
            raise RuntimeError("Hypernet multiplier: the prompt has no <hypernet:...> tag to change")

    def apply_multiplier(p, x, xs):
        name, value = parse_multiplier_value(x)

        def sub(m):
            if name is not None and m.group(1) != name:
                return m.group(0)
            return f"<hypernet:{m.group(1)}:{value:g}{m.group(3)}>"
        _map_prompts(p, lambda s: re_tag.sub(sub, s))

    def confirm_network(p, xs):
        lib = host.library()
        for x in xs:
            new = str(x).partition("=")[2] if "=" in str(x) else str(x)
            if new.strip() in ("", "None"):
                continue
            try:
                lib.resolve(new.strip())
            except HypernetError as e:
                raise RuntimeError(f"Hypernet {x!r}: {e}") from None

    def apply_network(p, x, xs):
        """"new": the first tag uses `new` (added when there is none; "None" removes it); "old=new": that tag."""
        old, sep, new = str(x).partition("=")
        old, new = (old.strip(), new.strip()) if sep else (None, old.strip())
        done = [False]

        def sub(m):
            if done[0] or (old is not None and m.group(1) != old):
                return m.group(0)
            done[0] = True
            return "" if new == "None" else f"<hypernet:{new}{m.group(2) or ''}{m.group(3)}>"

        def fn(s):
            done[0] = False
            out = re_tag.sub(sub, s)
            if not done[0] and old is None and new != "None":
                m = host.opt(common.OPT_DEFAULT_MULTIPLIER, 1.0)
                out = f"{out} <hypernet:{new}:{m:g}>" if out else f"<hypernet:{new}:{m:g}>"
            return out
        _map_prompts(p, fn)

    def choices():
        lib = host.library()
        if not lib.items():
            lib.scan()
        return ["None"] + [i.name for i in lib.items()]

    return [
        module.AxisOption(LABEL_MULTIPLIER, str, apply_multiplier, confirm=confirm_multiplier),
        module.AxisOption(LABEL_NETWORK, str, apply_network, confirm=confirm_network, choices=choices),
    ]


def register(host: common.Host) -> bool:
    module = find_xyz_module()
    if module is None:
        return False
    unregister()
    labels = {LABEL_MULTIPLIER, LABEL_NETWORK}
    module.axis_options[:] = [o for o in module.axis_options if o.label not in labels]
    for option in make_axes(host, module):
        module.axis_options.append(option)
        _added.append((module, option))
    return True


def unregister() -> None:
    while _added:
        module, option = _added.pop()
        if option in module.axis_options:
            module.axis_options.remove(option)
