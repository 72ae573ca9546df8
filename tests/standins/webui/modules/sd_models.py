"""Stand-in of modules/sd_models.py: a loaded checkpoint is an object whose `.model.diffusion_model` is the UNet
(as for ldm and sgm models), with the family flags of v1.10; loading fires on_model_loaded."""
import types

from modules import script_callbacks, shared


class CheckpointInfo:
    def __init__(self, name, shorthash="0123456789"):
        self.name = self.name_for_extra = self.title = self.short_title = name
        self.shorthash = shorthash


def load_model(unet, family="sd1", name="standin"):
    """Make `unet` the loaded model and fire the model-loaded callbacks, as sd_models.load_model does."""
    sd_model = types.SimpleNamespace()
    sd_model.model = types.SimpleNamespace(diffusion_model=unet, conditioning_key="crossattn")
    sd_model.is_sd1 = family == "sd1"
    sd_model.is_sd2 = family == "sd2"
    sd_model.is_sdxl = family == "sdxl"
    sd_model.is_sd3 = False
    sd_model.sd_checkpoint_info = CheckpointInfo(name)
    sd_model.sd_model_hash = sd_model.sd_checkpoint_info.shorthash
    sd_model.cond_stage_key = "txt"
    shared.sd_model = sd_model
    script_callbacks.model_loaded_callback(sd_model)
    return sd_model


def reload_model_weights(sd_model=None, info=None):
    return shared.sd_model


def model_hash(filename):
    """The pre-2023 short model hash ("Hypernet hash" in old infotexts): 8 hex of 64 KiB at offset 1 MiB."""
    import hashlib
    try:
        with open(filename, "rb") as file:
            m = hashlib.sha256()
            file.seek(0x100000)
            m.update(file.read(0x10000))
            return m.hexdigest()[0:8]
    except FileNotFoundError:
        return 'NOFILE'
