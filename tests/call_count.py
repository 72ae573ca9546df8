"""Counting the Python calls of sd_hypernet made while some code runs: exact and independent of the machine's
speed (the interpreter's profiler sees every call). Used by the cost tests and benchmarks/call_cost.py."""
import os
import sys

import sd_hypernet

PACKAGE = os.path.dirname(os.path.abspath(sd_hypernet.__file__))


def calls_of_ours(fn, only_while=None) -> int:
    """How many functions of sd_hypernet run while fn() runs; with `only_while` (a callable), only the calls
    made while it returns true."""
    count = 0

    def profile(frame, event, arg):
        nonlocal count
        if event == "call" and frame.f_code.co_filename.startswith(PACKAGE) and (only_while is None or only_while()):
            count += 1
    sys.setprofile(profile)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return count
