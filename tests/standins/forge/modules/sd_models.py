"""Forge's modules/sd_models.py: the checkpoint is loaded lazily, by `forge_model_reload()` on the first
generation (or after the selection changed), into `model_data.sd_model`; a reload builds new UNet modules."""
import os
import re

import torch

from modules import script_callbacks, shared
from mirror_webui import run_webui_module

run_webui_module("sd_models.py", globals())  # CheckpointInfo, model_hash: unchanged in Forge


class FakeInitialModel:
    """What Forge holds as the model before the first load (for extensions that read shared.sd_model early)."""

    def __init__(self):
        self.cond_stage_model = None
        self.chunk_length = 75


class ModelData:
    def __init__(self):
        self.sd_model = FakeInitialModel()  # as Forge's SdModelData: never None before the first load
        self.forge_loading_parameters = {}
        self.forge_hash = ""
        self.loads = 0


model_data = ModelData()
shared.sd_model = model_data.sd_model  # Forge's shared.sd_model is a property reading model_data


checkpoints_list = {}    # title -> checkpoint info, as Forge's list_models fills it
checkpoint_aliases = {}  # every id of a checkpoint (name, title, stem, …) -> its info


class FileCheckpointInfo(CheckpointInfo):  # noqa: F821 - from the webui stand-in above
    """A checkpoint file in the list (Forge's CheckpointInfo(filename): name, title "name [hash]", ids)."""

    def __init__(self, filename, shorthash="0123456789"):
        name = os.path.basename(filename)
        super().__init__(name, shorthash)
        self.filename = filename
        self.name_for_extra = os.path.splitext(name)[0]
        self.title = f"{name} [{shorthash}]"
        self.ids = [name, self.title, self.name_for_extra, f"{self.name_for_extra} [{shorthash}]"]

    def register(self):
        checkpoints_list[self.title] = self
        for alias in self.ids:
            checkpoint_aliases[alias] = self


def get_closet_checkpoint_match(search_string):
    """As Forge's: an alias, else the shortest title containing the string (with or without its [hash])."""
    if not search_string:
        return None
    if search_string in checkpoint_aliases:
        return checkpoint_aliases[search_string]
    for text in (search_string, re.sub(r"\s*\[\w+\]\s*$", "", search_string)):
        found = sorted((i for i in checkpoints_list.values() if text in i.title), key=lambda i: len(i.title))
        if found:
            return found[0]
    return None


def select_checkpoint(name="standin", family="sd1", seed=0, unet=None, prediction_type="epsilon", filename=None):
    """What choosing a checkpoint in Forge's UI does: the option `sd_model_checkpoint` takes its title and the
    loading parameters record what to load; nothing loads until a generation.
    `unet`: an ldm UNetModel to load instead of a freshly built one (run the Forge way). `filename`: a checkpoint
    file to list and select (its header is what a reader before the first load can see)."""
    info = CheckpointInfo(name)  # noqa: F821
    if filename is not None:
        info = FileCheckpointInfo(filename)
        info.register()
    shared.opts.data["sd_model_checkpoint"] = info.title
    model_data.forge_loading_parameters = {"checkpoint_info": info, "family": family,
                                           "seed": seed, "unet": unet, "prediction_type": prediction_type}


def forge_model_reload():
    from backend.diffusion_engine.base import ForgeDiffusionEngine

    params = model_data.forge_loading_parameters
    current_hash = str({k: v.name if k == "checkpoint_info" else id(v) if k == "unet" else v
                        for k, v in params.items()})
    if model_data.forge_hash == current_hash:
        return model_data.sd_model, False
    if not params:
        raise ValueError("You do not have any model!")
    model_data.sd_model = shared.sd_model = None
    with torch.inference_mode():  # Forge's forge_model_reload is decorated with it: weights are inference tensors
        sd_model = ForgeDiffusionEngine(params["family"], seed=params["seed"], unet=params.get("unet"),
                                        prediction_type=params.get("prediction_type", "epsilon"))
    sd_model.sd_checkpoint_info = params["checkpoint_info"]
    sd_model.sd_model_hash = sd_model.sd_checkpoint_info.shorthash
    model_data.sd_model = shared.sd_model = sd_model
    model_data.forge_hash = current_hash
    model_data.loads += 1
    script_callbacks.model_loaded_callback(sd_model)
    return sd_model, True


def load_model(unet=None, family="sd1", name="standin", seed=0, prediction_type="epsilon"):
    """Select and load now (tests); Forge itself loads only from processing."""
    select_checkpoint(name, family, seed, unet, prediction_type)
    return forge_model_reload()[0]


def reload_model_weights(sd_model=None, info=None, forced_reload=False):
    return model_data.sd_model


def unload_model():
    model_data.sd_model = shared.sd_model = None
    model_data.forge_hash = ""
