"""Stand-in of modules/ui.py: `create_ui` as far as extensions see it — the txt2img script runner initialised and
every on_ui_tabs callback run (the real one also builds the generation tabs, settings and extra-networks UI)."""
from modules import script_callbacks, scripts


def create_ui():
    scripts.scripts_txt2img.initialize_scripts(is_img2img=False)
    return script_callbacks.ui_tabs_callback()
