"""Forge v2: the chain reaches the UNet as attn1/attn2 patches on a clone of `forge_objects.unet`, registered
before every sampling pass; steps come from the sigma of each UNet call.

Forge rebuilds `p.sd_model.forge_objects` from its spare copies before every pass, so a patch lives exactly one
pass: nothing carries over to the next generation, and a checkpoint reload needs no care. Forward pre-hooks
would also work but are global, die with a reload and never see the sigma (see docs/notes).
"""
from __future__ import annotations

import torch
from modules import shared

from sd_hypernet import control
from sd_hypernet.errors import HypernetError
from sd_hypernet.guard import split_by_family
from sd_hypernet.hook import ChainApplier, cross_attention_width, find_sites
from sd_hypernet.network import CONTEXT_DIM_FAMILY

from . import common
from .common import SigmaSteps, is_img2img_pass  # noqa: F401  (shared with the webui host)
from .webui import WebuiHost

CHAIN_ATTR = "_hypernet_forge_chain"  # on p: the accepted chain of the current batch/pass
PATCH_MARK = "_sd_hypernet_patch"     # on our patch functions, so a second registration replaces the first


def loaded_model():
    """The loaded checkpoint without triggering Forge's lazy load (None before the first generation)."""
    try:
        from modules import sd_models
        model_data = getattr(sd_models, "model_data", None)
        if model_data is not None:
            return getattr(model_data, "sd_model", None)
    except ImportError:
        pass
    return getattr(shared, "sd_model", None)


def unet_of(sd_model):
    patcher = getattr(getattr(sd_model, "forge_objects", None), "unet", None)
    model = getattr(patcher, "model", None)
    return getattr(model, "diffusion_model", None)


def block_of(extra_options) -> str | None:
    block = extra_options.get("block")
    if not block:
        return None
    try:
        return control.block_name(block[0], block[1])
    except (ValueError, TypeError, IndexError):
        return None  # ("last", 0) and anything new


def make_patch(applier: ChainApplier, steps: SigmaSteps | None, kind: str, on_step):
    """The callable Forge calls as `fn(n, context, value, extra_options)` before to_q/to_k/to_v."""

    def patch(n, context, value, extra_options):
        if steps is not None:
            step, total = steps.at(extra_options.get("sigmas"))
            if (step, total) != (applier.step, applier.total):
                applier.set_step(step, total)
                on_step(step, total)
        if not applier.active:
            return n, context, value
        block = block_of(extra_options)
        k, v = applier.transform(context, kind, block)
        if value is not context:
            v = applier.transform(value, kind, block)[1]
        return n, k, v

    setattr(patch, PATCH_MARK, True)  # plain functions survive Forge's deepcopy of model_options as themselves
    return patch


def drop_our_patches(unet_patcher) -> None:
    patches = unet_patcher.model_options.get("transformer_options", {}).get("patches")
    if not patches:
        return
    for name in ("attn1_patch", "attn2_patch"):
        if name in patches:
            patches[name] = [f for f in patches[name] if not getattr(f, PATCH_MARK, False)]


# -- training on Forge's model --------------------------------------------------------------------------------
def _memory_management():
    try:
        from backend import memory_management
        return memory_management
    except ImportError:
        return None


def _plain(tensor):
    # Forge encodes under inference_mode; such tensors cannot be saved for backward, a clone can
    return tensor.clone() if torch.is_tensor(tensor) and tensor.is_inference() else tensor


def _own_tensors(module: torch.nn.Module) -> int:
    """Turn parameters and buffers made under inference_mode (Forge loads checkpoints, and may move models, under
    it) into normal tensors: autograd cannot save inference tensors for the hooked networks' backward pass.
    The tensor objects keep their identity (torch.utils.swap_tensors) so references held elsewhere stay valid."""
    swap = getattr(torch.utils, "swap_tensors", None)
    swapped = 0
    with torch.inference_mode(False):
        for m in module.modules():
            for store, make in ((m._parameters, lambda t: torch.nn.Parameter(t.clone(), t.requires_grad)),
                                (m._buffers, lambda t: t.clone())):
                for name, t in list(store.items()):
                    if t is None or not t.is_inference():
                        continue
                    fresh = make(t)
                    try:
                        swap(t, fresh)
                    except (TypeError, RuntimeError):  # old torch, or the tensor is pinned elsewhere
                        store[name] = fresh
                    swapped += 1
    return swapped


