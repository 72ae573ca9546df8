"""`python -m sd_hypernet info|convert|verify`."""
import json
import os
import subprocess
import sys

import pytest
import torch

import sd_hypernet
from sd_hypernet.cli import main

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def files(tmp_path):
    xl = sd_hypernet.create([640, 2048], [1, 0.0625, 1], "silu", name="xl_net",
                            metadata={"optional_info": "made for tests", "step": 1200})
    sd2 = sd_hypernet.create([320, 1024], [1, 0.0625, 1], name="sd2_net")
    selfish = sd_hypernet.create([320], [1, 0.0625, 1], name="self_only")
    paths = {"xl": str(tmp_path / "xl_net.safetensors"), "sd2": str(tmp_path / "sd2_net.pt"),
             "self": str(tmp_path / "self_only.pt")}
    sd_hypernet.save_file(xl, paths["xl"])
    sd_hypernet.save_file(sd2, paths["sd2"])
    sd_hypernet.save_file(selfish, paths["self"])
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"\x00" * 64)
    paths["bad"] = str(bad)
    return paths


def test_info_json(files, capsys):
    assert main(["info", files["xl"], "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["sizes"] == [640, 2048]
    assert info["family"] == "sdxl" and info["family_label"] == "SDXL"
    assert info["parameters"] == sd_hypernet.load_file(files["xl"]).parameter_count()
    assert info["sha256"] == sd_hypernet.file_sha256(files["xl"]) and info["short_hash"] == info["sha256"][:10]
    assert info["layer_structure"] == [1.0, 0.0625, 1.0] and info["activation_func"] == "silu"
    assert info["metadata"]["optional_info"] == "made for tests" and info["metadata"]["step"] == 1200
    assert info["format"] == "safetensors"


@pytest.mark.parametrize("key,family,label", [("sd2", "sd2", "SD2"), ("self", None, None)])
def test_info_family_from_sizes(files, capsys, key, family, label):
    assert main(["info", files[key], "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["family"] == family and info["family_label"] == label


def test_info_sd1_conformance(conformance, capsys):
    path = os.path.join(conformance, "relu_half.pt")
    assert main(["info", path, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["family"] == "sd1" and info["sizes"] == [640, 768]


def test_info_text(files, capsys):
    assert main(["info", files["xl"]]) == 0
    out = capsys.readouterr().out
    assert "SDXL" in out and "640, 2048" in out and sd_hypernet.short_hash(files["xl"]) in out
    assert "made for tests" in out
    assert f"{sd_hypernet.load_file(files['xl']).parameter_count():,}" in out


def test_info_several_and_failure(files, capsys):
    assert main(["info", files["xl"], files["sd2"], "--json"]) == 0
    assert [i["name"] for i in json.loads(capsys.readouterr().out)] == ["xl_net", "sd2_net"]
    assert main(["info", files["bad"]]) == 1
    assert "broken.pt" in capsys.readouterr().err


@pytest.mark.parametrize("src_key,dst_name", [("sd2", "out.safetensors"), ("xl", "out.pt"), ("xl", "out.ckpt")])
def test_convert_round_trip(files, tmp_path, capsys, src_key, dst_name):
    dst = str(tmp_path / dst_name)
    assert main(["convert", files[src_key], dst]) == 0
    assert os.path.exists(dst)
    a, b = sd_hypernet.load_file(files[src_key]), sd_hypernet.load_file(dst)
    assert a.metadata == b.metadata and a.sizes == b.sizes
    x = torch.randn(2, 3, a.sizes[0])
    assert torch.equal(a.transform(x, 0.7)[0], b.transform(x, 0.7)[0])


def test_convert_refuses_overwrite_without_force(files, capsys):
    before = open(files["sd2"], "rb").read()
    assert main(["convert", files["xl"], files["sd2"]]) == 1
    assert "exists" in capsys.readouterr().err
    assert open(files["sd2"], "rb").read() == before
    assert main(["convert", files["xl"], files["sd2"], "--force"]) == 0
    assert sd_hypernet.load_file(files["sd2"]).sizes == [640, 2048]


def test_convert_errors(files, tmp_path, capsys):
    assert main(["convert", files["bad"], str(tmp_path / "x.safetensors")]) == 1
    assert "broken.pt" in capsys.readouterr().err
    assert not (tmp_path / "x.safetensors").exists()
    assert main(["convert", files["sd2"], str(tmp_path / "x.bin")]) == 1
    assert "extension" in capsys.readouterr().err
    assert main(["convert", files["sd2"], files["sd2"], "--force"]) == 1


def test_verify(files, capsys):
    assert main(["verify", files["xl"], files["sd2"]]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("OK") and files["xl"] in lines[0] and "SDXL" in lines[0]
    assert lines[1].startswith("OK") and files["sd2"] in lines[1]
    assert main(["verify", files["xl"], files["bad"], files["self"]]) == 1
    lines = capsys.readouterr().out.splitlines()
    status = {line.split()[1].rstrip(":"): line.split()[0] for line in lines[:3]}
    assert status == {files["xl"]: "OK", files["bad"]: "FAIL", files["self"]: "OK"}
    fail_line = [line for line in lines if line.startswith("FAIL")]
    assert len(fail_line) == 1 and "broken.pt" in fail_line[0]


def test_verify_an_empty_folder_passes_and_a_missing_one_fails(tmp_path, capsys):
    # a fresh install (Forge Neo / Classic: the folder was just created) has nothing wrong in it
    empty = tmp_path / "hypernetworks"
    empty.mkdir()
    assert main(["verify", str(empty)]) == 0
    assert "nothing to verify" in capsys.readouterr().out
    assert main(["verify", str(tmp_path / "nowhere")]) == 1
    assert "no such file or folder" in capsys.readouterr().out


def test_verify_missing_file(tmp_path, capsys):
    assert main(["verify", str(tmp_path / "gone.pt")]) == 1
    assert "not found" in capsys.readouterr().out


def test_usage_errors(capsys):
    with pytest.raises(SystemExit) as e:
        main([])
    assert e.value.code != 0
    with pytest.raises(SystemExit):
        main(["verify"])


def test_module_entry_point(files):
    # one subprocess (importing torch is the slow part): exit code and a line per file
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""), OMP_NUM_THREADS="1")
    run = subprocess.run([sys.executable, "-m", "sd_hypernet", "verify", files["sd2"], files["bad"]], cwd=REPO,
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("OK") and files["sd2"] in lines[0]
    assert lines[1].startswith("FAIL") and "broken.pt" in lines[1]


def test_folders_expand_to_their_hypernetwork_files(tmp_path, capsys):
    folder = tmp_path / "models"
    (folder / "sub").mkdir(parents=True)
    (folder / ".hidden").mkdir()
    net = sd_hypernet.create([768], name="x")
    sd_hypernet.save_file(net, folder / "a.pt")
    sd_hypernet.save_file(net, folder / "sub" / "b.safetensors")
    sd_hypernet.save_file(net, folder / ".hidden" / "c.pt")
    (folder / "a.png").write_bytes(b"not a network")  # previews beside networks are not networks
    assert main(["verify", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "a.pt" in out and "b.safetensors" in out and "c.pt" not in out and "a.png" not in out
    assert "2 of 2 files OK" in out
    assert main(["info", "--json", "--no-hash", str(folder)]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2


def test_empty_folder_is_an_error_for_info_but_nothing_wrong_for_verify(tmp_path, capsys):
    assert main(["verify", str(tmp_path)]) == 0  # the set-up command verifies a fresh, empty folder
    assert main(["info", str(tmp_path)]) == 1
