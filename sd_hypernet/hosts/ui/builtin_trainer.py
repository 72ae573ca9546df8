"""The webui's own hypernetwork trainer, replaced by a pointer to ours while the extension is enabled.

webui 1.10 (and reForge, whose Train tab is the same) builds a "Create hypernetwork" sub-tab and, in the "Train"
sub-tab it shares with embeddings, a Hypernetwork dropdown (every `.pt`, whatever the model), its learning rate and
a "Train Hypernetwork" button; its trainer loads files with plain torch.load and fails on current torch. Forge
has no Train tab (nothing here matches there).

- `after_component` (an `on_after_component` callback) hides those components as the webui makes them and puts
  a short note with a button that opens our tab in their place; embeddings are untouched.
- `patch_handlers` swaps the functions the hidden buttons and the `/sdapi/v1/create|train/hypernetwork` routes
  call for ones that answer with the same pointer, so nothing of the built-in trainer runs half-broken.
- `restore` (on unload) puts the functions back. Components are hidden only while the UI is built with the
  extension active, so a Reload UI or a restart without it shows the webui's tab as it was.
"""
from __future__ import annotations

import html
import importlib
import sys

from sd_hypernet.errors import HypernetError

# The built-in components, by the elem_ids webui v1.10.1's modules/ui.py gives them.
HIDDEN_ELEM_IDS = frozenset({
    "train_new_hypernetwork_name", "train_new_hypernetwork_sizes", "train_new_hypernetwork_layer_structure",
    "train_new_hypernetwork_activation_func", "train_new_hypernetwork_initialization_option",
    "train_new_hypernetwork_add_layer_norm", "train_new_hypernetwork_use_dropout",
    "train_overwrite_old_hypernetwork", "train_create_hypernetwork",
    "train_hypernetwork", "refresh_train_hypernetwork_name", "train_hypernetwork_learn_rate",
    "train_train_hypernetwork",
})
# The one built-in hypernetwork field made without an elem_id (the dropout structure textbox), by its label.
HIDDEN_LABEL_PREFIXES = ("Enter hypernetwork Dropout structure",)
CREATE_POINTER_ID = "hypernet_builtin_create_pointer"
TRAIN_POINTER_ID = "hypernet_builtin_train_pointer"
POINTER_AFTER = {"train_new_hypernetwork_name": (CREATE_POINTER_ID, "Create"),
                 "train_hypernetwork": (TRAIN_POINTER_ID, "Train")}

MESSAGE = ("The webui's built-in hypernetwork trainer is replaced by sd-webui-hypernetworks: create and train "
           "hypernetworks (SD1, SD2, SDXL; .safetensors or .pt) in the Hypernetworks tab, or with "
           "POST /sdapi/v1/hypernet/create and /sdapi/v1/hypernet/train. Disable the extension to get the "
           "built-in one back.")

HANDLER_MODULES = ("modules.hypernetworks.ui", "modules.api.api")
HANDLER_NAMES = ("create_hypernetwork", "train_hypernetwork")
REPLACED_MARK = "_sd_hypernet_replaced"


class BuiltinTrainerReplaced(HypernetError, AssertionError):
    """Raised by the replaced built-in handlers (an AssertionError too: the webui's create route reports those)."""


def pointer_html(sub_tab: str) -> str:
    what = "created" if sub_tab == "Create" else "trained"
    return (f'<div class="hypernet-builtin-pointer"><p>Hypernetworks are {what} in the <b>Hypernetworks</b> tab '
            f'(sd-webui-hypernetworks). The webui\'s own hypernetwork trainer is switched off while the extension '
            f'is enabled; embeddings are not affected.</p>'
            f'<button class="lg secondary gradio-button" type="button" '
            f'onclick="hypernetOpenTab({html.escape(repr(sub_tab))}); return false;">'
            f'Open Hypernetworks → {html.escape(sub_tab)}</button></div>')


def after_component(component, **kwargs) -> None:
    """on_after_component: hide the built-in trainer's components; a pointer follows the first of each part (it
    is made in the layout being built, i.e. the same sub-tab / row)."""
    elem_id = kwargs.get("elem_id") or getattr(component, "elem_id", None)
    label = kwargs.get("label")
    if elem_id in HIDDEN_ELEM_IDS or (isinstance(label, str) and label.startswith(HIDDEN_LABEL_PREFIXES)):
        component.visible = False
    if elem_id in POINTER_AFTER:
        import gradio as gr
        pointer_id, sub_tab = POINTER_AFTER[elem_id]
        gr.HTML(pointer_html(sub_tab), elem_id=pointer_id)


def _replacement(name):
    def replaced(*args, **kwargs):
        raise BuiltinTrainerReplaced(MESSAGE)

    replaced.__name__ = name
    setattr(replaced, REPLACED_MARK, True)
    return replaced


_saved: list[tuple[object, str, object]] = []


def patch_handlers(import_missing: bool = False) -> None:
    """Swap the built-in handlers where their modules are loaded (the UI module before the UI is built, the API
    module once the API exists); `import_missing` imports the UI module first."""
    for module_name in HANDLER_MODULES:
        module = sys.modules.get(module_name)
        if module is None and import_missing and module_name == HANDLER_MODULES[0]:
            try:
                module = importlib.import_module(module_name)
            except Exception:  # a host without the built-in trainer (Forge)
                module = None
        if module is None:
            continue
        for name in HANDLER_NAMES:
            current = getattr(module, name, None)
            if current is None or getattr(current, REPLACED_MARK, False):
                continue
            _saved.append((module, name, current))
            setattr(module, name, _replacement(name))


def restore() -> None:
    while _saved:
        module, name, original = _saved.pop()
        setattr(module, name, original)
