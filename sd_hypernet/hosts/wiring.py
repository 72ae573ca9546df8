"""Registering the glue with the host's callbacks (settings, the `hypernet` handler and page, model loads, paste,
HTTP routes, X/Y/Z, the Hypernetworks tab) and undoing it all on unload."""
from __future__ import annotations

from sd_hypernet.hosts.common import Host, set_current


def wire(host: Host, extra_callbacks=()):
    """The callbacks both hosts share: settings, the `hypernet` handler and page (in on_before_ui, after the
    host registered its defaults), re-attach on model load, paste, API (listing and training), X/Y/Z, the
    Hypernetworks tab, and undoing it all on unload."""
    from modules import script_callbacks

    from sd_hypernet.hosts.routes import listing as api
    from sd_hypernet.hosts.ui import builtin_trainer
    from sd_hypernet.hosts import cache_store
    from sd_hypernet.hosts.prompt import extra_network
    from sd_hypernet.hosts.prompt import infotext
    from sd_hypernet.hosts.routes import access as route_access
    from sd_hypernet.hosts.ui import settings
    from sd_hypernet.hosts.routes import training as train_routes
    from sd_hypernet.hosts.prompt import xyz

    set_current(host)
    # descriptions and hashes live in the host's own cache (shared with the webui and other extensions)
    store_installed, previous_store = cache_store.install()
    settings.register(host)
    handler = extra_network.HypernetHandler(host)

    def before_ui():
        extra_network.register(handler)
        extra_network.replace_page(host)
        extra_network.sync_host_list(host)
        xyz.register(host)
        builtin_trainer.patch_handlers(import_missing=host.name in ("webui", "reforge"))  # before the Train tab binds them

    def model_loaded(sd_model):
        attach = getattr(host, "attach", None)
        if attach is not None:
            attach(sd_model)

    def pasted(text, params):
        infotext.on_infotext_pasted(host, text, params)

    routes = []  # (app, route) we added: taken off the app again on unload

    def app_started(demo, app):
        known = {id(r) for r in app.router.routes}
        access = route_access.Routes(app)
        api.add_routes(host, access)
        train_routes.add_routes(host, access)
        routes.extend((app, r) for r in app.router.routes if id(r) not in known)
        builtin_trainer.patch_handlers()  # the API module exists now: its create/train routes

    def ui_tabs():
        from sd_hypernet.hosts.ui import tab  # builds gradio components: only when the UI is made
        return tab.on_ui_tabs(host)

    callbacks = [
        (script_callbacks.on_before_ui, before_ui),
        (script_callbacks.on_model_loaded, model_loaded),
        (script_callbacks.on_infotext_pasted, pasted),
        (script_callbacks.on_app_started, app_started),
        (script_callbacks.on_ui_tabs, ui_tabs),
        *extra_callbacks,
    ]
    if hasattr(script_callbacks, "on_after_component"):
        callbacks.append((script_callbacks.on_after_component, builtin_trainer.after_component))

    def unloaded():
        # Reload UI / disabling: leave the host as if we had never run
        for _, fn in callbacks:
            script_callbacks.remove_callbacks_for_function(fn)
        script_callbacks.remove_callbacks_for_function(unloaded)
        for app in {id(a): a for a, _ in routes}.values():
            ours = {id(r) for a, r in routes if a is app}
            app.router.routes[:] = [r for r in app.router.routes if id(r) not in ours]
        routes.clear()
        xyz.unregister()
        builtin_trainer.restore()
        extra_network.unregister(handler)
        host.detach()
        if store_installed:
            from sd_hypernet import store
            store.install(previous_store)
        set_current(None)

    for register, fn in callbacks:
        register(fn, name=f"hypernetworks_{fn.__name__}")
    script_callbacks.on_script_unloaded(unloaded, name="hypernetworks_unloaded")
    return handler
