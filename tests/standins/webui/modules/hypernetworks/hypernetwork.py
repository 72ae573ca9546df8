"""Stand-in of the built-in modules/hypernetworks/hypernetwork.py: listing (`*.pt` only) and the loader the
built-in handler calls. Loading only records the name: enough to show whether the built-in path ran."""
import glob
import os

from modules import shared


def list_hypernetworks(path):
    res = {}
    for filename in sorted(glob.iglob(os.path.join(path, '**/*.pt'), recursive=True), key=str.lower):
        name = os.path.splitext(os.path.basename(filename))[0]
        if name != "None":
            res[name] = filename
    return res


class BuiltinHypernetwork:
    def __init__(self, name, filename, multiplier):
        self.name, self.filename, self.multiplier = name, filename, multiplier
        self.layers = {}


def load_hypernetworks(names, multipliers=None):
    shared.loaded_hypernetworks.clear()
    for i, name in enumerate(names):
        path = shared.hypernetworks.get(name)
        if path is None:
            continue
        shared.loaded_hypernetworks.append(BuiltinHypernetwork(name, path, multipliers[i] if multipliers else 1.0))


def create_hypernetwork(name, enable_sizes, overwrite_old=False, layer_structure=None, activation_func=None,
                        weight_init=None, add_layer_norm=False, use_dropout=False, dropout_structure=None):
    """The built-in creator the API route calls (writes `<name>.pt` with the webui's pickle layout)."""
    raise AssertionError("stand-in: the built-in creator is not implemented")


def train_hypernetwork(id_task, hypernetwork_name, *args, **kwargs):
    """The built-in trainer the API route calls; fails on current torch (plain torch.load of the .pt)."""
    raise RuntimeError("Weights only load failed: the built-in trainer cannot read the file on this torch")
