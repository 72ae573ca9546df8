"""A whole generation's lifecycle on a host stand-in: tags → hooks → what to_k/to_v received → cleared → unloaded."""

import pytest
import torch

from sd_hypernet import ChainEntry

from host_helpers import find_sites, make_network, tiny_unet


def calls(received, sites):
    """Records grouped per UNet forward (each forward hits every site's k and v once)."""
    n = len(sites) * 2
    return [received[i:i + n] for i in range(0, len(received), n)]


def test_tags_apply_exactly_then_clear_and_unload_leaves_unet_untouched(host):
    host.network("alpha")
    host.network("beta", seed=2)
    host.load_model()
    alpha, beta = host.load("alpha"), host.load("beta")

    got = host.run_generation(host.make_processing("cat <hypernet:alpha:0.7> <hypernet:beta:-0.4>"))
    assert got.changed() and len(got.changed()) == len(got)
    assert got.matches([ChainEntry(alpha, 0.7), ChainEntry(beta, -0.4)])
    assert not got.matches([ChainEntry(beta, -0.4), ChainEntry(alpha, 0.7)])  # order matters and is kept

    got = host.run_generation(host.make_processing("cat"))  # activate(p, []) must clear
    assert got and not got.changed()

    host.reload_ui()  # no double application after a reload
    got = host.run_generation(host.make_processing("cat <hypernet:alpha:0.7>"))
    assert got.matches([ChainEntry(alpha, 0.7)])

    host.shutdown()  # disabled: hooks gone
    for site in find_sites(host.unet):
        assert not site.module.to_k._forward_pre_hooks and not site.module.to_v._forward_pre_hooks


def test_builtin_handler_is_replaced_and_never_loads(webui):
    from modules import extra_networks, shared, ui_extra_networks
    webui.network("alpha", ext=".pt")
    webui.load_model()
    webui.run_generation(webui.make_processing("<hypernet:alpha:1>"))
    assert type(extra_networks.extra_network_registry["hypernet"]).__name__ == "HypernetHandler"
    assert shared.loaded_hypernetworks == []
    pages = [p for p in ui_extra_networks.extra_pages if p.name == "hypernetworks"]
    assert len(pages) == 1 and type(pages[0]).__name__ == "HypernetworksPage"
    webui.shutdown()
    assert type(extra_networks.extra_network_registry["hypernet"]).__name__ == "ExtraNetworkHypernet"


def test_unknown_name_rescans_once_then_reports(host):
    host.load_model()
    p = host.make_processing("<hypernet:late:1> <hypernet:ghost:1>")
    make_network(host.folder, "late")  # appears after start-up: found by the one re-scan
    from sd_hypernet.hosts import common
    lib = common.current().library()
    before = lib.scans
    got = host.run_generation(p)
    assert got.matches([ChainEntry(host.load("late"), 1.0)])
    assert lib.scans - before <= 2  # one re-scan per unknown name, not one per call
    text = " ".join(p.comments)
    assert "ghost" in text and "no hypernetwork with this name" in text
    assert "ghost" in p.extra_generation_params["Hypernet errors"]


@pytest.mark.parametrize("tag, reason", [
    ("<hypernet:alpha:abc>", "multiplier"),
    ("<hypernet:alpha:1:start=abc>", "start=abc"),
    ("<hypernet:alpha:1:lbw=1,2>", "lbw"),
    ("<hypernet:alpha:1:self=1:self=2>", "self= given twice"),
    ("<hypernet:alpha:1:lbw=NOPRESET>", "unknown preset"),
])
def test_bad_values_skip_only_that_network(host, tag, reason):
    host.network("alpha")
    host.network("beta", seed=2)
    host.load_model()
    p = host.make_processing(f"cat {tag} <hypernet:beta:0.5>")
    got = host.run_generation(p)
    assert got.matches([ChainEntry(host.load("beta"), 0.5)])
    assert any("alpha" in c and reason in c for c in p.comments), p.comments


def test_broken_file_is_reported_and_generation_goes_on(host):
    (host.folder / "broken.pt").write_bytes(b"not a pickle")
    host.load_model()
    p = host.make_processing("<hypernet:broken:1>")
    got = host.run_generation(p)
    assert got and not got.changed()
    assert any("broken" in c for c in p.comments)


