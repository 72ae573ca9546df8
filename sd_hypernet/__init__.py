"""sd_hypernet: NovelAI-style hypernetworks, computed exactly as AUTOMATIC1111 webui v1.10.1 computes them."""
from .control import ChainEntry, block_name
from .errors import HypernetError, UnknownNetwork
from .formats import convert, load_file, save_file
from .guard import check_family
from .hashing import file_sha256, short_hash
from .hook import ChainApplier, Patcher, apply_chain, attach
from .network import (ACTIVATIONS, CONTEXT_DIM_FAMILY, FAMILY_CONTEXT_DIM, USABLE_ACTIVATIONS, WEIGHT_INITS,
                      Hypernetwork, HypernetworkModule, create, family_for_context_dim)

CONTEXT_DIM = FAMILY_CONTEXT_DIM

__all__ = [
    "ACTIVATIONS", "CONTEXT_DIM", "CONTEXT_DIM_FAMILY", "FAMILY_CONTEXT_DIM", "USABLE_ACTIVATIONS", "WEIGHT_INITS",
    "ChainApplier", "ChainEntry", "HypernetError", "Hypernetwork", "HypernetworkModule", "Patcher", "apply_chain",
    "attach", "block_name", "check_family", "convert", "create", "family_for_context_dim", "file_sha256",
    "load_file", "save_file", "short_hash", "UnknownNetwork",
]
