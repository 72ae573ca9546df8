"""Stand-in of modules/shared.py: the globals extensions read (opts, cmd_opts, state, sd_model, hypernetworks)."""
from modules import options, shared_cmd_options, shared_items, shared_options, shared_state
from removed_hypernetworks import hypernetworks_removed

cmd_opts = shared_cmd_options.cmd_opts
parser = shared_cmd_options.parser

OptionInfo = options.OptionInfo
OptionHTML = options.OptionHTML
options_section = options.options_section
options_templates = shared_options.options_templates

opts = options.Options(options_templates)
state = shared_state.State()

sd_model = None
hypernetworks = {}          # name -> path, as modules/hypernetworks/hypernetwork.py lists them
loaded_hypernetworks = []   # what the built-in attention forwards apply
demo = None

reload_hypernetworks = shared_items.reload_hypernetworks

if hypernetworks_removed():  # Forge Neo / Classic: no hypernetwork globals at all
    del hypernetworks, loaded_hypernetworks, reload_hypernetworks