def test_duplicate_tags_keep_both_multipliers_across_batches(host):
    host.network("alpha")
    host.load_model()
    alpha = host.load("alpha")
    got = host.run_generation(host.make_processing("<hypernet:alpha:0.5> <hypernet:alpha:1>", n_iter=2))
    assert got.matches([ChainEntry(alpha, 0.5), ChainEntry(alpha, 1.0)])
    assert not got.matches([ChainEntry(alpha, 1.0), ChainEntry(alpha, 1.0)])


def test_wrong_family_is_skipped_and_reported_unless_forced(host):
    host.network("xl", sizes=(2048, 64))
    host.load_model()
    p = host.make_processing("<hypernet:xl:1>")
    got = host.run_generation(p)
    assert not got.changed()
    assert any("xl" in c and "force=1" in c for c in p.comments)
    assert "Hypernet hashes" not in p.extra_generation_params
    got = host.run_generation(host.make_processing("<hypernet:xl:1:force=1>"))
    assert got.changed() and got.matches([ChainEntry(host.load("xl"), 1.0)])


def test_step_range_follows_the_sampler_in_both_passes(host):
    host.network("alpha")
    host.network("beta", seed=2)
    host.load_model()
    sites = find_sites(host.unet)
    p = host.make_processing("<hypernet:alpha:1:start=1>", steps=3, enable_hr=True,
                             hr_prompt="<hypernet:beta:1:stop=0.5>", hr_second_pass_steps=4, denoising_strength=0.5)
    got = host.run_generation(p)
    first = calls([r for r in got if not r.hr], sites)
    hires = calls([r for r in got if r.hr], sites)
    assert len(first) == 3 and len(hires) == 4  # hires runs exactly its own 4 steps
    # first pass: alpha from step 1 on
    assert [bool(c and any(not torch.equal(r.raw, r.received) for r in c)) for c in first] == [False, True, True]
    # hires pass has its own tags and step count: beta before round(0.5 * 4) = 2
    assert [bool(any(not torch.equal(r.raw, r.received) for r in c)) for c in hires] == [True, True, False, False]
    beta = host.load("beta")
    assert Received_ok(hires[0], [ChainEntry(beta, 1.0)])


def Received_ok(records, chain):
    from host_helpers import Received
    return Received(records).matches(chain)


def test_self_attention_setting_off_limits_to_cross(host):
    from sd_hypernet.hosts import common
    host.network("alpha")
    host.load_model()
    common.current().opt  # host is live
    from modules import shared
    shared.opts.set(common.OPT_SELF_ATTENTION, False)
    got = host.run_generation(host.make_processing("<hypernet:alpha:1>"))
    changed = got.changed()
    assert changed and all(r.kind == "cross" for r in changed)


def test_add_hypernetwork_to_prompt_option(host):
    from modules import shared
    if host.name in ("neo", "classic"):  # removed with the rest: nothing of ours may bring it back
        assert "sd_hypernetwork" not in shared.opts.data_labels
        return
    host.network("alpha")
    host.load_model()
    shared.opts.set("sd_hypernetwork", "alpha")
    p = host.make_processing("cat")
    got = host.run_generation(p)
    assert got.matches([ChainEntry(host.load("alpha"), 1.0)])
    assert all("<hypernet:alpha:" in x for x in p.all_prompts)


def test_checkpoint_change_moves_hooks_to_the_new_unet(host):
    host.network("alpha")
    host.load_model()
    old = host.unet
    host.load_model(tiny_unet(seed=5))
    got = host.run_generation(host.make_processing("<hypernet:alpha:1>"))
    assert got.matches([ChainEntry(host.load("alpha"), 1.0)])
    for site in find_sites(old):
        assert not site.module.to_k._forward_pre_hooks


def test_network_used_twice_is_read_from_disk_once(host):
    from sd_hypernet.hosts import common
    host.network("alpha")
    host.load_model()
    host.run_generation(host.make_processing("<hypernet:alpha:1>", n_iter=2))
    host.run_generation(host.make_processing("<hypernet:alpha:0.3>"))
    assert common.current().library().disk_loads == 1
