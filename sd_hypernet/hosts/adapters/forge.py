"""Forge v2: the chain reaches the UNet as attn1/attn2 patches on a clone of `forge_objects.unet`, registered
before every sampling pass; steps come from the sigma of each UNet call.

Forge rebuilds `p.sd_model.forge_objects` from its spare copies before every pass, so a patch lives exactly one
pass: nothing carries over to the next generation, and a checkpoint reload needs no care. Forward pre-hooks
would also work but are global, die with a reload and never see the sigma (see docs/notes).
"""
from __future__ import annotations

from modules import shared

from sd_hypernet.attn_patch import block_of
from sd_hypernet.guard import split_by_family
from sd_hypernet.hook import ChainApplier, cross_attention_width, find_sites, site_widths, touches
from sd_hypernet.network import CONTEXT_DIM_FAMILY

from sd_hypernet.hosts import common
from sd_hypernet.hosts.adapters.sampling_steps import SigmaSteps
from sd_hypernet.hosts.adapters.webui import WebuiHost

CHAIN_ATTR = "_hypernet_forge_chain"  # on p: the accepted chain of the current batch/pass
PATCH_MARK = "_sd_hypernet_patch"     # on our patch functions, so a second registration replaces the first
ATTN_PATCHES = ("attn1_patch", "attn2_patch")


def loaded_model():
    """The loaded checkpoint without triggering Forge's lazy load; None before the first generation, when Forge
    holds a placeholder (`FakeInitialModel`, no `forge_objects`) in its place."""
    model = None
    try:
        from modules import sd_models
        model_data = getattr(sd_models, "model_data", None)
        if model_data is not None:
            model = getattr(model_data, "sd_model", None)
    except ImportError:
        model = getattr(shared, "sd_model", None)
    return model if getattr(model, "forge_objects", None) is not None else None


def unet_of(sd_model):
    patcher = getattr(getattr(sd_model, "forge_objects", None), "unet", None)
    model = getattr(patcher, "model", None)
    return getattr(model, "diffusion_model", None)


_UNSEEN = object()


def make_patch(applier: ChainApplier, steps: SigmaSteps | None, kind: str, on_step, on_error):
    """The callable Forge calls as `fn(n, context, value, extra_options)` before to_q/to_k/to_v.

    Per call: a new sigma tensor marks a new model call (Forge hands each one its own; kept on the applier, which
    the attn1 and attn2 patches share, so a model call is counted once), the site's multipliers come from a table
    keyed by Forge's block tuple and width, and (k, v) from the applier's per-context cache."""
    table: dict = {}
    seen = {"active": None}

    def patch(n, context, value, extra_options):
        try:
            sigmas = extra_options.get("sigmas")
            if sigmas is not applier.call_key:
                applier.call_key = sigmas
                applier.new_call()
                if steps is not None:
                    step, total = steps.at(sigmas)
                    if (step, total) != (applier.step, applier.total):
                        applier.set_step(step, total)
                        on_step(step, total)
            if seen["active"] is not applier.active:
                seen["active"] = applier.active
                table.clear()
            key = (extra_options.get("block"), context.shape[-1])
            mults = table.get(key, _UNSEEN)
            if mults is _UNSEEN:
                mults = applier.multipliers(key[1], kind, block_of(extra_options))
                mults = table[key] = mults if any(mults) else None
            if mults is None:
                return n, context, value
            k, v = applier.lookup(context, kind, mults)
            if value is not context:
                v = applier.lookup(value, kind, mults)[1]
            return n, k, v
        except Exception as e:  # a generation never fails because of us: the chain is dropped for this pass
            on_error(applier, e)
            return n, context, value

    setattr(patch, PATCH_MARK, True)  # plain functions survive Forge's deepcopy of model_options as themselves
    return patch


def _patch_lists(unet_patcher) -> dict:
    return unet_patcher.model_options.get("transformer_options", {}).get("patches") or {}


def has_our_patches(unet_patcher) -> bool:
    lists = _patch_lists(unet_patcher)
    return any(getattr(f, PATCH_MARK, False) for name in ATTN_PATCHES for f in lists.get(name, ()))


def drop_our_patches(unet_patcher) -> None:
    lists = _patch_lists(unet_patcher)
    for name in ATTN_PATCHES:
        if name in lists:
            lists[name] = [f for f in lists[name] if not getattr(f, PATCH_MARK, False)]


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
            from sd_hypernet.hosts.adapters.checkpoint_family import selected_family
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
        accepted, refused = split_by_family(chain, width, family, site_widths(find_sites(self.unet())))
        p.__dict__[CHAIN_ATTR] = accepted
        return refused

    def before_every_sampling(self, p) -> None:
        """Forge's `process_before_every_sampling`: patch a clone of this pass's UNet patcher with the chain, for
        the attention kinds it changes; with nothing to apply, Forge's objects stay exactly as they are."""
        self._step = (None, None)
        chain = p.__dict__.get(CHAIN_ATTR) or []
        objects = getattr(p.sd_model, "forge_objects", None)
        if objects is None or objects.unet is None:
            return
        ours = has_our_patches(objects.unet)
        apply_to_self = bool(self.opt(common.OPT_SELF_ATTENTION, True))
        sites = find_sites(unet_of(p.sd_model)) if chain else []
        kinds = {s.kind for s in sites if touches(s, chain, apply_to_self)}
        if not kinds and not ours:
            return
        unet = objects.unet.clone()
        drop_our_patches(unet)  # Forge may call us twice for one pass (hires fix)
        if kinds:
            applier = ChainApplier(chain, apply_to_self=apply_to_self)
            steps = SigmaSteps(p) if any(e.has_step_range for e in chain) else None
            if "self" in kinds:
                unet.set_model_attn1_patch(make_patch(applier, steps, "self", self._on_step, self._on_error))
            if "cross" in kinds:
                unet.set_model_attn2_patch(make_patch(applier, steps, "cross", self._on_step, self._on_error))
        objects.unet = unet

    def _on_step(self, step, total):
        self._step = (step, total)

    def _on_error(self, applier: ChainApplier, error: Exception) -> None:
        names = ", ".join(e.name for e in applier.chain) or "?"
        if applier.chain:
            self.warn(f"skipped {names} for the rest of this pass: {type(error).__name__}: {error}", toast=True)
        applier.drop_chain()  # the patch's table empties with the active list

    def training_adapter(self, opts, preview=None):
        """The trainer's adapter for Forge's model (train_forge.py)."""
        from sd_hypernet.hosts.training.forge import forge_training_adapter
        return forge_training_adapter(loaded_model, preview)


def install(host_class=None):
    """Make the Forge host current and return the AlwaysVisible script that patches every sampling pass."""
    from modules import scripts

    from sd_hypernet.hosts.wiring import wire

    wire((host_class or ForgeHost)())

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
