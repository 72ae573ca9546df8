"""Run a webui stand-in module's source in another host's module namespace (Forge, reForge), for modules that
host changes only a little."""
import os

WEBUI_MODULES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "webui", "modules")


def run_webui_module(relpath: str, namespace: dict) -> None:
    path = os.path.join(WEBUI_MODULES, relpath)
    with open(path, encoding="utf8") as f:
        code = compile(f.read(), path, "exec")
    exec(code, namespace)
