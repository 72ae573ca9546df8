"""Stand-in of modules/shared_cmd_options.py: the parsed command line (only flags the glue reads)."""
import argparse
import os

parser = argparse.ArgumentParser()
parser.add_argument("--hypernetwork-dir", type=os.path.normpath, default=os.path.join("models", "hypernetworks"))
parser.add_argument("--api", action="store_true")
parser.add_argument("--nowebui", action="store_true")
parser.add_argument("--api-auth", type=str, default=None)
parser.add_argument("--gradio-auth", type=str, default=None)
parser.add_argument("--gradio-auth-path", type=str, default=None)
parser.add_argument("--no-hashing", action="store_true")
parser.add_argument("--data-dir", type=str, default=".")

cmd_opts = parser.parse_args([])
