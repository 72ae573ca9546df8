"""Whole-file SHA-256, the 10-digit short hash, and the (path, size, mtime) cache."""
import builtins
import hashlib
import os

import sd_hypernet
from sd_hypernet import hashing


def count_opens(monkeypatch):
    opened = []
    real_open = builtins.open

    def counting_open(path, *args, **kwargs):
        opened.append(os.fspath(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(hashing, "open", counting_open, raising=False)
    return opened


def test_sha256_of_whole_file(tmp_path):
    data = os.urandom(3 * (1 << 20) + 17)  # spans several read blocks
    path = tmp_path / "a.pt"
    path.write_bytes(data)
    assert sd_hypernet.file_sha256(str(path)) == hashlib.sha256(data).hexdigest()
    assert sd_hypernet.short_hash(str(path)) == hashlib.sha256(data).hexdigest()[:10]


def test_conformance_file_hash(conformance):
    path = os.path.join(conformance, "unet_b.pt")
    with open(path, "rb") as f:
        expected = hashlib.sha256(f.read()).hexdigest()
    assert sd_hypernet.short_hash(path) == expected[:10]


def test_second_call_reads_nothing(tmp_path, monkeypatch):
    path = tmp_path / "b.pt"
    path.write_bytes(b"hello world")
    opened = count_opens(monkeypatch)
    first = sd_hypernet.file_sha256(str(path))
    assert len(opened) == 1
    assert sd_hypernet.file_sha256(str(path)) == first
    assert sd_hypernet.short_hash(str(path)) == first[:10]
    assert len(opened) == 1
    assert hashing.cached_sha256(str(path)) == first
    assert len(opened) == 1


def test_cached_lookup_never_computes(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    path.write_bytes(b"not yet hashed")
    opened = count_opens(monkeypatch)
    assert hashing.cached_sha256(str(path)) is None
    assert hashing.cached_sha256(str(tmp_path / "missing.pt")) is None
    assert opened == []


def test_changed_file_gets_new_hash(tmp_path, monkeypatch):
    path = tmp_path / "d.pt"
    path.write_bytes(b"aaaa")
    first = sd_hypernet.file_sha256(str(path))
    st = os.stat(path)
    # same size, new content, new mtime
    path.write_bytes(b"bbbb")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    opened = count_opens(monkeypatch)
    second = sd_hypernet.file_sha256(str(path))
    assert second != first
    assert second == hashlib.sha256(b"bbbb").hexdigest()
    assert len(opened) == 1
    # different size, same mtime as before
    path.write_bytes(b"ccccc")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    assert sd_hypernet.file_sha256(str(path)) == hashlib.sha256(b"ccccc").hexdigest()


def test_same_file_by_relative_and_absolute_path(tmp_path, monkeypatch):
    path = tmp_path / "e.pt"
    path.write_bytes(b"relative")
    monkeypatch.chdir(tmp_path)
    first = sd_hypernet.file_sha256("e.pt")
    opened = count_opens(monkeypatch)
    assert sd_hypernet.file_sha256(str(path)) == first
    assert opened == []
