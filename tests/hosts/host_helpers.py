"""Host drivers for the glue tests: each drives a whole generation on a host stand-in and reports what the
UNet's to_k/to_v received. Lifecycle tests take the `host` fixture, parametrised over HOSTS; a host is added by
writing a Driver subclass (make_processing, run_generation, load_model, reload_ui) and listing it in DRIVERS."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import torch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STANDINS = os.path.join(REPO, "tests", "standins")
for path in (REPO, STANDINS):
    if path not in sys.path:
        sys.path.insert(0, path)

from activate import use_host  # noqa: E402,F401  (re-exported for conftest and tests)

import sd_hypernet  # noqa: E402
from sd_hypernet.hook import find_sites  # noqa: E402

# tiny tensors: one thread avoids the oversubscription stalls of a busy 2-core CI machine
torch.set_num_threads(1)

CONTEXT_DIM = 768
SELF_DIMS = (32, 64)


def tiny_unet(context_dim=CONTEXT_DIM, seed=0):
    from ldm.modules.diffusionmodules.openaimodel import UNetModel

    torch.manual_seed(seed)
    return UNetModel(image_size=8, in_channels=4, out_channels=4, model_channels=32, attention_resolutions=[1, 2],
                     num_res_blocks=1, channel_mult=(1, 2), num_head_channels=16, use_spatial_transformer=True,
                     transformer_depth=1, context_dim=context_dim, legacy=False).eval()


def make_network(folder, name, sizes=(CONTEXT_DIM,) + SELF_DIMS, ext=".safetensors", seed=1, **kw):
    """A network with weights large enough that its effect is far above float noise."""
    torch.manual_seed(seed)
    net = sd_hypernet.create(list(sizes), name=name, **kw)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(20.0)
    path = os.path.join(str(folder), name + ext)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sd_hypernet.save_file(net, path)
    return path


@dataclass
class Record:
    site: str
    kind: str        # "self" | "cross"
    block: str | None
    which: str       # "k" | "v"
    raw: torch.Tensor
    received: torch.Tensor
    hr: bool


class Received(list):
    """Every to_k/to_v call of one generation."""

    def changed(self):
        return [r for r in self if not torch.equal(r.raw, r.received)]

    def matches(self, chain, atol=1e-5, rtol=1e-4):
        """True when every call received exactly what the engine's apply_chain gives for `chain`."""
        for r in self:
            k, v = sd_hypernet.apply_chain(chain, r.raw, r.kind, r.block)
            want = k if r.which == "k" else v
            if not torch.allclose(r.received, want, atol=atol, rtol=rtol):
                return False
        return True


class Driver:
    name = "?"

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.folder = tmp_path / "hypernetworks"
        self.folder.mkdir()

    def network(self, name, **kw):
        return make_network(self.folder, name, **kw)

    def load(self, name):
        return sd_hypernet.load_file(os.path.join(str(self.folder), name + ".safetensors"))

    # host-specific -----------------------------------------------------------------------------------------
    def startup(self): raise NotImplementedError
    def shutdown(self): pass
    def load_model(self, unet=None, family="sd1"): raise NotImplementedError
    def make_processing(self, prompt, **kw): raise NotImplementedError
    def run_generation(self, p) -> Received: raise NotImplementedError
    def reload_ui(self): raise NotImplementedError


class WebuiDriver(Driver):
    name = "webui"
    XYZ = os.path.join(STANDINS, "webui", "modules", "standin_scripts", "xyz_grid.py")

    def startup(self):
        from modules import shared
        shared.cmd_opts.hypernetwork_dir = str(self.folder)
        shared.opts.outdir_samples = str(self.tmp)  # the user's output folder: training may write below it
        self._initialize()

    def _initialize_rest(self):
        """What initialize_rest does: import scripts, then register the host's defaults (wiping earlier ones)."""
        from modules import extra_networks, scripts, shared, ui_extra_networks

        scripts.load_scripts([
            scripts.ScriptFile(os.path.dirname(self.XYZ), "xyz_grid.py", self.XYZ),
            scripts.ScriptFile(REPO, "hypernetworks.py", os.path.join(REPO, "scripts", "hypernetworks.py")),
        ])
        if hasattr(shared, "reload_hypernetworks"):  # Forge Neo / Classic removed it
            shared.reload_hypernetworks()
        ui_extra_networks.initialize()
        ui_extra_networks.register_default_pages()
        extra_networks.initialize()
        extra_networks.register_default_extra_networks()

    def _initialize(self):
        """initialize_rest, then webui.py's before_ui."""
        from modules import script_callbacks

        self._initialize_rest()
        script_callbacks.before_ui_callback()

    def reload_ui(self):
        from modules import script_callbacks
        script_callbacks.script_unloaded_callback()
        self._initialize()

    def shutdown(self):
        from modules import script_callbacks
        script_callbacks.script_unloaded_callback()

    def load_model(self, unet=None, family="sd1"):
        from modules import sd_models
        self.unet = unet if unet is not None else tiny_unet()
        return sd_models.load_model(self.unet, family)

    def make_processing(self, prompt, **kw):
        from modules import processing
        kw.setdefault("steps", 2)
        kw.setdefault("width", 64)
        kw.setdefault("height", 64)
        kw.setdefault("seed", 1)
        return processing.StableDiffusionProcessingTxt2Img(prompt=prompt, **kw)

    def run_generation(self, p, steps_seen=None) -> Received:
        from modules import processing
        received = Received()
        handles = []
        for site in find_sites(self.unet):
            for which in ("k", "v"):
                layer = getattr(site.module, f"to_{which}")
                raw = {}

                def before(module, args, raw=raw):
                    raw["x"] = args[0].detach().clone()

                def after(module, args, output, raw=raw, site=site, which=which):
                    received.append(Record(site.name, site.kind, site.block, which, raw["x"],
                                           args[0].detach().clone(), bool(getattr(p, "is_hr_pass", False))))
                # the raw input before any pre-hook, and (forward hook) what the Linear got after all of them
                handles.append(layer.register_forward_pre_hook(before, prepend=True))
                handles.append(layer.register_forward_hook(after))
        try:
            self.processed = processing.process_images(p)
        finally:
            for h in handles:
                h.remove()
        return received


