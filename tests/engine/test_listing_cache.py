"""A large library's first listing: header-only descriptions, a persisted store (keyed by path, size, mtime),
hashes computed lazily and once — and descriptions identical to what a full load says."""
import glob
import hashlib
import json
import os
import subprocess
import sys
import threading
import time

import pytest

import sd_hypernet
from sd_hypernet import formats, hashing, info, store

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def restart():
    """What a new process sees: nothing in memory, the store re-read from its file."""
    store.current().flush()
    store.install(None)
    hashing.forget()
    info.forget()


def forbid_reading(monkeypatch):
    """Any read of a network's body (structure, weights or hash) fails the test."""
    monkeypatch.setattr(info, "read_structure", lambda p: pytest.fail(f"read the header of {p}"))
    monkeypatch.setattr(info, "load_file", lambda p: pytest.fail(f"loaded {p}"))
    monkeypatch.setattr(formats, "load_file", lambda p: pytest.fail(f"loaded {p}"))
    monkeypatch.setattr(hashing, "_compute", lambda p: pytest.fail(f"hashed {p}"))


def make_library(folder, n):
    folder.mkdir(exist_ok=True)
    paths = []
    for i in range(n):
        net = sd_hypernet.create([768, 320], [1, 0.02, 1], "relu", name=f"net{i}", metadata={"step": i})
        ext = ".pt" if i % 2 else ".safetensors"
        paths.append(sd_hypernet.save_file(net, str(folder / f"net{i}{ext}")))
    (folder / "broken.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage")
    paths.append(str(folder / "broken.safetensors"))
    return paths


def listing(paths):
    out = []
    for path in paths:
        try:
            out.append(info.cached_describe(path))
        except sd_hypernet.HypernetError as e:
            out.append({"error": str(e)})
    return out


def conformance_files(conformance, tmp_path):
    """Every conformance network as .pt, and each converted to .safetensors."""
    pts = sorted(p for p in glob.glob(os.path.join(conformance, "*.pt")))
    out = []
    for path in pts:
        out.append(path)
        converted = str(tmp_path / (os.path.splitext(os.path.basename(path))[0] + ".safetensors"))
        formats.convert(path, converted)
        out.append(converted)
    return out


def test_header_description_equals_the_full_load(conformance, tmp_path, monkeypatch):
    files = conformance_files(conformance, tmp_path)
    assert len(files) >= 20
    for path in files:
        full = info.describe(path, with_hash=False)
        assert info.describe_header(path) == full, path


def test_header_description_loads_no_weights(conformance, tmp_path, monkeypatch):
    import safetensors

    files = conformance_files(conformance, tmp_path)
    expected = {p: info.describe(p, with_hash=False) for p in files}
    monkeypatch.setattr(formats, "from_state_dicts", lambda *a: pytest.fail("built a network"))
    real_open = safetensors.safe_open

    class NoTensors:
        def __init__(self, *a, **kw):
            self.f = real_open(*a, **kw)

        def __enter__(self):
            self.f.__enter__()
            return self

        def __exit__(self, *exc):
            return self.f.__exit__(*exc)

        def get_tensor(self, name):
            pytest.fail("read tensor data")

        def __getattr__(self, name):
            return getattr(self.f, name)

    monkeypatch.setattr(safetensors, "safe_open", NoTensors)
    before = hashing.computed
    for path in files:
        got = info.cached_describe(path)
        assert got["sha256"] is None and got["short_hash"] is None
        assert {k: v for k, v in got.items() if k not in ("sha256", "short_hash")} == expected[path]
    assert hashing.computed == before


def test_restart_lists_without_reading_any_file(tmp_path, monkeypatch):
    paths = make_library(tmp_path / "lib", 12)
    reads = info.header_reads
    first = listing(paths)
    assert "error" in first[-1] and "broken.safetensors" in first[-1]["error"]
    assert info.header_reads - reads == len(paths)
    restart()
    forbid_reading(monkeypatch)
    assert listing(paths) == first