class ForgeTrainingAdapter:
    """Forge's loaded engine as the trainer's adapter (sd_hypernet/train/adapter.py): the backend UNet inside
    `forge_objects_original.unet` (the checkpoint without LoRAs), conditioning and latents from the engine's own
    `get_learned_conditioning` / `encode_first_stage` machinery, the schedule from the patcher's predictor.
    The UNet is called directly with empty `transformer_options`: no Forge patches take part, the network reaches
    the attention through the trainer's forward pre-hooks (training runs outside Forge's sampling)."""

    def __init__(self, sd_model, preview=None):
        objects = getattr(sd_model, "forge_objects_original", None) or sd_model.forge_objects
        self.sd_model = sd_model
        self.unet_patcher = objects.unet
        self.vae = objects.vae
        kmodel = self.unet_patcher.model
        self.unet = kmodel.diffusion_model
        predictor = kmodel.predictor
        kind = getattr(predictor, "prediction_type", "epsilon")
        if kind not in ("epsilon", "v_prediction"):
            raise HypernetError(f"the loaded model predicts {kind!r}; training needs an eps or v model (SD1/SD2/SDXL)")
        self.prediction_type = "v" if kind == "v_prediction" else "eps"
        ac = getattr(predictor, "alphas_cumprod", None)
        if ac is None:
            sigmas = getattr(predictor, "sigmas", None)
            if sigmas is None:
                raise HypernetError("the loaded model has no noise schedule; cannot train on it")
            ac = 1.0 / (1.0 + sigmas.double() ** 2)  # sigma = sqrt((1 - a) / a)
        self.alphas_cumprod = torch.as_tensor(ac).detach().cpu()
        self.dtype = getattr(kmodel, "computation_dtype", None) or next(self.unet.parameters()).dtype
        self.is_sdxl = bool(getattr(sd_model, "is_sdxl", False))
        self._preview = preview
        self._unet_loaded = False
        _own_tensors(self.unet)

    @property
    def device(self) -> torch.device:
        dev = getattr(self.unet_patcher, "load_device", None)
        return torch.device(dev) if dev is not None else next(self.unet.parameters()).device

    def _others_loaded(self):
        self._unet_loaded = False  # loading the text encoder or VAE may have pushed the UNet off the GPU

    def encode_images(self, pixels):
        self._others_loaded()
        bhwc = pixels.float().movedim(1, -1) * 0.5 + 0.5
        first = self.vae.first_stage_model
        mean = self._encode(bhwc, lambda posterior: posterior.mean)
        std = self._encode(bhwc, lambda posterior: posterior.std)
        if mean is not None and std is not None and bool((std > 0).all()):
            with torch.no_grad():
                scale = first.process_in(torch.ones_like(std)) - first.process_in(torch.zeros_like(std))
            return _plain(first.process_in(mean)).float(), (std * scale).float()
        # a VAE path that ignores the regulation (tiled): one sampled latent, as Forge's img2img gets
        return _plain(self.sd_model.encode_first_stage(pixels.to(torch.float32))).float(), None

    def _encode(self, bhwc, regulation):
        try:
            vae = self.vae.clone()
            vae.patcher.model_options["model_vae_regulation"] = regulation
            with torch.inference_mode():  # as Forge's encode_first_stage runs it
                latent = vae.encode(bhwc)
        except (AttributeError, TypeError):
            return None
        return _plain(latent).float()

    def encode_text(self, texts, sizes):
        self._others_loaded()
        m = self.sd_model
        if not self.is_sdxl:
            return self._cond(m.get_learned_conditioning(list(texts)))
        from modules import prompt_parser
        out = [None] * len(texts)
        for size in dict.fromkeys(sizes):  # SDXL's vector carries the size: one call per size
            idx = [i for i, s in enumerate(sizes) if s == size]
            cond = self._cond(m.get_learned_conditioning(prompt_parser.SdConditioning(
                [texts[i] for i in idx], width=size[1], height=size[0])))
            for j, i in enumerate(idx):
                out[i] = {k: v[j:j + 1] for k, v in cond.items()}
        return {key: torch.cat([o[key] for o in out]) for key in out[0]}

    @staticmethod
    def _cond(cond) -> dict:
        if isinstance(cond, dict):
            out = {"context": _plain(cond["crossattn"])}
            if cond.get("vector") is not None:
                out["y"] = _plain(cond["vector"])
            return out
        return {"context": _plain(cond)}

    def apply_unet(self, x_t, t, cond):
        if not self._unet_loaded:
            mm = _memory_management()
            if mm is not None:
                mm.load_model_gpu(self.unet_patcher)
            self._unet_loaded = True
        _own_tensors(self.unet)  # every call: a preview generation may have reloaded it under inference_mode
        dtype = self.dtype
        y = cond.get("y")
        out = self.unet(x_t.to(dtype), t, context=cond["context"].to(dtype), y=None if y is None else y.to(dtype),
                        transformer_options={})  # a fresh dict: Forge's forward writes into it
        return out.float()

    def preview(self, prompt, step, network):
        return self._preview(prompt, step, network) if self._preview else None


