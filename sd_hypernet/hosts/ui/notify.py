"""A gradio warning toast, only where gradio can show one: inside a request's event on this thread. Elsewhere
(Forge runs generations on its main thread, the API has no page) gradio would only print the message again."""
from __future__ import annotations


def in_gradio_event() -> bool:
    try:
        from gradio import context
    except ImportError:
        return False
    local = getattr(context, "LocalContext", None)
    if local is not None:  # gradio 4
        return local.blocks.get() is not None and local.event_id.get() is not None
    return hasattr(getattr(context, "thread_data", None), "blocks")  # gradio 3


def toast_in_request(message: str) -> bool:
    """Show `message` as a gradio warning when a request can carry it; True when shown."""
    if not in_gradio_event():
        return False
    import gradio as gr
    gr.Warning(message)
    return True
