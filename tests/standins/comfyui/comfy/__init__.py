"""Stand-in for the parts of ComfyUI (v0.3.64) the hypernetwork nodes touch; see each module's docstring."""