class ForgeHost(WebuiHost):
    """Options, folder and warnings as on the webui; the UNet is reached through Forge's patcher."""

    name = "forge"

    def unet(self):
        return unet_of(loaded_model())

    def context_dim(self) -> int | None:
        unet = self.unet()
        return cross_attention_width(find_sites(unet)) if unet is not None else None

    def model_family(self):
        model = loaded_model()
        if model is None:  # Forge loads lazily: before the first generation, the checkpoint selected in the options
            from .checkpoint_family import selected_family
            return selected_family()
        return common.family_from_flags(model) or CONTEXT_DIM_FAMILY.get(self.context_dim())

    def attach(self, sd_model=None):
        return None  # no hooks on Forge: patches are registered per sampling pass

    def detach(self):
        self._step = (None, None)

    def set_chain(self, p, chain):
        self._step = (None, None)
        if not chain:
            p.__dict__[CHAIN_ATTR] = []
            return []
        if loaded_model() is None:
            p.__dict__[CHAIN_ATTR] = []
            return [(e.name, "no model is loaded") for e in chain]
        width, family = self.context_dim(), self.model_family()
        accepted, refused = split_by_family(chain, width, family)
        p.__dict__[CHAIN_ATTR] = accepted
        return refused

    def before_every_sampling(self, p) -> None:
        """Forge's `process_before_every_sampling`: patch a clone of this pass's UNet patcher with the chain."""
        chain = p.__dict__.get(CHAIN_ATTR) or []
        sd_model = p.sd_model
        objects = getattr(sd_model, "forge_objects", None)
        if objects is None or objects.unet is None:
            return
        unet = objects.unet.clone()
        drop_our_patches(unet)  # Forge may call us twice for one pass (hires fix)
        self._step = (None, None)
        if chain:
            applier = ChainApplier(chain, apply_to_self=bool(self.opt(common.OPT_SELF_ATTENTION, True)))
            steps = SigmaSteps(p) if any(e.has_step_range for e in chain) else None
            unet.set_model_attn1_patch(make_patch(applier, steps, "self", self._on_step))
            unet.set_model_attn2_patch(make_patch(applier, steps, "cross", self._on_step))
        objects.unet = unet

    def _on_step(self, step, total):
        self._step = (step, total)

    def training_adapter(self, opts, preview=None) -> ForgeTrainingAdapter:
        """The trainer's adapter for Forge's model (train_api calls this instead of its ldm/sgm adapter); loads
        the selected checkpoint first when no generation has loaded it yet."""
        sd_model = loaded_model()
        if sd_model is None:
            try:
                from modules import sd_models
                sd_models.forge_model_reload()
            except Exception as e:
                raise HypernetError(f"no model is loaded and loading the selected one failed: {e}") from e
            sd_model = loaded_model()
        if sd_model is None or getattr(sd_model, "forge_objects", None) is None:
            raise HypernetError("no model is loaded; load a checkpoint first")
        return ForgeTrainingAdapter(sd_model, preview)


def install():
    """Make the Forge host current and return the AlwaysVisible script that patches every sampling pass."""
    from modules import scripts

    from . import wire

    wire(ForgeHost())

    class HypernetworksForge(scripts.Script):
        def title(self):
            return "Hypernetworks"

        def show(self, is_img2img):
            return scripts.AlwaysVisible

        def process_before_every_sampling(self, p, *args, **kwargs):
            try:
                host = common.current()
            except RuntimeError:
                return  # unloaded
            if isinstance(host, ForgeHost):
                host.before_every_sampling(p)

    return HypernetworksForge
