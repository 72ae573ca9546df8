"""Stand-in of modules/script_callbacks.py: the callbacks the hypernetwork glue registers, with the same
names, parameter objects and calling conventions."""
from __future__ import annotations

import dataclasses
import inspect
import os

from modules import errors


class CFGDenoiserParams:
    def __init__(self, x, image_cond, sigma, sampling_step, total_sampling_steps, text_cond, text_uncond, denoiser=None):
        self.x = x
        self.image_cond = image_cond
        self.sigma = sigma
        self.sampling_step = sampling_step
        self.total_sampling_steps = total_sampling_steps
        self.text_cond = text_cond
        self.text_uncond = text_uncond
        self.denoiser = denoiser


@dataclasses.dataclass
class ScriptCallback:
    script: str
    callback: object
    name: str = None


def _caller_file():
    stack = [x for x in inspect.stack() if x.filename != __file__]
    return stack[0].filename if stack else 'unknown file'


def add_callback(callbacks, fun, *, name=None, category='unknown'):
    filename = _caller_file()
    callback_name = f"{os.path.basename(filename)}/{category}" + (f"/{name}" if name is not None else "")
    unique = callback_name
    for index in range(1000):
        if not any(x.name == unique for x in callbacks):
            break
        unique = f"{callback_name}-{index + 1}"
    callbacks.append(ScriptCallback(filename, fun, unique))


callback_map = dict(
    callbacks_app_started=[],
    callbacks_model_loaded=[],
    callbacks_ui_tabs=[],
    callbacks_ui_settings=[],
    callbacks_cfg_denoiser=[],
    callbacks_cfg_denoised=[],
    callbacks_infotext_pasted=[],
    callbacks_script_unloaded=[],
    callbacks_before_ui=[],
    callbacks_after_component=[],
)


def clear_callbacks():
    for callback_list in callback_map.values():
        callback_list.clear()


def _run(key, job, *args):
    for c in callback_map[key]:
        try:
            c.callback(*args)
        except Exception:
            errors.report(f"Error executing callback {job} for {c.script}", exc_info=True)


def app_started_callback(demo, app):
    _run('callbacks_app_started', 'app_started_callback', demo, app)


def model_loaded_callback(sd_model):
    _run('callbacks_model_loaded', 'model_loaded_callback', sd_model)


def ui_tabs_callback():
    res = []
    for c in callback_map['callbacks_ui_tabs']:
        try:
            res += c.callback() or []
        except Exception:
            errors.report(f"Error executing callback ui_tabs_callback for {c.script}", exc_info=True)
    return res


def ui_settings_callback():
    _run('callbacks_ui_settings', 'ui_settings_callback')


def cfg_denoiser_callback(params: CFGDenoiserParams):
    _run('callbacks_cfg_denoiser', 'cfg_denoiser_callback', params)


def cfg_denoised_callback(params):
    _run('callbacks_cfg_denoised', 'cfg_denoised_callback', params)


def infotext_pasted_callback(infotext: str, params: dict):
    _run('callbacks_infotext_pasted', 'infotext_pasted', infotext, params)


def script_unloaded_callback():
    for c in reversed(callback_map['callbacks_script_unloaded']):
        try:
            c.callback()
        except Exception:
            errors.report(f"Error executing callback script_unloaded for {c.script}", exc_info=True)


def before_ui_callback():
    for c in reversed(callback_map['callbacks_before_ui']):
        try:
            c.callback()
        except Exception:
            errors.report(f"Error executing callback before_ui for {c.script}", exc_info=True)


def remove_current_script_callbacks():
    filename = _caller_file()
    if filename == 'unknown file':
        return
    for callback_list in callback_map.values():
        for cb in [cb for cb in callback_list if cb.script == filename]:
            callback_list.remove(cb)


def remove_callbacks_for_function(callback_func):
    for callback_list in callback_map.values():
        for cb in [cb for cb in callback_list if cb.callback == callback_func]:
            callback_list.remove(cb)


def on_app_started(callback, *, name=None):
    add_callback(callback_map['callbacks_app_started'], callback, name=name, category='app_started')


def on_model_loaded(callback, *, name=None):
    add_callback(callback_map['callbacks_model_loaded'], callback, name=name, category='model_loaded')


def on_ui_tabs(callback, *, name=None):
    add_callback(callback_map['callbacks_ui_tabs'], callback, name=name, category='ui_tabs')


def on_ui_settings(callback, *, name=None):
    add_callback(callback_map['callbacks_ui_settings'], callback, name=name, category='ui_settings')


def on_cfg_denoiser(callback, *, name=None):
    add_callback(callback_map['callbacks_cfg_denoiser'], callback, name=name, category='cfg_denoiser')


def on_cfg_denoised(callback, *, name=None):
    add_callback(callback_map['callbacks_cfg_denoised'], callback, name=name, category='cfg_denoised')


def on_infotext_pasted(callback, *, name=None):
    add_callback(callback_map['callbacks_infotext_pasted'], callback, name=name, category='infotext_pasted')


def on_script_unloaded(callback, *, name=None):
    add_callback(callback_map['callbacks_script_unloaded'], callback, name=name, category='script_unloaded')


def on_before_ui(callback, *, name=None):
    add_callback(callback_map['callbacks_before_ui'], callback, name=name, category='before_ui')


def after_component_callback(component, **kwargs):
    """Called by the gradio patch (modules/gradio_extensons.py) after every component and layout block is made,
    with the keyword arguments it was made with (elem_id, label, id, …)."""
    for c in callback_map['callbacks_after_component']:
        try:
            c.callback(component, **kwargs)
        except Exception as e:
            errors.report(f"Error executing callback {c.name} for after_component_callback: {e}", exc_info=True)


def on_after_component(callback, *, name=None):
    add_callback(callback_map['callbacks_after_component'], callback, name=name, category='after_component')
