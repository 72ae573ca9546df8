"""Infotext: hashes written per generation; paste rewrites unknown names by hash; legacy fields still work."""
import json
import os
import re

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
    from sd_hypernet.hosts.prompt.infotext import legacy_model_hash
    params = infotext_utils.paste("cat\nSteps: 20, Sampler: Euler, CFG scale: 7, Hypernet: anime, Hypernet strength: 0.6")
    assert params["Prompt"] == "cat<hypernet:anime:0.6>"

    path = webui.network("renamed", ext=".pt")
    with open(path, "ab") as f:  # old hashes read 64 KiB at 1 MiB: make the file long enough to be distinctive
        f.write(os.urandom(0x120000))
    old = legacy_model_hash(path)
    params = infotext_utils.paste(f"cat\nSteps: 20, Sampler: Euler, CFG scale: 7, Hypernet: anime, "
                                  f"Hypernet hash: {old}, Hypernet strength: 0.6")
    assert params["Prompt"] == "cat<hypernet:renamed:0.6>"


# -- civitai's reader (src/utils/metadata/automatic.metadata.ts in civitai/civitai), its documented rules --------
CIVITAI_HASHES_RE = re.compile(r", Hashes:\s*({[^}]+})")


def civitai_hashes(infotext: str) -> dict:
    """What civitai's reader takes from an A1111 infotext: the details line (the one starting "Steps: "), the
    `, Hashes: {...}` JSON object cut out of it with its hashesRegex, parsed as JSON."""
    details = next(line for line in infotext.split("\n") if line.startswith("Steps: "))
    m = CIVITAI_HASHES_RE.search(details)
    return json.loads(m.group(1)) if m else {}


def test_civitai_reader_finds_our_networks_in_hashes(webui):
    from sd_hypernet import short_hash
    a, b = webui.network("alpha"), webui.network("beta", seed=2)
    webui.load_model()
    webui.run_generation(webui.make_processing("<hypernet:alpha:0.5> <hypernet:beta:-0.5:self=0>"))
    text = webui.processed.infotexts[0]
    assert civitai_hashes(text) == {"hypernet:alpha": short_hash(a), "hypernet:beta": short_hash(b)}
    # the paste field stays
    assert f"Hypernet hashes: \"alpha: {short_hash(a)}, beta: {short_hash(b)}\"" in text


def test_hashes_field_of_another_extension_is_merged_not_replaced(webui):
    from sd_hypernet import short_hash
    a = webui.network("alpha")
    webui.load_model()
    p = webui.make_processing("<hypernet:alpha:1>")
    p.extra_generation_params["Hashes"] = {"model": "abcdef0123", "lora:x": "0123456789"}
    webui.run_generation(p)
    assert civitai_hashes(webui.processed.infotexts[0]) == {
        "model": "abcdef0123", "lora:x": "0123456789", "hypernet:alpha": short_hash(a)}
    # written as a JSON string by someone else: still merged
    p = webui.make_processing("<hypernet:alpha:1>")
    p.extra_generation_params["Hashes"] = json.dumps({"model": "abcdef0123"})
    webui.run_generation(p)
    assert civitai_hashes(webui.processed.infotexts[0]) == {"model": "abcdef0123", "hypernet:alpha": short_hash(a)}


def test_hashes_field_follows_the_setting_and_keeps_foreign_keys(webui):
    from modules import shared
    webui.network("alpha")
    webui.load_model()
    shared.opts.set("hypernet_add_hashes_to_infotext", False)
    webui.run_generation(webui.make_processing("<hypernet:alpha:1>"))
    assert "Hashes" not in webui.processed.infotexts[0]
    p = webui.make_processing("<hypernet:alpha:1>")
    p.extra_generation_params["Hashes"] = {"model": "abcdef0123"}
    webui.run_generation(p)
    assert civitai_hashes(webui.processed.infotexts[0]) == {"model": "abcdef0123"}


def test_unknown_name_is_named_once_in_the_errors_field(webui):
    webui.load_model()
    p = webui.make_processing("<hypernet:does_not_exist:1>")
    webui.run_generation(p)
    errors = p.extra_generation_params["Hypernet errors"]
    assert errors.startswith("does_not_exist: no hypernetwork with this name"), errors
    assert errors.count("does_not_exist") == 1, errors


def test_paste_uses_the_hashes_json_field_too(webui):
    from modules import infotext_utils
    from sd_hypernet import short_hash
    path = webui.network("alpha")
    text = ("cat <hypernet:theirname:0.8>\nSteps: 20, Sampler: Euler, CFG scale: 7, "
            f'Hashes: {{"model": "abcdef0123", "hypernet:theirname": "{short_hash(path)}"}}')
    params = infotext_utils.paste(text)
    assert params["Prompt"] == "cat <hypernet:alpha:0.8>"
