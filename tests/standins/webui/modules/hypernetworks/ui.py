"""Stand-in of the built-in modules/hypernetworks/ui.py: the two handlers the webui's Train tab binds to
"Create hypernetwork" and "Train Hypernetwork". The real trainer loads `.pt` files with plain torch.load and fails
on current torch (weights_only is the default since torch 2.6); so does this one."""
from modules import shared

calls = []


def create_hypernetwork(name, enable_sizes, overwrite_old, layer_structure=None, activation_func=None,
                        weight_init=None, add_layer_norm=False, use_dropout=False, dropout_structure=None):
    calls.append(("create", name))
    return None, f"Created: {name}.pt", ""


def train_hypernetwork(*args):
    calls.append(("train", args[1] if len(args) > 1 else None))
    shared.loaded_hypernetworks = []
    raise RuntimeError("Weights only load failed: the built-in trainer cannot read the file on this torch")
