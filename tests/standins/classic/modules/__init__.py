"""Forge Classic's `modules` package (branch classic, 1f95d717): the old Forge (modules_forge + ldm_patched, as
reForge: sampling under inference_mode) minus every hypernetwork piece (HYPERNETWORKS_REMOVED), and with the
older script_callbacks whose on_* functions take no `name=`. Modules not defined here come from the reForge
stand-in, then the webui's."""
import os

HYPERNETWORKS_REMOVED = True

_STANDINS = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
__path__.extend([os.path.join(_STANDINS, "reforge", "modules"), os.path.join(_STANDINS, "webui", "modules")])
