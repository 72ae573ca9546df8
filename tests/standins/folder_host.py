"""The smallest host our tab can be built on outside a real one: a stand-in's modules, one temporary
hypernetwork folder, every option at its default. For the scripts that build the tab in each gradio version."""
import contextlib
import tempfile

from activate import use_host


@contextlib.contextmanager
def folder_host(host_name: str):
    """(host, folder) with `host_name`'s stand-in active; both are gone when the block ends."""
    with tempfile.TemporaryDirectory() as folder, use_host(host_name):
        from sd_hypernet.hosts import common

        class Host(common.Host):
            def hypernetwork_dir(self):
                return folder

            def opt(self, key, default=None):
                return default

        yield Host(), folder
