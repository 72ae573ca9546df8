"""Stand-in for Forge's `backend/patcher/base.py`: the ModelPatcher patch registry.

Only what extensions touch for attention patches: `clone()` deep-copies `model_options` (so patches on a clone
never reach the original), `set_model_patch` appends to `transformer_options["patches"][name]` as a new list.
"""
import copy


class ModelPatcher:
    def __init__(self, model, load_device=None, offload_device=None, size=0, current_device=None, **kwargs):
        self.size = size
        self.model = model
        self.patches = {}
        self.backup = {}
        self.object_patches = {}
        self.object_patches_backup = {}
        self.model_options = {"transformer_options": {}}
        self.load_device = load_device
        self.offload_device = offload_device
        self.current_device = offload_device if current_device is None else current_device

    def clone(self):
        n = ModelPatcher(self.model, self.load_device, self.offload_device, self.size, self.current_device)
        self._copy_into(n)
        return n

    def _copy_into(self, n):
        n.patches = {k: v[:] for k, v in self.patches.items()}
        n.object_patches = self.object_patches.copy()
        # Forge deep-copies: every patch callable goes through copy.deepcopy on each clone.
        n.model_options = copy.deepcopy(self.model_options)

    def is_clone(self, other):
        return hasattr(other, "model") and self.model is other.model

    def set_model_patch(self, patch, name):
        to = self.model_options["transformer_options"]
        if "patches" not in to:
            to["patches"] = {}
        to["patches"][name] = to["patches"].get(name, []) + [patch]

    def set_model_attn1_patch(self, patch):
        self.set_model_patch(patch, "attn1_patch")

    def set_model_attn2_patch(self, patch):
        self.set_model_patch(patch, "attn2_patch")

    def set_model_attn1_output_patch(self, patch):
        self.set_model_patch(patch, "attn1_output_patch")

    def set_model_attn2_output_patch(self, patch):
        self.set_model_patch(patch, "attn2_output_patch")

    def set_model_unet_function_wrapper(self, unet_wrapper_function):
        self.model_options["model_function_wrapper"] = unet_wrapper_function

    def model_dtype(self):
        return next(self.model.parameters()).dtype
