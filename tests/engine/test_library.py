"""sd_hypernet.library.Library: scanning, names, ambiguity, re-scan on a miss, LRU, reloads, hash lookup."""
import os

import pytest
import safetensors
import torch

import sd_hypernet
from sd_hypernet import HypernetError, formats
from sd_hypernet.errors import UnknownNetwork
from sd_hypernet.library import Library


@pytest.fixture(scope="module")
def tiny():
    return sd_hypernet.create([8], name="tiny")


def put(root, relpath, net):
    path = os.path.join(root, relpath)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sd_hypernet.save_file(net, path)
    return path


@pytest.fixture
def tree(tmp_path, tiny):
    root = str(tmp_path / "hypernetworks")
    put(root, "alpha.pt", tiny)
    put(root, "sub/beta.safetensors", tiny)
    put(root, "sub/deeper/gamma.ckpt", tiny)
    put(root, "dup.pt", tiny)
    put(root, "sub/dup.safetensors", tiny)
    put(root, ".hidden.pt", tiny)
    put(root, ".cache/secret.pt", tiny)
    put(root, "sub/.private/p.pt", tiny)
    with open(os.path.join(root, "notes.txt"), "w") as f:
        f.write("not a network")
    return root


@pytest.fixture
def counters(monkeypatch):
    """Counts every read of a network file, through torch's loader and safetensors."""
    calls = {"torch": 0, "safetensors": 0}
    real_load, real_open = formats.torch_serialization.load, safetensors.safe_open

    def counting_load(*args, **kwargs):
        calls["torch"] += 1
        return real_load(*args, **kwargs)

    def counting_open(*args, **kwargs):
        calls["safetensors"] += 1
        return real_open(*args, **kwargs)

    monkeypatch.setattr(formats.torch_serialization, "load", counting_load)
    monkeypatch.setattr(safetensors, "safe_open", counting_open)
    return calls


def test_recursive_scan_skips_hidden(tree):
    lib = Library(tree)
    lib.scan()
    rels = sorted(i.relpath for i in lib.items())
    assert rels == ["alpha.pt", "dup.pt", "sub/beta.safetensors", "sub/deeper/gamma.ckpt", "sub/dup.safetensors"]
    gamma = lib.resolve("gamma")
    assert gamma.stem == "gamma" and gamma.path == os.path.join(tree, "sub", "deeper", "gamma.ckpt")
    assert gamma.size == os.path.getsize(gamma.path)


def test_missing_root_is_empty(tmp_path):
    lib = Library(str(tmp_path / "nope"))
    lib.scan()
    assert lib.items() == []
    with pytest.raises(HypernetError):
        lib.resolve("anything")


def test_duplicate_stems(tree):
    lib = Library(tree)
    lib.scan()
    assert lib.ambiguous == {"dup": ["dup.pt", "sub/dup.safetensors"]}
    with pytest.raises(HypernetError) as err:
        lib.resolve("dup")
    assert "dup.pt" in str(err.value) and "sub/dup.safetensors" in str(err.value)
    assert lib.resolve("sub/dup").relpath == "sub/dup.safetensors"
    assert lib.resolve("dup.pt").relpath == "dup.pt"
    assert lib.resolve("sub/dup.safetensors").relpath == "sub/dup.safetensors"


def test_every_item_name_resolves_to_itself(tree):
    lib = Library(tree)
    lib.scan()
    for item in lib.items():
        assert lib.resolve(item.name) == item, item.name


def test_same_stem_same_folder_both_listed(tmp_path, tiny):
    # converting next to the original is common: twin.pt and twin.safetensors
    root = str(tmp_path)
    put(root, "twin.pt", tiny)
    put(root, "twin.safetensors", tiny)
    lib = Library(root)
    lib.scan()
    assert sorted(i.relpath for i in lib.items()) == ["twin.pt", "twin.safetensors"]
    assert lib.ambiguous == {"twin": ["twin.pt", "twin.safetensors"]}
    assert lib.resolve("twin.pt").relpath == "twin.pt"
    assert lib.resolve("twin.safetensors").relpath == "twin.safetensors"
    with pytest.raises(HypernetError):
        lib.resolve("twin")


