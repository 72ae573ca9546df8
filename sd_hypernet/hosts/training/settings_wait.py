"""Settings while a training job runs.

The job holds the webui's queue lock for the whole run (generations would share the UNet it trains). Apply
settings itself takes no lock, but a setting whose change reloads the model (checkpoint, VAE, cross-attention
optimisation, fp8 storage, fp16 weight cache) runs its reload through the same lock, so it waits for the job.
The webui loads config.json as it is: a setting the file lacks compares as None, so the first Apply on a young
install "changes" every such setting to the default it already has and waits for the job with nothing to do.
Before a job starts, such settings get their default written into the options' data (the value the webui
reports for them anyway): Apply then runs no reload unless the user really changes one, which still waits,
and the tab says so.
"""
from __future__ import annotations

WAITS = ("Settings apply at once while training runs; a change to the checkpoint, the VAE or the "
         "cross-attention optimisation reloads the model, so it waits until the job ends.")


def settle_defaults(opts) -> list[str]:
    """Store the default of every setting with an onchange that the loaded config lacks; returns their keys."""
    data, labels = getattr(opts, "data", None), getattr(opts, "data_labels", None)
    if not isinstance(data, dict) or not isinstance(labels, dict):
        return []
    filled = []
    for key, info in list(labels.items()):
        if key in data or getattr(info, "onchange", None) is None or getattr(info, "do_not_save", False):
            continue
        data[key] = getattr(info, "default", None)
        filled.append(key)
    return filled
