"""Forge Neo's `modules` package (neo-2.26): Forge v2's, minus every hypernetwork piece (HYPERNETWORKS_REMOVED):
no `modules.hypernetworks`, no `hypernet` handler or page, no `--hypernetwork-dir`, no `shared.hypernetworks`,
no `sd_hypernetwork` option, no `/sdapi/v1/hypernetworks`, no `Hypernet:` paste. Modules not defined here come
from the Forge stand-in (lazy loading, forge_objects, sampling under inference_mode), then the webui's."""
import os

HYPERNETWORKS_REMOVED = True

_STANDINS = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
__path__.extend([os.path.join(_STANDINS, "forge", "modules"), os.path.join(_STANDINS, "webui", "modules")])
