"""Infotext: hashes written per generation; paste rewrites unknown names by hash; legacy fields still work."""
import os

from host_helpers import make_network


def test_hashes_written_and_setting_turns_them_off(webui):
    from modules import shared
    from sd_hypernet import short_hash
    path = webui.network("alpha")
    webui.load_model()
    p = webui.make_processing("<hypernet:alpha:0.5>")
    webui.run_generation(p)
    assert f"Hypernet hashes: \"alpha: {short_hash(path)}\"" in webui.processed.infotexts[0]
    shared.opts.set("hypernet_add_hashes_to_infotext", False)
    webui.run_generation(webui.make_processing("<hypernet:alpha:0.5>"))
    assert "Hypernet hashes" not in webui.processed.infotexts[0]


def test_paste_rewrites_unknown_name_to_the_local_file_with_that_hash(webui):
    from modules import infotext_utils
    from sd_hypernet import short_hash
    path = webui.network("alpha")
    text = (f"cat <hypernet:theirname:0.8:stop=5>\nSteps: 20, Sampler: Euler, CFG scale: 7, "
            f"Hypernet hashes: \"theirname: {short_hash(path)}, gone: 0000000000\"")
    params = infotext_utils.paste(text)
    assert params["Prompt"] == "cat <hypernet:alpha:0.8:stop=5>"


def test_paste_keeps_names_known_locally(webui):
    from modules import infotext_utils
    webui.network("alpha")
    webui.network("beta", seed=2)
    other = make_network(webui.tmp, "x")  # hash of a file we do not have under that name
    from sd_hypernet import short_hash
    params = infotext_utils.paste(f"<hypernet:beta:1>\nSteps: 20, Sampler: Euler, CFG scale: 7, "
                                  f"Hypernet hashes: \"beta: {short_hash(other)}\"")
    assert params["Prompt"] == "<hypernet:beta:1>"


def test_legacy_fields_give_a_tag_and_old_hash_resolves_renamed_file(webui):
    from modules import infotext_utils
    from sd_hypernet.hosts.infotext import legacy_model_hash
    params = infotext_utils.paste("cat\nSteps: 20, Sampler: Euler, CFG scale: 7, Hypernet: anime, Hypernet strength: 0.6")
    assert params["Prompt"] == "cat<hypernet:anime:0.6>"

    path = webui.network("renamed", ext=".pt")
    with open(path, "ab") as f:  # old hashes read 64 KiB at 1 MiB: make the file long enough to be distinctive
        f.write(os.urandom(0x120000))
    old = legacy_model_hash(path)
    params = infotext_utils.paste(f"cat\nSteps: 20, Sampler: Euler, CFG scale: 7, Hypernet: anime, "
                                  f"Hypernet hash: {old}, Hypernet strength: 0.6")
    assert params["Prompt"] == "cat<hypernet:renamed:0.6>"
