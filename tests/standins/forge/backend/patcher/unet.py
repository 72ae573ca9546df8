"""Stand-in for Forge's `backend/patcher/unet.py`: UnetPatcher, the object at `sd_model.forge_objects.unet`."""
from backend.modules.k_model import KModel
from backend.patcher.base import ModelPatcher


class UnetPatcher(ModelPatcher):
    @classmethod
    def from_model(cls, model, predictor):
        return UnetPatcher(KModel(model=model, predictor=predictor))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.controlnet_linked_list = None
        self.extra_concat_condition = None

    def clone(self):
        n = UnetPatcher(self.model, self.load_device, self.offload_device, self.size, self.current_device)
        self._copy_into(n)
        n.controlnet_linked_list = self.controlnet_linked_list
        n.extra_concat_condition = self.extra_concat_condition
        return n
