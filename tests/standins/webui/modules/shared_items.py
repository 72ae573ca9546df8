"""Stand-in of modules/shared_items.py."""


def reload_hypernetworks():
    from modules import shared
    from modules.hypernetworks import hypernetwork

    shared.hypernetworks = hypernetwork.list_hypernetworks(shared.cmd_opts.hypernetwork_dir)
