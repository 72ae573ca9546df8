"""Training hypernetworks: plain Python + torch; a host supplies the models through a small adapter."""
from .adapter import DiffusersUNetAdapter, LdmUNetAdapter, TrainingHost
from .create import FAMILY_SIZES, create_file, new_network
from .dataset import TrainingSet
from .jobs import JobManager, manager
from .objective import NoiseSchedule, compute_loss, linear_alphas_cumprod
from .options import TrainOptions
from .schedules import WarmupCosine, WebuiSchedule, make_schedule, parse_webui_schedule
from .templates import list_templates, load_template
from .trainer import Progress, Trainer, TrainResult

__all__ = [
    "DiffusersUNetAdapter", "LdmUNetAdapter", "TrainingHost", "FAMILY_SIZES", "create_file", "new_network",
    "TrainingSet", "JobManager", "manager", "NoiseSchedule", "compute_loss", "linear_alphas_cumprod",
    "TrainOptions", "WarmupCosine", "WebuiSchedule", "make_schedule", "parse_webui_schedule", "list_templates",
    "load_template", "Progress", "Trainer", "TrainResult",
]