class ForgeDriver(WebuiDriver):
    """Forge v2: lazy model, patches per sampling pass. The raw input of to_k/to_v is what the attn1/attn2 patch
    chain was handed (recorded by a patch put in front of every other one); the received one reaches the Linear."""
    name = "forge"

    def load_model(self, unet=None, family="sd1"):
        from modules import sd_models
        self.unet = unet if unet is not None else tiny_unet()
        return sd_models.load_model(self.unet, family)

    def make_processing(self, prompt, **kw):
        from modules import scripts
        p = super().make_processing(prompt, **kw)
        always = [d.script_class() for d in scripts.scripts_data]
        p.scripts = scripts.ScriptRunner([s for s in always if s.show(False) is scripts.AlwaysVisible])
        return p

    def run_generation(self, p, steps_seen=None) -> Received:
        from modules import processing, sd_models
        sd_models.forge_model_reload()
        received, handed = Received(), {}

        def recorder(kind):
            def record(n, context, value, extra_options):
                handed[kind] = (context.detach().clone(), value.detach().clone())
                return n, context, value
            return record

        first = {"attn1_patch": recorder("self"), "attn2_patch": recorder("cross")}

        def put_first(module, args, kwargs):
            to = dict(kwargs.get("transformer_options") or {})
            patches = dict(to.get("patches", {}))
            for name, fn in first.items():
                patches[name] = [fn] + list(patches.get(name, []))
            to["patches"] = patches
            return args, {**kwargs, "transformer_options": to}

        handles = [self.unet.register_forward_pre_hook(put_first, with_kwargs=True)]
        for site in find_sites(self.unet):
            for i, which in enumerate("kv"):
                def after(module, args, site=site, which=which, i=i):
                    received.append(Record(site.name, site.kind, site.block, which, handed[site.kind][i],
                                           args[0].detach().clone(), bool(getattr(p, "is_hr_pass", False))))
                handles.append(getattr(site.module, f"to_{which}").register_forward_pre_hook(after))
        try:
            self.processed = processing.process_images(p)
        finally:
            for h in handles:
                h.remove()
        return received


class ReforgeDriver(WebuiDriver):
    """reForge: the webui's processing and extension API, sampling under inference_mode."""
    name = "reforge"


class NeoDriver(ForgeDriver):
    """Forge Neo: Forge v2's generation path, every hypernetwork piece of the host removed."""
    name = "neo"


class ClassicDriver(ReforgeDriver):
    """Forge Classic: reForge's generation path (old Forge), older callbacks, hypernetworks removed."""
    name = "classic"


DRIVERS = {"webui": WebuiDriver, "forge": ForgeDriver, "reforge": ReforgeDriver, "neo": NeoDriver,
           "classic": ClassicDriver}
HOSTS = ["webui", "forge", "reforge", "neo", "classic"]




def api_app(queue_lock=None):
    """A FastAPI app with the host's API on it (--api): what on_app_started sees in a host serving its API."""
    from fastapi import FastAPI
    from modules.api.api import Api

    app = FastAPI()
    Api(app, queue_lock)
    return app


def per_call(received, unet):
    """Records grouped per UNet forward (each forward hits every site's k and v once, in order)."""
    n = 2 * len(find_sites(unet))
    return [Received(received[i:i + n]) for i in range(0, len(received), n)]


def active_calls(received, unet):
    """For each UNet forward: whether any to_k/to_v input was transformed."""
    return [bool(call.changed()) for call in per_call(received, unet)]


def record_steps(host_module_current):
    """A cfg_denoiser callback registered after the glue's: the host's (step, total) at every denoiser call."""
    from modules import script_callbacks
    seen = []

    def spy(params):
        seen.append(host_module_current().step())
    script_callbacks.on_cfg_denoiser(spy, name="test_step_spy")
    return seen


class WebuiApiDriver(WebuiDriver):
    """The webui started with --nowebui (webui.py api_only): initialize (scripts, defaults, model), then the API
    object (whose __init__ builds the UI when no tab did), then before_ui and app_started; generations come
    through the API's txt2img route."""
    name = "webui-api"

    def startup(self):
        from modules import shared
        shared.cmd_opts.hypernetwork_dir = str(self.folder)

    def start_api(self):
        from fastapi import FastAPI
        from fastapi.testclient import TestClient
        from modules import call_queue, script_callbacks
        from modules.api.api import Api

        self._initialize_rest()
        self.load_model()  # initialize() loads the checkpoint
        app = FastAPI()
        Api(app, call_queue.queue_lock)
        script_callbacks.before_ui_callback()
        script_callbacks.app_started_callback(None, app)
        self.client = TestClient(app)
        return self.client

    def txt2img(self, **payload) -> Received:
        """POST /sdapi/v1/txt2img, recording what to_k/to_v received during the route's process_images."""
        import modules.api.api as api_module
        received = Received()
        original = api_module.process_images  # imported by name, as the real api.py does

        def recorded(p):
            self.p = p
            received.extend(self.run_generation(p))
            return self.processed
        api_module.process_images = recorded
        try:
            self.response = self.client.post("/sdapi/v1/txt2img", json=payload)
        finally:
            api_module.process_images = original
        return received