def test_restart_in_a_new_process(tmp_path):
    paths = make_library(tmp_path / "lib", 6)
    script = (
        "import json, sys\n"
        "from sd_hypernet import hashing, info, HypernetError\n"
        "out = []\n"
        "for p in sys.argv[1:]:\n"
        "    try:\n"
        "        out.append(info.cached_describe(p))\n"
        "    except HypernetError as e:\n"
        "        out.append({'error': str(e)})\n"
        "print(json.dumps({'reads': info.header_reads, 'hashed': hashing.computed, 'out': out}))\n")
    env = {**os.environ, "PYTHONPATH": REPO}

    def run():
        done = subprocess.run([sys.executable, "-c", script, *paths], env=env, capture_output=True, text=True,
                              check=True, timeout=300)
        return json.loads(done.stdout)

    cold, warm = run(), run()
    assert cold["reads"] == len(paths) and cold["hashed"] == 0
    assert warm["reads"] == 0 and warm["hashed"] == 0
    assert warm["out"] == cold["out"]
    assert os.path.isfile(store.default_path())


def test_changed_mtime_or_size_is_described_again(tmp_path, monkeypatch):
    path = make_library(tmp_path / "lib", 1)[0]
    first = info.cached_describe(path)
    restart()
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))
    reads = info.header_reads
    assert info.cached_describe(path) == first
    assert info.header_reads == reads + 1
    # a different network under the same name and the same mtime: the size tells
    restart()
    st = os.stat(path)
    sd_hypernet.save_file(sd_hypernet.create([1024], [1, 0.01, 1], name="other"), path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(path).st_size != st.st_size
    assert info.cached_describe(path)["sizes"] == [1024]


def test_hash_is_computed_when_asked_once_and_persisted(tmp_path, monkeypatch):
    path = make_library(tmp_path / "lib", 1)[0]
    assert info.cached_describe(path)["sha256"] is None
    expected = hashlib.sha256(open(path, "rb").read()).hexdigest()
    before = hashing.computed
    assert info.file_hash(path) == expected
    assert info.cached_describe(path)["sha256"] == expected
    assert info.cached_describe(path)["short_hash"] == expected[:10]
    restart()
    forbid_reading(monkeypatch)
    assert hashing.cached_sha256(path) == expected
    assert info.file_hash(path) == expected and info.cached_describe(path)["sha256"] == expected
    assert hashing.computed == before + 1
    entry = store.section("hashes").get("hypernet/net0")
    assert entry["sha256"] == expected and entry["mtime"] == os.path.getmtime(path)


def test_a_stored_hash_of_an_older_version_is_not_used(tmp_path):
    path = tmp_path / "x.pt"
    path.write_bytes(b"old contents")
    old = hashing.file_sha256(str(path))
    restart()
    st = os.stat(path)
    path.write_bytes(b"new contents")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert hashing.cached_sha256(str(path)) is None
    assert hashing.file_sha256(str(path)) == hashlib.sha256(b"new contents").hexdigest() != old


def test_hash_computed_once_under_concurrency(tmp_path, monkeypatch):
    path = tmp_path / "big.pt"
    path.write_bytes(os.urandom(1 << 20))
    real = hashing._compute
    calls = []

    def slow(p):
        calls.append(p)
        time.sleep(0.2)  # long enough that every thread arrives while the first is hashing
        return real(p)

    monkeypatch.setattr(hashing, "_compute", slow)
    results = []
    barrier = threading.Barrier(8)

    def worker():
        barrier.wait()
        results.append(hashing.file_sha256(str(path)))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert results == [hashlib.sha256(path.read_bytes()).hexdigest()] * 8


def test_long_hash_prints_the_webui_progress_line(tmp_path, monkeypatch, capsys):
    path = tmp_path / "long.pt"
    path.write_bytes(b"x" * 4096)
    monkeypatch.setattr(hashing, "PROGRESS_MIN_BYTES", 1024)
    value = hashing.file_sha256(str(path))
    assert capsys.readouterr().out == f"Calculating sha256 for {path}: {value}\n"
    small = tmp_path / "small.pt"
    small.write_bytes(b"x")
    hashing.file_sha256(str(small))
    assert capsys.readouterr().out == ""


def test_store_survives_reload_and_merges_other_processes(tmp_path):
    path = str(tmp_path / "c" / "cache.json")
    a = store.JsonFileStore(path, delay=0)
    a.section("s")["k"] = {"v": 1}
    b = store.JsonFileStore(path, delay=0)
    assert b.section("s").get("k") == {"v": 1}
    b.section("s")["other"] = [1, 2]
    a.section("s")["k2"] = "x"  # a's write keeps b's entry
    c = store.JsonFileStore(path)
    assert c.section("s").get("other") == [1, 2] and c.section("s").get("k2") == "x"
    got = c.section("s").get("k")
    got["v"] = 99  # a copy: writing needs an assignment
    assert c.section("s").get("k") == {"v": 1}


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'{"version": 999, "sections": {}}', b"\xff\xfe"])
def test_corrupt_store_file_starts_empty_with_a_message(tmp_path, capsys, content):
    path = tmp_path / "cache.json"
    path.write_bytes(content)
    s = store.JsonFileStore(str(path), delay=0)
    assert s.section("hashes").get("anything") is None
    assert "starting with an empty cache" in capsys.readouterr().err
    s.section("hashes")["k"] = {"sha256": "0" * 64}
    assert store.JsonFileStore(str(path)).section("hashes").get("k") == {"sha256": "0" * 64}


