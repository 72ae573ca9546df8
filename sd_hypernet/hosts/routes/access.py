"""Who may call our HTTP routes: the host's own API decides.

With the host's API on (`--api` / `--nowebui`), every route of ours is added through the host's `Api` object
(`modules.api.api.Api.add_api_route`), so `--api-auth` guards it with the host's own credential check, not a
copy of it. With the API off, write and compute routes (create, train, interrupt, refresh) do not exist, as the
host's own create/train routes do not; the read-only ones (listing, one network, a job's progress) stay, as
Lora's listing does, unless the host has credentials (`--api-auth`, `--gradio-auth`): then nothing of ours is
served over HTTP outside the UI.
"""
from __future__ import annotations


def host_api(app):
    """The host's `Api` serving `app` (found as the owner of one of its routes), or None when it serves no API."""
    for route in getattr(app.router, "routes", ()):
        owner = getattr(getattr(route, "endpoint", None), "__self__", None)
        if owner is not None and type(owner).__module__ == "modules.api.api" and hasattr(owner, "add_api_route"):
            return owner
    return None


def host_has_credentials() -> bool:
    try:
        from modules import shared
    except ImportError:
        return False
    opts = getattr(shared, "cmd_opts", None)
    return any(getattr(opts, key, None) for key in ("api_auth", "gradio_auth", "gradio_auth_path"))


class Routes:
    """Adds routes to `app` under the rules above; `api_on` tells whether write routes exist."""

    def __init__(self, app):
        self.app = app
        self.api = host_api(app)
        self.open_reads = self.api is None and not host_has_credentials()

    @property
    def api_on(self) -> bool:
        return self.api is not None

    def _add(self, path, endpoint, methods):
        if self.api is not None:
            self.api.add_api_route(path, endpoint, methods=list(methods))
        else:
            self.app.add_api_route(path, endpoint, methods=list(methods))

    def read(self, path: str, endpoint, methods=("GET",)) -> bool:
        if self.api is None and not self.open_reads:
            return False
        self._add(path, endpoint, methods)
        return True

    def write(self, path: str, endpoint, methods=("POST",)) -> bool:
        return self.api_only(path, endpoint, methods)

    def api_only(self, path: str, endpoint, methods=("GET",)) -> bool:
        """A route that exists only where the host serves its API (create/train, or one the host removed)."""
        if self.api is None:
            return False
        self._add(path, endpoint, methods)
        return True

    def has(self, path: str) -> bool:
        return any(getattr(r, "path", None) == path for r in self.app.router.routes)
