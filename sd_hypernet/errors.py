"""The one exception type users of the package see."""


class HypernetError(Exception):
    """A hypernetwork file, name or parameter could not be used; the message says which and why."""
