"""Stand-in for `comfy/model_patcher.py`: the ModelPatcher's patch registry and device moves.

What nodes rely on: `clone()` deep-copies `model_options` (every patch object goes through copy.deepcopy, so a
clone never shares a patch with its source), `set_model_patch` appends to a new list in
`model_options["transformer_options"]["patches"][name]`, `model_patches_to(x)` replaces each patch that has `.to()`
by `patch.to(x)` (called with a device, then with the model's dtype, when the model loads; with the offload device
when it unloads), `get_model_object(name)` reads an attribute path of the model.
"""
import copy

import torch


class ModelPatcher:
    def __init__(self, model, load_device, offload_device, size=0, weight_inplace_update=False):
        self.model = model
        self.load_device = load_device
        self.offload_device = offload_device
        self.size = size
        self.model_options = {"transformer_options": {}}
        self.patches = {}
        self.object_patches = {}
        self.parent = None

    def clone(self):
        n = self.__class__(self.model, self.load_device, self.offload_device, self.size)
        n.patches = {k: v[:] for k, v in self.patches.items()}
        n.object_patches = self.object_patches.copy()
        n.model_options = copy.deepcopy(self.model_options)
        n.parent = self
        return n

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

    def get_model_object(self, name):
        if name in self.object_patches:
            return self.object_patches[name]
        obj = self.model
        for part in name.split("."):
            obj = getattr(obj, part)
        return obj

    def model_patches_to(self, device):
        patches = self.model_options["transformer_options"].get("patches", {})
        for name in patches:
            patch_list = patches[name]
            for i in range(len(patch_list)):
                if hasattr(patch_list[i], "to"):
                    patch_list[i] = patch_list[i].to(device)

    def model_dtype(self):
        return self.model.get_dtype()

    def detach(self, unpatch_all=True):
        self.model_patches_to(self.offload_device)
        return self.model

    def current_loaded_device(self):
        return next(self.model.parameters(), torch.empty(0)).device