def test_unwritable_store_keeps_working_in_memory(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder should be")
    s = store.JsonFileStore(str(blocker / "sub" / "cache.json"), delay=0)
    s.section("x")["k"] = 1
    assert s.section("x").get("k") == 1
    assert "cannot be written" in capsys.readouterr().err


def test_listing_with_a_corrupt_store_still_describes(tmp_path, monkeypatch):
    paths = make_library(tmp_path / "lib", 3)
    first = listing(paths)
    restart()
    with open(store.default_path(), "w") as f:
        f.write("garbage")
    assert listing(paths) == first


def test_default_path_is_per_user(monkeypatch, tmp_path):
    monkeypatch.delenv(store.ENV_DIR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if os.name != "nt":
        assert store.default_path() == str(tmp_path / "xdg" / "sd-webui-hypernetworks" / "cache.json")
    monkeypatch.setenv(store.ENV_DIR, str(tmp_path / "mine"))
    assert store.default_path() == str(tmp_path / "mine" / "cache.json")


def test_metadata_that_is_not_plain_data_is_not_stored_but_still_right(tmp_path):
    import torch
    path = str(tmp_path / "odd.pt")
    net = sd_hypernet.create([320], [1, 0.05, 1], name="odd")
    data = {dim: (k.state_dict(), v.state_dict()) for dim, (k, v) in net.layers.items()}
    data.update(net.metadata)
    data["extra"] = {1: "int key"}
    torch.save(data, path)
    first = info.cached_describe(path)
    assert first["metadata"]["extra"] == {1: "int key"}
    restart()
    assert info.cached_describe(path) == first
    assert store.section(info.SECTION).get(os.path.abspath(path)) is None


def test_cli_info_hashes_through_file_hash_with_progress_on_stderr(tmp_path, monkeypatch, capsys):
    from sd_hypernet.cli import main

    path = make_library(tmp_path / "lib", 1)[0]
    monkeypatch.setattr(hashing, "PROGRESS_MIN_BYTES", 0)
    assert main(["info", "--json", path]) == 0
    out = capsys.readouterr()
    shown = json.loads(out.out)
    assert shown["sha256"] == hashlib.sha256(open(path, "rb").read()).hexdigest()
    assert f"Calculating sha256 for {path}: {shown['sha256']}" in out.err
    assert hashing.progress_stream is None
    monkeypatch.setattr(hashing, "_compute", lambda p: pytest.fail("hashed twice"))
    assert main(["info", "--json", path]) == 0
    assert json.loads(capsys.readouterr().out) == shown


def test_legacy_non_zip_pt_is_described_too(tmp_path):
    import torch
    net = sd_hypernet.create([768, 320], [1, 0.05, 1], "relu", name="legacy")
    data = {dim: (k.state_dict(), v.state_dict()) for dim, (k, v) in net.layers.items()}
    data.update(net.metadata)
    path = str(tmp_path / "legacy.pt")
    torch.save(data, path, _use_new_zipfile_serialization=False)  # cannot be memory-mapped: loaded instead
    assert info.describe_header(path) == info.describe(path, with_hash=False)
