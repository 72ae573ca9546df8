"""Where a training job may write: inside the host's own output folders, unless a setting allows any folder.

A request names its `output_dir` (snapshots, previews, loss log); without this rule anyone who may start a job
could have files written anywhere the host process can write.
"""
from __future__ import annotations

import os

from sd_hypernet.errors import HypernetError

from sd_hypernet.hosts import common

# the webui's output-folder options (modules/shared_options.py); an empty one means "the default below"
OUTDIR_OPTIONS = ("outdir_samples", "outdir_txt2img_samples", "outdir_img2img_samples", "outdir_extras_samples",
                  "outdir_grids", "outdir_txt2img_grids", "outdir_img2img_grids", "outdir_save",
                  "outdir_init_images")


def _data_path() -> str:
    for module in ("modules.paths_internal", "modules.paths"):
        try:
            return __import__(module, fromlist=["data_path"]).data_path
        except (ImportError, AttributeError):
            continue
    return os.getcwd()


def allowed_roots(host: common.Host) -> list[str]:
    """The folders a job may write into (absolute, symlinks resolved, each once)."""
    data = _data_path()
    candidates = [os.path.join(data, "outputs"), os.path.join(data, "textual_inversion"),
                  "textual_inversion",  # the default output folder, relative to the host's working folder
                  host.hypernetwork_dir()]
    candidates += [host.opt(key, "") for key in OUTDIR_OPTIONS]
    roots = []
    for path in candidates:
        if path:
            real = os.path.realpath(os.path.abspath(str(path)))
            if real not in roots:
                roots.append(real)
    return roots


def check_output_dir(host: common.Host, output_dir: str) -> None:
    """HypernetError naming the rule when `output_dir` lies outside every allowed root."""
    if host.opt(common.OPT_ANY_OUTPUT_DIR, False):
        return
    real = os.path.realpath(os.path.abspath(str(output_dir)))
    roots = allowed_roots(host)
    if any(real == root or real.startswith(root.rstrip(os.sep) + os.sep) for root in roots):
        return
    raise HypernetError(
        f"training option output_dir {output_dir!r}: outside the host's output folders ({', '.join(roots)}); "
        "choose a folder inside one of them, or allow any folder in Settings → Hypernetworks")
