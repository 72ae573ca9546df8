"""Network names that become file names: checked and refused by rule, never rewritten.

A name is used as given or not at all: a silently cleaned name ("../x" -> ".x") can land as a hidden file
nobody can list, while the caller is told it worked.
"""
from __future__ import annotations

import unicodedata

from .errors import HypernetError

MAX_LENGTH = 150
# Windows device names: a file named like this (any extension) cannot be created or opens the device
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
# ':' ends a name inside <hypernet:NAME:1>; the rest are not allowed in Windows file names
_FORBIDDEN = set('<>:"|?*')


def name_problem(name) -> str | None:
    """The rule `name` breaks, or None when it can be a network's file name as it is."""
    if not isinstance(name, str) or not name.strip():
        return "a name is required"
    if "/" in name or "\\" in name:
        return "must not contain a path separator ('/' or '\\')"
    if ".." in name:
        return "must not contain '..'"
    if name.startswith("."):
        return "must not start with a dot (the file would be hidden)"
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in name):
        return "must not contain control characters"
    bad = sorted({c for c in name if c in _FORBIDDEN})
    if bad:
        return f"must not contain {' '.join(repr(c) for c in bad)}"
    if name != name.strip() or name.endswith("."):
        return "must not start or end with a space, or end with a dot"
    if name.split(".")[0].strip().upper() in _RESERVED:
        return f"{name.split('.')[0]!r} is a reserved device name"
    if len(name) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters"
    return None


def check_name(name, what: str = "name") -> str:
    """`name` unchanged, or HypernetError naming the rule it breaks."""
    problem = name_problem(name)
    if problem:
        raise HypernetError(f"{what} {name!r}: {problem}")
    return name
