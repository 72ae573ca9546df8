"""Stand-in of modules/shared_options.py: only the built-in options the hypernetwork glue touches."""
import os

from modules.options import OptionInfo, options_section
from modules.paths import data_path
from removed_hypernetworks import hypernetworks_removed

options_templates = {}

options_templates.update(options_section(('sd', "Stable Diffusion", "sd"), {
    "sd_model_checkpoint": OptionInfo(None, "Stable Diffusion checkpoint"),  # a checkpoint title
}))

options_templates.update(options_section(('saving-images', "Saving images/grids", "saving"), {
    "samples_format": OptionInfo('png', 'File format for images'),
}))

options_templates.update(options_section(('saving-paths', "Paths for saving", "saving"), {
    "outdir_samples": OptionInfo("", "Output directory for images; if empty, defaults to three directories below"),
    "outdir_txt2img_samples": OptionInfo(os.path.join(data_path, "outputs", "txt2img-images"),
                                         "Output directory for txt2img images"),
}))

options_templates.update(options_section(('extra_networks', "Extra Networks", "sd"), {
    "extra_networks_default_multiplier": OptionInfo(1.0, "Default multiplier for extra networks"),
    "extra_networks_add_text_separator": OptionInfo(" ", "Extra networks separator"),
    "sd_hypernetwork": OptionInfo("None", "Add hypernetwork to prompt"),
}))
if hypernetworks_removed():  # Forge Neo / Classic: no "Add hypernetwork to prompt"
    options_templates.pop("sd_hypernetwork")
