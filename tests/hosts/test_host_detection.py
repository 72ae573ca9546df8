"""Which host the glue takes, from what the running program provides, and that it says so in the log."""
import pytest

from host_helpers import use_host


@pytest.mark.parametrize("host_name", ["webui", "forge", "reforge", "neo", "classic"])
def test_each_host_is_recognised(host_name):
    with use_host(host_name):
        from sd_hypernet import hosts
        assert hosts.detect() == host_name


def test_reforge_is_named_in_the_log_and_its_builtins_replaced(capsys, reforge):  # capsys first: it sees start-up
    from modules import extra_networks, shared, ui_extra_networks

    from sd_hypernet.hosts import common
    assert common.current().name == "reforge"
    assert "host: reForge" in capsys.readouterr().out
    reforge.network("alpha", ext=".pt")
    reforge.load_model()
    got = reforge.run_generation(reforge.make_processing("<hypernet:alpha:1:start=1>", steps=3))
    assert type(extra_networks.extra_network_registry["hypernet"]).__name__ == "HypernetHandler"
    assert shared.loaded_hypernetworks == []  # reForge's own loader never ran
    pages = [pg for pg in ui_extra_networks.extra_pages if pg.name == "hypernetworks"]
    assert len(pages) == 1 and type(pages[0]).__module__.startswith("sd_hypernet")
    assert got.changed()
