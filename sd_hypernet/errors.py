"""The one exception type users of the package see."""


class HypernetError(Exception):
    """A hypernetwork file, name or parameter could not be used; the message says which and why."""


class UnknownNetwork(HypernetError):
    """No file in the library has this name (raised after one re-scan)."""
