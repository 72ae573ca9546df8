"""The layout shows the architecture: the core imports no host, no two modules import each other (directly or
around a circle, lazy imports inside functions included), and the host glue keeps one concern per sub-package."""
from __future__ import annotations

import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGE = os.path.join(ROOT, "sd_hypernet")
HOST_MODULES = ("modules", "backend", "modules_forge", "ldm_patched", "comfy", "comfy_extras", "folder_paths",
                "nodes", "server")


def module_name(path: str) -> str:
    rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
    return rel[: -len(".__init__")] if rel.endswith(".__init__") else rel


def modules() -> dict[str, str]:
    found = {}
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                found[module_name(path)] = path
    return found


def imports_of(name: str, path: str, known: dict) -> set[str]:
    """Every module of ours, or host module, that `path` imports anywhere (top level or inside a function)."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts + ([base] if base else []))
            out.add(base)
            for alias in node.names:  # `from pkg import module`
                if f"{base}.{alias.name}" in known:
                    out.add(f"{base}.{alias.name}")
    return out


def graph():
    known = modules()
    return {name: {i for i in imports_of(name, path, known) if i in known and i != name}
            for name, path in known.items()}, known


def test_the_core_imports_no_host():
    known = modules()
    for name, path in known.items():
        if name.startswith("sd_hypernet.hosts"):
            continue
        for imported in imports_of(name, path, known):
            top = imported.split(".")[0]
            assert top not in HOST_MODULES, f"{name} imports the host module {imported}"
            assert not imported.startswith("sd_hypernet.hosts"), f"core module {name} imports {imported}"


def test_no_import_circles():
    edges, _ = graph()
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges[node]):
            if nxt.startswith(node + "."):  # a package reaching into its own sub-modules is no circle
                continue
            if state.get(nxt) == "open":
                circle = stack[stack.index(nxt):] + [nxt]
                raise AssertionError("import circle: " + " -> ".join(circle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node)


def test_host_glue_is_split_by_concern():
    hosts = os.path.join(PACKAGE, "hosts")
    flat = sorted(f for f in os.listdir(hosts) if f.endswith(".py"))
    assert flat == ["__init__.py", "cache_store.py", "common.py", "wiring.py"], flat
    for concern in ("adapters", "prompt", "ui", "routes", "training"):
        assert os.path.isfile(os.path.join(hosts, concern, "__init__.py")), concern
    edges, _ = graph()
    # only adapters know which host runs: shared glue never imports an adapter
    for name, targets in edges.items():
        if name.startswith("sd_hypernet.hosts.") and not name.startswith("sd_hypernet.hosts.adapters"):
            bad = [t for t in targets if t.startswith("sd_hypernet.hosts.adapters.")
                   and t not in ("sd_hypernet.hosts.adapters.sampling_steps",
                                 "sd_hypernet.hosts.adapters.checkpoint_family")]
            assert not bad, f"{name} imports adapter(s) {bad}"
