"""Forge's `modules` package. Forge keeps most of the webui's modules unchanged, so any module not defined here
is loaded from the webui stand-in's folder (as `modules.<name>`, its imports resolving to this package); the
files here are only where Forge differs: lazy model loading (sd_models), forge_objects and
process_before_every_sampling (processing, scripts, sd_samplers), no Hypernetworks page (ui_extra_networks)."""
import os

__path__.append(os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                             "webui", "modules"))
