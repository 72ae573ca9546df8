"""Forge's modules/sd_models.py: the checkpoint is loaded lazily, by `forge_model_reload()` on the first
generation (or after the selection changed), into `model_data.sd_model`; a reload builds new UNet modules."""
import torch

from modules import script_callbacks, shared
from mirror_webui import run_webui_module

run_webui_module("sd_models.py", globals())  # CheckpointInfo, model_hash: unchanged in Forge


class ModelData:
    def __init__(self):
        self.sd_model = None
        self.forge_loading_parameters = {}
        self.forge_hash = ""
        self.loads = 0


model_data = ModelData()


def select_checkpoint(name="standin", family="sd1", seed=0, unet=None, prediction_type="epsilon"):
    """What choosing a checkpoint in Forge's UI does: records what to load; nothing loads until a generation.
    `unet`: an ldm UNetModel to load instead of a freshly built one (run the Forge way)."""
    model_data.forge_loading_parameters = {"checkpoint_info": CheckpointInfo(name), "family": family,  # noqa: F821
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
