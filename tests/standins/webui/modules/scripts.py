"""Stand-in of modules/scripts.py: Script/AlwaysVisible, basedir() during import, scripts_data, and the loader
that imports script files with their extension root first on sys.path (as the webui does)."""
import os
import sys
from collections import namedtuple

from modules import errors, script_loading

AlwaysVisible = object()

ScriptFile = namedtuple("ScriptFile", ["basedir", "filename", "path"])
ScriptClassData = namedtuple("ScriptClassData", ["script_class", "path", "basedir", "module"])

scripts_data = []
current_basedir = os.getcwd()
scripts_txt2img = None  # the txt2img tab's runner: made empty by load_scripts, filled by ui.create_ui


def basedir():
    return current_basedir


class Script:
    name = None
    section = None
    filename = None
    args_from = None
    args_to = None
    alwayson = False
    is_txt2img = False
    is_img2img = False
    infotext_fields = None
    paste_field_names = None

    def title(self):
        raise NotImplementedError()

    def ui(self, is_img2img):
        pass

    def show(self, is_img2img):
        return True

    def run(self, p, *args):
        pass

    def process(self, p, *args):
        pass

    def before_process_batch(self, p, *args, **kwargs):
        pass

    def after_extra_networks_activate(self, p, *args, **kwargs):
        pass

    def process_batch(self, p, *args, **kwargs):
        pass

    def before_hr(self, p, *args):
        pass

    def postprocess(self, p, processed, *args):
        pass


def load_scripts(script_files):
    """script_files: ScriptFile list (extension root + path), loaded in order."""
    global current_basedir, scripts_txt2img
    scripts_data.clear()
    syspath = sys.path
    for sf in script_files:
        try:
            sys.path = [sf.basedir] + sys.path
            current_basedir = sf.basedir
            module = script_loading.load_module(sf.path)
            for obj in module.__dict__.values():
                if isinstance(obj, type) and issubclass(obj, Script) and obj is not Script:
                    scripts_data.append(ScriptClassData(obj, sf.path, sf.basedir, module))
        except Exception:
            errors.report(f"Error loading script: {sf.filename}", exc_info=True)
        finally:
            sys.path = syspath
            current_basedir = os.getcwd()
    scripts_txt2img = ScriptRunner()


class ScriptRunner:
    """The part of the runner processing calls; holds always-on script instances."""

    def __init__(self, scripts=()):
        self.scripts = list(scripts)
        self.alwayson_scripts = list(scripts)

    def initialize_scripts(self, is_img2img):
        self.scripts, self.alwayson_scripts = [], []
        for data in scripts_data:
            script = data.script_class()
            script.filename = data.path
            visibility = script.show(is_img2img)
            if visibility is AlwaysVisible:
                self.scripts.append(script)
                self.alwayson_scripts.append(script)
            elif visibility:
                self.scripts.append(script)

    def _each(self, method, p, **kwargs):
        for s in self.alwayson_scripts:
            try:
                getattr(s, method)(p, **kwargs)
            except Exception:
                errors.report(f"Error running {method}: {s.filename}", exc_info=True)

    def process(self, p):
        self._each("process", p)

    def before_process_batch(self, p, **kwargs):
        self._each("before_process_batch", p, **kwargs)

    def after_extra_networks_activate(self, p, **kwargs):
        self._each("after_extra_networks_activate", p, **kwargs)

    def process_batch(self, p, **kwargs):
        self._each("process_batch", p, **kwargs)

    def before_hr(self, p):
        self._each("before_hr", p)

    def postprocess(self, p, processed):
        for s in self.alwayson_scripts:
            s.postprocess(p, processed)
