"""Stand-in of modules/shared_cmd_options.py: the parsed command line (only flags the glue reads), after every
extension's preload.py had its say (`script_loading.preload_extensions`, here: ours)."""
import argparse
import importlib.util
import os

from removed_hypernetworks import hypernetworks_removed

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))

parser = argparse.ArgumentParser()
if not hypernetworks_removed():  # Forge Neo / Classic dropped the flag
    parser.add_argument("--hypernetwork-dir", type=os.path.normpath, default=os.path.join("models", "hypernetworks"))
parser.add_argument("--api", action="store_true")
parser.add_argument("--nowebui", action="store_true")
parser.add_argument("--api-auth", type=str, default=None)
parser.add_argument("--gradio-auth", type=str, default=None)
parser.add_argument("--gradio-auth-path", type=str, default=None)
parser.add_argument("--no-hashing", action="store_true")
parser.add_argument("--data-dir", type=str, default=".")


def _preload_extensions():
    spec = importlib.util.spec_from_file_location("preload_sd_webui_hypernetworks", os.path.join(REPO, "preload.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.preload(parser)


_preload_extensions()
cmd_opts = parser.parse_args([])
