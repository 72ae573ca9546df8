"""Stand-in of modules/gradio_extensons.py (the real file's name, typo included): the webui patches gradio so
that every component and every layout block (Tab, Row, …) runs `script_callbacks.after_component_callback(self,
**kwargs)` right after its __init__ — this is what `on_after_component` callbacks see. gradio 3 (webui 1.10,
reForge) patches IOComponent; gradio 4 (Forge) has no IOComponent, its base class is Component.
`patch()` is idempotent; `unpatch()` restores gradio (tests)."""
from modules import script_callbacks

_originals = {}


def _wrap(cls):
    original = cls.__init__

    def __init__(self, *args, **kwargs):
        res = original(self, *args, **kwargs)
        script_callbacks.after_component_callback(self, **kwargs)
        return res

    _originals[cls] = original
    cls.__init__ = __init__


def patch():
    import gradio as gr
    if _originals:
        return
    component = getattr(gr.components, "IOComponent", None) or gr.components.Component
    _wrap(component)
    _wrap(gr.blocks.BlockContext)


def unpatch():
    for cls, original in _originals.items():
        cls.__init__ = original
    _originals.clear()
