"""The Hypernetworks tab's Library table: a legacy NAI file's family is the one the guard uses (from its widths),
activations are words (never Python's None), and empty hash cells are explained and can be filled."""
import os
import sys

import torch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STANDINS = os.path.join(REPO, "tests", "standins")
for p in (REPO, STANDINS):
    if p not in sys.path:
        sys.path.insert(0, p)

from folder_host import folder_host  # noqa: E402

import sd_hypernet  # noqa: E402


def nai_file(path, widths):
    """NovelAI's layout: width -> [k, v] modules named linear1/linear2, no structure or activation recorded."""
    def module(d):
        return {"linear1.weight": torch.randn(2 * d, d) * 0.01, "linear1.bias": torch.zeros(2 * d),
                "linear2.weight": torch.randn(d, 2 * d) * 0.01, "linear2.bias": torch.zeros(d)}
    torch.save({d: [module(d), module(d)] for d in widths}, path)


def rows_by_name(host, **kw):
    from sd_hypernet.hosts.ui import tab
    return {r[0]: dict(zip(tab.LIBRARY_COLUMNS, r)) for r in tab.library_rows(host, **kw)}


def test_library_shows_the_guard_family_and_activation_words():
    with folder_host("webui") as (host, folder):
        nai_file(os.path.join(folder, "nai.pt"), [768, 320, 640, 1280])
        nai_file(os.path.join(folder, "selfonly.pt"), [320, 640, 1280])
        sd_hypernet.save_file(sd_hypernet.create([640, 2048], activation_func="relu", name="xl"),
                              os.path.join(folder, "xl.safetensors"))
        rows = rows_by_name(host)
        assert rows["nai.pt"]["family"] == "SD1"
        assert rows["nai.pt"]["activation"] == "linear" and rows["nai.pt"]["structure"] == "1, 2, 1"
        assert rows["selfonly.pt"]["family"] == "any with 320/640/1280: SD1, SD2, SDXL (self-attention only)"
        assert rows["xl.safetensors"]["family"] == "SDXL" and rows["xl.safetensors"]["activation"] == "relu"
        assert all(r["error"] == "" for r in rows.values())
        assert not any("None" in str(v) for r in rows.values() for v in r.values())


def test_hash_cells_are_explained_and_computed_on_request():
    from sd_hypernet import hashing
    from sd_hypernet.hosts.ui import tab

    with folder_host("webui") as (host, folder):
        path = os.path.join(folder, "net.safetensors")
        sd_hypernet.save_file(sd_hypernet.create([768], name="net"), path)
        assert rows_by_name(host)["net.safetensors"]["hash"] == ""  # a listing never hashes
        assert "computed on demand" in tab.HASH_NOTE and "Compute hashes" in tab.HASH_NOTE
        computed = rows_by_name(host, compute_hashes=True)["net.safetensors"]["hash"]
        assert computed == hashing.file_sha256(path)[:10]
        assert rows_by_name(host)["net.safetensors"]["hash"] == computed  # kept once known
