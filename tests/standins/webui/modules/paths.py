"""Stand-in of modules/paths.py (modules/paths_internal.py): the folders other modules import from here."""
import os

from modules.shared_cmd_options import cmd_opts

script_path = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the webui's own folder
data_path = os.path.abspath(cmd_opts.data_dir)                            # --data-dir
models_path = os.path.join(data_path, "models")