def test_unique_file_by_relative_path(tree):
    lib = Library(tree)
    lib.scan()
    scans = lib.scans
    assert lib.resolve("sub/deeper/gamma").stem == "gamma"
    assert lib.resolve("sub/beta").stem == "beta"
    assert lib.scans == scans


def test_unknown_name_rescans_once(tree, tiny):
    lib = Library(tree)
    lib.scan()
    assert lib.scans == 1
    put(tree, "late/newcomer.pt", tiny)
    assert lib.resolve("newcomer").relpath == "late/newcomer.pt"
    assert lib.scans == 2
    lib.resolve("newcomer")
    assert lib.scans == 2
    with pytest.raises(UnknownNetwork) as err:  # a HypernetError the hosts can tell from a broken file
        lib.resolve("ghost")
    assert "ghost" in str(err.value) and isinstance(err.value, HypernetError)
    assert lib.scans == 3


def test_used_twice_read_once(tree, counters):
    lib = Library(tree)
    lib.scan()
    first = lib.load("alpha")
    reads = dict(counters)
    assert reads["torch"] == 1
    assert lib.load("alpha") is first
    assert counters == reads
    beta = lib.load("beta")
    reads = dict(counters)
    assert lib.load("beta") is beta
    assert counters == reads
    assert lib.disk_loads == 2


def test_lru_size_respected(tree, counters):
    lib = Library(tree, cache_size=2)
    lib.scan()
    lib.load("alpha")
    lib.load("beta")
    lib.load("gamma")
    assert len(lib.loaded_paths) == 2
    assert lib.resolve("alpha").path not in lib.loaded_paths
    loads = lib.disk_loads
    lib.load("gamma")
    assert lib.disk_loads == loads
    lib.load("alpha")  # evicted: read again
    assert lib.disk_loads == loads + 1
    lib.set_cache_size(1)
    assert len(lib.loaded_paths) == 1
    lib.cache_size = 3
    for name in ("alpha", "beta", "gamma"):
        lib.load(name)
    assert len(lib.loaded_paths) == 3


def test_changed_file_reloads(tree):
    lib = Library(tree)
    lib.scan()
    first = lib.load("alpha")
    path = lib.resolve("alpha").path
    changed = sd_hypernet.create([8, 16], name="changed")
    sd_hypernet.save_file(changed, path)
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 3_000_000_000))
    second = lib.load("alpha")
    assert second is not first
    assert second.sizes == [8, 16]
    assert lib.disk_loads == 2


def test_deleted_file_is_an_error(tree):
    lib = Library(tree)
    lib.scan()
    item = lib.resolve("alpha")
    os.remove(item.path)
    with pytest.raises(HypernetError):
        lib.load_item(item)


def test_find_by_hash(tree):
    lib = Library(tree)
    lib.scan()
    gamma = lib.resolve("gamma")
    # all files hold the same network but are written separately: make gamma unique
    with open(gamma.path, "ab") as f:
        f.write(b"\0")
    lib.scan()
    gamma = lib.resolve("gamma")
    short = sd_hypernet.short_hash(gamma.path)
    assert lib.find_by_hash(short).relpath == gamma.relpath
    assert lib.find_by_hash(short.upper()).relpath == gamma.relpath
    assert lib.find_by_hash("0123456789") is None
    assert gamma.short_hash() == short


def test_networks_the_generation_does_not_use_leave_the_accelerator(tree):
    lib = Library(tree)
    a, b = lib.load("alpha"), lib.load("beta")
    moves = []
    for net in (a, b):  # as if both had been used on an accelerator before (no GPU here: device and move recorded)
        net.device = lambda: torch.device("cuda", 0)
        net.to = lambda device, net=net: moves.append((net, device))
    assert lib.offload_except([b]) == 1
    assert moves == [(a, "cpu")]
