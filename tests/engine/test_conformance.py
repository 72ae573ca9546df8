"""The webui's own numbers (../shared/conformance): every case, multiplier, chain, and the tiny ldm UNet."""
import os

import pytest
import torch
from safetensors.torch import load_file as load_tensors

import sd_hypernet
from engine_helpers import InputRecorder, run_ldm

CASE_NAMES = ["linear_121", "relu_half", "swish_ln", "gelu_dropout_1221", "prelu_out_ln", "mish_frac",
              "sd2_leakyrelu", "sdxl_silu", "legacy_nai", "legacy_no_activate_output",
              "legacy_dropout_no_structure", "sigmoid_deep"]


def assert_close(actual, expected, what):
    tol = 1e-5 * max(1.0, expected.abs().max().item())
    err = (actual.float() - expected.float()).abs().max().item()
    assert err <= tol, f"{what}: max error {err:.3g} > {tol:.3g}"


def test_case_list_is_complete(cases):
    # A new case in the data must not go untested silently.
    assert sorted(cases["cases"]) == sorted(CASE_NAMES)


@pytest.mark.parametrize("case", CASE_NAMES)
def test_case_outputs(conformance, cases, case):
    spec = cases["cases"][case]
    net = sd_hypernet.load_file(os.path.join(conformance, spec["file"]))
    vectors = load_tensors(os.path.join(conformance, f"{case}.vectors.safetensors"))
    checked = 0
    for size in spec["sizes"]:
        x = vectors[f"x.{size}"]
        for i, m in enumerate(cases["multipliers"]):
            k, v = net.transform(x, m)
            assert k.dtype == x.dtype and k.shape == x.shape
            assert_close(k, vectors[f"k.{size}.m{i}"], f"{case} k size {size} m={m}")
            assert_close(v, vectors[f"v.{size}.m{i}"], f"{case} v size {size} m={m}")
            # apply_chain with one entry is the same computation
            ck, cv = sd_hypernet.apply_chain([(net, m)], x)
            assert_close(ck, vectors[f"k.{size}.m{i}"], f"{case} chain k size {size} m={m}")
            assert_close(cv, vectors[f"v.{size}.m{i}"], f"{case} chain v size {size} m={m}")
            checked += 1
    assert checked == len(spec["sizes"]) * len(cases["multipliers"])


@pytest.mark.parametrize("case", CASE_NAMES)
def test_case_structure(conformance, cases, case):
    spec = cases["cases"][case]
    net = sd_hypernet.load_file(os.path.join(conformance, spec["file"]))
    assert net.sizes == spec["sizes"]
    meta = net.metadata
    assert [float(x) for x in meta["layer_structure"]] == [float(x) for x in spec["layer_structure"]]
    assert meta["activation_func"] == spec["activation_func"]
    assert bool(meta["is_layer_norm"]) == spec["is_layer_norm"]
    assert bool(meta["activate_output"]) == spec["activate_output"]
    assert [float(x) for x in meta["dropout_structure"]] == [float(x) for x in spec["dropout_structure"]]
    assert not net.training, "networks must load in eval mode (dropout inactive)"


def test_widths_it_lacks_are_identity(conformance):
    net = sd_hypernet.load_file(os.path.join(conformance, "linear_121.pt"))
    x = torch.randn(2, 3, 640)
    k, v = net.transform(x, 1.0)
    assert k is x and v is x


@pytest.mark.parametrize("index", range(4))
def test_chains(conformance, cases, index):
    chain_spec = cases["chains"][index]
    vectors = load_tensors(os.path.join(conformance, chain_spec["file"]))
    chain = [(sd_hypernet.load_file(os.path.join(conformance, cases["cases"][name]["file"])), m)
             for name, m in chain_spec["networks"]]
    x = vectors["x"]
    assert x.shape[-1] == chain_spec["size"]
    k, v = sd_hypernet.apply_chain(chain, x)
    assert_close(k, vectors["k"], f"chain{index} k")
    assert_close(v, vectors["v"], f"chain{index} v")
    # and the chain is really sequential: not the same as applying each to the original context
    if all(x.shape[-1] in net.layers for net, _ in chain):
        parallel_k = x + sum(net.transform(x, m)[0] - x for net, m in chain)
        assert not torch.allclose(parallel_k, vectors["k"], atol=1e-6)


def _load_run(conformance, run):
    return [(sd_hypernet.load_file(os.path.join(conformance, f)), m) for f, m in run]


def test_unet_runs(conformance, cases, ldm_unet, unet_vectors):
    runs = cases["unet"]["runs"]
    assert "none" in runs and len(runs) >= 2
    patcher = sd_hypernet.attach(ldm_unet)
    assert patcher.context_dim == cases["unet"]["config"]["context_dim"]
    for run, chain in runs.items():
        patcher.set_chain(_load_run(conformance, chain))
        out = run_ldm(ldm_unet, unet_vectors)
        expected = unet_vectors[f"out.{run}"]
        err = (out - expected).abs().max().item()
        assert err <= 1e-4, f"run {run}: max error {err:.3g}"
    patcher.remove()


def test_unet_state_dict_unchanged_and_remove_restores(conformance, cases, ldm_unet, unet_vectors):
    before = {k: v.clone() for k, v in ldm_unet.state_dict().items()}
    patcher = sd_hypernet.attach(ldm_unet)
    patcher.set_chain(_load_run(conformance, cases["unet"]["runs"]["a_b"]))
    hooked = run_ldm(ldm_unet, unet_vectors)
    assert not torch.allclose(hooked, unet_vectors["out.none"], atol=1e-4)
    assert list(ldm_unet.state_dict()) == list(before), "hooks must add no keys to the UNet"
    patcher.remove()
    out = run_ldm(ldm_unet, unet_vectors)
    assert (out - unet_vectors["out.none"]).abs().max().item() <= 1e-4
    after = ldm_unet.state_dict()
    assert list(after) == list(before)
    for key, value in before.items():
        assert torch.equal(after[key], value), key
    # nothing of ours stays hooked: every to_k/to_v gets its original input
    recorder = InputRecorder(ldm_unet)
    run_ldm(ldm_unet, unet_vectors)
    assert recorder.transformed() == set()


def test_remove_is_bit_exact(conformance, cases, ldm_unet, unet_vectors):
    plain = run_ldm(ldm_unet, unet_vectors)
    patcher = sd_hypernet.attach(ldm_unet)
    patcher.set_chain(_load_run(conformance, cases["unet"]["runs"]["a1"]))
    run_ldm(ldm_unet, unet_vectors)
    patcher.remove()
    assert torch.equal(run_ldm(ldm_unet, unet_vectors), plain)
    assert not patcher.attached
