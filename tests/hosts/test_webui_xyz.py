"""X/Y/Z plot axes: what each cell's processing object receives, and bad values reported by name."""
import pytest
from sd_hypernet import ChainEntry


def xyz():
    from sd_hypernet.hosts.prompt.xyz import find_xyz_module
    return find_xyz_module()


def axis(label):
    return next(o for o in xyz().axis_options if o.label == label)


def test_axes_are_registered_once_and_removed_on_unload(webui):
    labels = [o.label for o in xyz().axis_options]
    assert labels.count("Hypernet multiplier") == 1 and labels.count("Hypernet") == 1
    module = xyz()
    webui.shutdown()
    assert "Hypernet" not in [o.label for o in module.axis_options]


def test_multiplier_axis_cells(webui):
    webui.network("alpha")
    webui.load_model()
    script = next(d.script_class for d in __import__("modules.scripts", fromlist=["x"]).scripts_data
                  if d.script_class.__module__ == "xyz_grid.py")()
    p = webui.make_processing("cat <hypernet:alpha:1:stop=9> <hypernet:beta:1>", steps=1)
    cells = script.run_grid(p, "Hypernet multiplier", "0.25, alpha=-0.5")
    assert [c[3].prompt for c in cells] == ["cat <hypernet:alpha:0.25:stop=9> <hypernet:beta:0.25>",
                                            "cat <hypernet:alpha:-0.5:stop=9> <hypernet:beta:1>"]
    assert p.prompt == "cat <hypernet:alpha:1:stop=9> <hypernet:beta:1>"  # the template is untouched
    assert "<hypernet:alpha:-0.5:stop=9>" in cells[1][2].infotexts[0]


def test_network_axis_swaps_adds_and_removes(webui):
    webui.network("alpha")
    webui.network("beta", seed=2)
    webui.load_model()
    opt = axis("Hypernet")
    assert {"None", "alpha", "beta"} <= set(opt.choices())
    p = webui.make_processing("cat <hypernet:alpha:0.3:self=0>")
    opt.confirm(p, ["beta", "alpha=beta", "None"])
    for value, want in [("beta", "cat <hypernet:beta:0.3:self=0>"), ("None", "cat "),
                        ("alpha=beta", "cat <hypernet:beta:0.3:self=0>")]:
        q = webui.make_processing(p.prompt)
        opt.apply(q, value, [])
        assert q.prompt == want
    q = webui.make_processing("dog")
    opt.apply(q, "beta", [])
    assert q.prompt == "dog <hypernet:beta:1>"
    got = webui.run_generation(q)
    assert got.matches([ChainEntry(webui.load("beta"), 1.0)])


@pytest.mark.parametrize("label, values, message", [
    ("Hypernet multiplier", ["abc"], "abc"),
    ("Hypernet multiplier", ["ghost=0.5"], "ghost"),
    ("Hypernet multiplier", ["=0.5"], "name=number"),
    ("Hypernet", ["ghost"], "ghost"),
])
def test_bad_values_are_reported_by_name(webui, label, values, message):
    webui.network("alpha")
    p = webui.make_processing("cat <hypernet:alpha:1>")
    with pytest.raises(Exception) as e:
        axis(label).confirm(p, values)
    assert message in str(e.value)


def test_multiplier_axis_needs_a_tag(webui):
    p = webui.make_processing("cat")
    with pytest.raises(RuntimeError, match="no <hypernet"):
        axis("Hypernet multiplier").confirm(p, ["0.5"])
