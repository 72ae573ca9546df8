"""Forge Classic's modules/script_callbacks.py: the webui's callbacks in the older form, where a callback is
registered as `on_x(callback)` only: passing `name=` is a TypeError, as in the real one."""
from mirror_webui import run_webui_module

run_webui_module("script_callbacks.py", globals())


def add_callback(callbacks, fun):  # noqa: F811 - the older signature: no name, no category
    callbacks.append(ScriptCallback(_caller_file(), fun))  # noqa: F821 - from the webui module above


def _registrar(key):
    def register(callback):
        add_callback(callback_map[key], callback)  # noqa: F821
    register.__name__ = register.__qualname__ = "on_" + key[len("callbacks_"):]
    return register


for _key in list(callback_map):  # noqa: F821
    globals()["on_" + _key[len("callbacks_"):]] = _registrar(_key)
