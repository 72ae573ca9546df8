"""Stand-in of modules/api/api.py: only the built-in hypernetwork listing route (added with --api/--nowebui)."""
from fastapi import FastAPI

from modules import shared


class Api:
    def __init__(self, app: FastAPI, queue_lock=None):
        self.app = app
        self.add_api_route("/sdapi/v1/hypernetworks", self.get_hypernetworks, methods=["GET"])

    def add_api_route(self, path: str, endpoint, **kwargs):
        return self.app.add_api_route(path, endpoint, **kwargs)

    def get_hypernetworks(self):
        return [{"name": name, "path": shared.hypernetworks[name]} for name in shared.hypernetworks]
