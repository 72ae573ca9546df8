"""Stand-in for `comfy/model_management.py`: loading a MODEL moves its patches to the load device, then to the
model's dtype (`LoadedModel.model_load`); unloading detaches it (its patches go to the offload device)."""
import torch

current_loaded_models = []


def get_torch_device():
    return torch.device("cpu")


def load_models_gpu(models):
    for m in models:
        if m in current_loaded_models:
            continue
        m.model_patches_to(m.load_device)
        m.model_patches_to(m.model_dtype())
        current_loaded_models.append(m)


def unload_all_models():
    while current_loaded_models:
        current_loaded_models.pop().detach()
