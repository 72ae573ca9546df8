"""reForge's `modules` package: a webui 1.x tree (any module not defined here is the webui stand-in's, loaded as
`modules.<name>`); the files here are only where reForge differs for us: sampling under inference_mode."""
import os

__path__.append(os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                             "webui", "modules"))
