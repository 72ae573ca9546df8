"""Loading costs nothing the second time: no file opened, no pickle for .safetensors, hashes computed once."""
import builtins
import hashlib
import io
import os
import pickle

import pytest
import safetensors
import torch

import sd_hypernet
from sd_hypernet import formats, hashing
from sd_hypernet.library import Library


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "hypernetworks"
    root.mkdir()
    torch.manual_seed(1)
    # "renamed-500" keeps its training name "renamed": the webui re-reads such files every batch.
    sd_hypernet.save_file(sd_hypernet.create([48, 32], name="alpha"), str(root / "alpha.safetensors"))
    sd_hypernet.save_file(sd_hypernet.create([48, 64], name="renamed"), str(root / "renamed-500.pt"))
    return str(root)


class Touches:
    """Counts every way this process could reach a network file's bytes."""

    def __init__(self, monkeypatch):
        self.calls: list[str] = []
        self.paths: list[str] = []
        for owner, name in ((builtins, "open"), (io, "open"), (os, "open"),
                            (formats.torch_serialization, "load"), (torch, "load"),
                            (safetensors, "safe_open"), (hashlib, "sha256")):
            monkeypatch.setattr(owner, name, self._wrap(f"{getattr(owner, '__name__', owner)}.{name}",
                                                        getattr(owner, name)))

    def _wrap(self, label, real):
        def counted(*args, **kwargs):
            self.calls.append(label)
            if args and isinstance(args[0], (str, os.PathLike)):
                self.paths.append(os.fspath(args[0]))
            return real(*args, **kwargs)
        return counted


def generation(lib, patcher, names, inputs):
    """What a host does for one prompt: resolve tags, load, hash for the infotext, apply, run the UNet."""
    chain, hashes = [], []
    for name in names:
        item = lib.resolve(name)
        chain.append((lib.load(name), 0.8))
        hashes.append(item.short_hash())
    patcher.set_chain(chain)
    x, t, ctx = inputs
    with torch.no_grad():
        out = patcher.unet_ref()(x, t, context=ctx)
    patcher.clear()
    return out, hashes


def test_second_generation_touches_no_file(folder, tiny_unet, unet_inputs, monkeypatch):
    lib = Library(folder)
    patcher = sd_hypernet.attach(tiny_unet)
    names = ["alpha", "renamed-500"]
    first_touches = Touches(monkeypatch)
    first_out, first_hashes = generation(lib, patcher, names, unet_inputs)
    # the counter does see the first generation's reads
    assert "safetensors.safe_open" in first_touches.calls
    assert any(c.endswith(".load") for c in first_touches.calls)
    assert first_touches.calls.count("hashlib.sha256") == 2
    monkeypatch.undo()

    second = Touches(monkeypatch)
    out, hashes = generation(lib, patcher, names, unet_inputs)
    patcher.remove()
    assert second.calls == [], f"second generation touched files: {second.calls} {second.paths}"
    assert hashes == first_hashes and torch.equal(out, first_out)
    assert lib.disk_loads == 2


def test_safetensors_needs_no_unpickling(folder, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("unpickling was used")

    for owner, name in ((pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"),
                        (formats.torch_serialization, "load"), (torch, "load")):
        monkeypatch.setattr(owner, name, refuse)
    net = sd_hypernet.load_file(os.path.join(folder, "alpha.safetensors"))
    assert net.sizes == [32, 48]
    with pytest.raises(AssertionError, match="unpickling"):  # the trap does catch the pickle path
        formats.load_pickle(os.path.join(folder, "renamed-500.pt"))


def test_loading_does_not_hash_and_hashing_happens_once(folder, monkeypatch):
    computed = []
    real = hashlib.sha256

    def counting(*args, **kwargs):
        computed.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(hashing.hashlib, "sha256", counting)
    lib = Library(folder)
    for name in ("alpha", "renamed-500"):
        lib.load(name)
    assert computed == [], "loading a network hashed its file"
    item = lib.resolve("alpha")
    assert item.short_hash(compute=False) is None  # a lookup that never reads
    assert computed == []
    first = item.short_hash()
    assert len(computed) == 1
    for _ in range(3):
        assert item.short_hash() == first
        assert sd_hypernet.short_hash(item.path) == first
    assert len(computed) == 1


def test_lru_eviction_is_the_only_reason_to_read_again(folder, monkeypatch):
    lib = Library(folder, cache_size=1)
    lib.load("alpha")
    lib.load("renamed-500")  # evicts alpha
    touches = Touches(monkeypatch)
    lib.load("renamed-500")
    assert touches.calls == []
    lib.load("alpha")
    assert "safetensors.safe_open" in touches.calls
