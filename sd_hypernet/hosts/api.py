"""HTTP routes (added in on_app_started, so present with and without --api, like Lora's)."""
from __future__ import annotations

from sd_hypernet import formats
from sd_hypernet.errors import HypernetError

from . import common
from .extra_network import sync_host_list

PREFIX = "/sdapi/v1/hypernet"
_JSON_TYPES = (str, int, float, bool, list, type(None))


def describe(item, net) -> dict:
    return {
        "name": item.name, "path": item.path, "relpath": item.relpath, "size": item.size, "mtime": item.mtime,
        "hash": item.short_hash(), "sha256": item.sha256(),
        "family": net.family, "sizes": net.sizes, "cross_sizes": net.cross_sizes,
        "parameters": net.parameter_count(),
        "metadata": {str(k): v for k, v in net.metadata.items() if isinstance(v, _JSON_TYPES)},
    }


def add_routes(host: common.Host, app) -> None:
    from fastapi import HTTPException

    def list_networks():
        lib = host.library()
        if not lib.items():
            lib.scan()
        out = []
        for item in lib.items():
            try:
                # read directly: listing must not push the networks in use out of the LRU
                out.append(describe(item, formats.load_file(item.path)))
            except (HypernetError, OSError) as e:
                out.append({"name": item.name, "path": item.path, "relpath": item.relpath, "error": str(e)})
        return out

    def refresh():
        lib = host.library()
        lib.scan()
        sync_host_list(host)
        return {"count": len(lib.items()), "ambiguous": lib.ambiguous}

    def network(name: str):
        lib = host.library()
        try:
            item = lib.resolve(name)
            return describe(item, lib.load_item(item))
        except HypernetError as e:
            raise HTTPException(status_code=404, detail=str(e))

    app.add_api_route(f"{PREFIX}/networks", list_networks, methods=["GET"])
    app.add_api_route(f"{PREFIX}/refresh", refresh, methods=["POST"])
    app.add_api_route(f"{PREFIX}/network", network, methods=["GET"])
