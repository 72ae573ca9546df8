"""Registering the glue with the host's callbacks (settings, the `hypernet` handler and page, model loads, paste,
HTTP routes, X/Y/Z, the Hypernetworks tab) and undoing it all on unload.

Hosts differ in their callback API: Forge Classic's `on_*` take no `name=`, a host may lack a callback. Each
piece is registered and run on its own: a piece that fails is reported by name and the rest, and the host's
start-up and UI, go on.
"""
from __future__ import annotations

import functools
import inspect
import os
import traceback

from sd_hypernet.hosts.common import Host, set_current


def report(what: str, error: Exception) -> None:
    print(f"[hypernetworks] {what} failed: {type(error).__name__}: {error}")
    traceback.print_exc()


def attempt(what: str, fn, *args, fallback=None):
    """fn(*args), or `fallback` after reporting the failure by name."""
    try:
        return fn(*args)
    except Exception as e:
        report(what, e)
        return fallback


def reported(what: str, fn, fallback=None):
    """fn as a callback that never raises into the host: a failure is reported and `fallback` returned."""
    @functools.wraps(fn)
    def guarded(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as e:
            report(what, e)
            return fallback() if callable(fallback) else fallback
    return guarded


def _takes_name(register) -> bool:
    try:
        params = inspect.signature(register).parameters
    except (TypeError, ValueError):
        return False
    return "name" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def register_callback(script_callbacks, hook: str, fn) -> bool:
    """`script_callbacks.<hook>(fn, name=...)`, or without `name=` on hosts whose callbacks predate it; a hook the
    host lacks is reported and skipped."""
    register = getattr(script_callbacks, hook, None)
    if register is None:
        print(f"[hypernetworks] this host has no script_callbacks.{hook}; {fn.__name__} is not used here")
        return False
    try:
        if _takes_name(register):
            register(fn, name=f"hypernetworks_{fn.__name__}")
        else:
            register(fn)
        return True
    except Exception as e:
        report(f"registering {fn.__name__} with {hook}", e)
        return False


def supply_removed(host: Host) -> None:
    """On a host that removed hypernetworks: the folder it no longer creates (the flag comes from preload.py)."""
    os.makedirs(host.hypernetwork_dir(), exist_ok=True)


def wire(host: Host, extra_callbacks=()):
    """The callbacks every webui-family host shares: settings, the `hypernet` handler and page (in on_before_ui,
    after the host registered its defaults), re-attach on model load, paste, API (listing and training), X/Y/Z,
    the Hypernetworks tab, and undoing it all on unload. `extra_callbacks`: (hook name, fn) pairs of the host's."""
    from modules import script_callbacks

    from sd_hypernet.hosts import cache_store
    from sd_hypernet.hosts.prompt import extra_network, infotext, xyz
    from sd_hypernet.hosts.routes import access as route_access
    from sd_hypernet.hosts.routes import listing as api
    from sd_hypernet.hosts.routes import training as train_routes
    from sd_hypernet.hosts.ui import builtin_trainer, settings

    set_current(host)
    if host.supplies_removed:
        attempt("creating the hypernetwork folder", supply_removed, host)
    # descriptions and hashes live in the host's own cache (shared with the webui and other extensions)
    store_installed, previous_store = attempt("the host cache", cache_store.install, fallback=(False, None))
    attempt("the settings", settings.register, host)
    handler = extra_network.HypernetHandler(host)

    def before_ui():
        attempt("the hypernet handler", extra_network.register, handler)
        attempt("the Hypernetworks page", extra_network.replace_page, host)
        attempt("the host's network list", extra_network.sync_host_list, host)
        attempt("the X/Y/Z axes", xyz.register, host)
        # before the Train tab binds them
        attempt("the built-in trainer pointer", builtin_trainer.patch_handlers, host.name in ("webui", "reforge"))

    def model_loaded(sd_model):
        attach = getattr(host, "attach", None)
        if attach is not None:
            attach(sd_model)

    def pasted(text, params):
        infotext.on_infotext_pasted(host, text, params)

    routes = []  # (app, route) we added: taken off the app again on unload

    def app_started(demo, app):
        known = {id(r) for r in app.router.routes}
        try:
            access = route_access.Routes(app)
            attempt("the library routes", api.add_routes, host, access)
            attempt("the training routes", train_routes.add_routes, host, access)
        finally:
            routes.extend((app, r) for r in app.router.routes if id(r) not in known)
        attempt("the built-in trainer pointer", builtin_trainer.patch_handlers)  # the API's create/train routes

    def ui_tabs():
        from sd_hypernet.hosts.ui import tab  # builds gradio components: only when the UI is made
        return tab.on_ui_tabs(host)

    callbacks = [
        ("on_before_ui", reported("before_ui", before_ui)),
        ("on_model_loaded", reported("attaching to the loaded model", model_loaded)),
        ("on_infotext_pasted", reported("reading pasted infotext", pasted)),
        ("on_app_started", reported("adding the HTTP routes", app_started)),
        ("on_ui_tabs", reported("building the Hypernetworks tab", ui_tabs, fallback=list)),
        ("on_after_component", reported("hiding the built-in trainer", builtin_trainer.after_component)),
        *extra_callbacks,
    ]

    def unloaded():
        # Reload UI / disabling: leave the host as if we had never run
        for _, fn in callbacks:
            script_callbacks.remove_callbacks_for_function(fn)
        script_callbacks.remove_callbacks_for_function(unloaded)
        for app in {id(a): a for a, _ in routes}.values():
            ours = {id(r) for a, r in routes if a is app}
            app.router.routes[:] = [r for r in app.router.routes if id(r) not in ours]
        routes.clear()
        attempt("removing the X/Y/Z axes", xyz.unregister)
        attempt("restoring the built-in trainer", builtin_trainer.restore)
        attempt("restoring the host's hypernet handler", extra_network.unregister, handler)
        attempt("detaching from the model", host.detach)
        if store_installed:
            from sd_hypernet import store
            store.install(previous_store)
        set_current(None)

    callbacks = [(hook, fn) for hook, fn in callbacks if register_callback(script_callbacks, hook, fn)]
    register_callback(script_callbacks, "on_script_unloaded", unloaded)
    return handler
