"""Command-line flags. The webui and Forge both define --hypernetwork-dir already, so this adds nothing that
could clash; it only fills the flag in on a host that lacks it."""


def preload(parser):
    if not any("--hypernetwork-dir" in action.option_strings for action in parser._actions):
        import os
        parser.add_argument("--hypernetwork-dir", type=str, default=os.path.join("models", "hypernetworks"),
                            help="hypernetwork folder")
