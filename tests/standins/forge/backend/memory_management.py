"""Stand-in for Forge's `backend/memory_management.py`: models are loaded onto the compute device on demand by
their patcher (`load_models_gpu`); here everything stays on the CPU and the loads are only recorded."""
import torch

current_loaded_models = []  # the patchers loaded, most recent first (Forge keeps LoadedModel wrappers)
VAE_ALWAYS_TILED = False


def get_torch_device():
    return torch.device("cpu")


def load_models_gpu(models, memory_required=0, hard_memory_preservation=0):
    for m in models:
        if m in current_loaded_models:
            current_loaded_models.remove(m)
        current_loaded_models.insert(0, m)


def load_model_gpu(model):
    return load_models_gpu([model])
