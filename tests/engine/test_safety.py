"""Never run code from a file: crafted pickles are refused and do nothing; legitimate files still load."""
import builtins
import glob
import os
import pickle

import pytest
import torch

import sd_hypernet
from sd_hypernet import HypernetError


class OpenMarker:
    """Unpickling this calls builtins.open(marker, 'w'), which creates the file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (builtins.open, (self.marker, "w"))


class SystemMarker:
    """Unpickling this runs a shell command that creates the file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def _payload(kind, marker):
    obj = OpenMarker(marker) if kind == "open" else SystemMarker(marker)
    # looks like a hypernetwork otherwise, so only the payload can make it fail
    return {768: ({"linear.0.weight": torch.zeros(2, 2)}, {}), "name": obj}


@pytest.mark.parametrize("kind", ["open", "system"])
@pytest.mark.parametrize("container", ["zip", "legacy", "raw"])
def test_crafted_pickle_is_refused_and_does_not_run(tmp_path, kind, container):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    if container == "zip":
        torch.save(_payload(kind, marker), path)
    elif container == "legacy":
        torch.save(_payload(kind, marker), path, _use_new_zipfile_serialization=False)
    else:
        path.write_bytes(pickle.dumps(OpenMarker(marker) if kind == "open" else SystemMarker(marker), protocol=2))
    assert not marker.exists()
    with pytest.raises(HypernetError) as err:
        sd_hypernet.load_file(path)
    assert "evil.pt" in str(err.value)
    assert not marker.exists(), "the crafted pickle ran code"


def test_payload_is_live_with_an_unsafe_loader(tmp_path):
    # proves the test above would catch a loader that executes pickles
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save(_payload("open", marker), path)
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_crafted_ckpt_extension_too(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    torch.save(_payload("open", marker), path)
    with pytest.raises(HypernetError):
        sd_hypernet.load_file(path)
    assert not marker.exists()


def test_every_conformance_file_loads(conformance):
    files = sorted(glob.glob(os.path.join(conformance, "*.pt")))
    assert len(files) >= 14
    for path in files:
        net = sd_hypernet.load_file(path)
        assert net.sizes, path
