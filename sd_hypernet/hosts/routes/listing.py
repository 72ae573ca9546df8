"""HTTP routes for the library (added in on_app_started; who may call them: route_access)."""
from __future__ import annotations

from sd_hypernet.info import cached_describe as describe_file, file_hash
from sd_hypernet.errors import HypernetError

from sd_hypernet.hosts import common
from sd_hypernet.hosts.routes.access import Routes
from sd_hypernet.hosts.prompt.extra_network import sync_host_list

PREFIX = "/sdapi/v1/hypernet"
HOST_LIST = "/sdapi/v1/hypernetworks"
_JSON_TYPES = (str, int, float, bool, list, type(None))


def describe(item, with_hash: bool = False) -> dict:
    """One network for the API: the file's facts (read once per file version) and where it lies. The hash is
    null in a listing until something computed it; `with_hash` computes it (once per file version)."""
    info = describe_file(item.path)
    sha256 = file_hash(item.path) if with_hash else info["sha256"]
    return {
        "name": item.name, "path": item.path, "relpath": item.relpath, "size": item.size, "mtime": item.mtime,
        "hash": sha256[:10] if sha256 else None, "sha256": sha256,
        "family": info["family"], "sizes": info["sizes"], "cross_sizes": info["cross_sizes"],
        "parameters": info["parameters"],
        "metadata": {str(k): v for k, v in info["metadata"].items() if isinstance(v, _JSON_TYPES)},
    }


def add_routes(host: common.Host, routes: Routes) -> None:
    from fastapi import HTTPException

    def list_networks():
        lib = host.library()
        if not lib.items():
            lib.scan()
        out = []
        for item in lib.items():
            try:
                # not through the LRU: listing must not push the networks in use out of it
                out.append(describe(item))
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
            return describe(item, with_hash=True)
        except (HypernetError, OSError) as e:
            raise HTTPException(status_code=404, detail=str(e))

    def host_list():
        # the webui's own GET /sdapi/v1/hypernetworks answer, for hosts that removed it (Forge Neo, Classic)
        lib = host.library()
        if not lib.items():
            lib.scan()
        return [{"name": item.name, "path": item.path} for item in lib.items()]

    if host.supplies_removed and not routes.has(HOST_LIST):
        routes.api_only(HOST_LIST, host_list)  # like the host's own was: only with its API, under its auth
    routes.read(f"{PREFIX}/networks", list_networks)
    routes.read(f"{PREFIX}/network", network)
    routes.write(f"{PREFIX}/refresh", refresh)
