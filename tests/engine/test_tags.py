"""`<hypernet:name:multiplier[:key=value...]>` parameters: good values, and bad ones reported by name."""
import pytest

from sd_hypernet import ChainEntry, HypernetError
from sd_hypernet.control import LBW_BLOCKS, read_presets
from sd_hypernet.tags import TagError, parse_tag

SD_BLOCKS = ["IN01", "IN02", "IN04", "IN05", "IN07", "IN08", "MID", "OUT03", "OUT04", "OUT05", "OUT06", "OUT07",
             "OUT08", "OUT09", "OUT10", "OUT11"]
XL_BLOCKS = ["IN04", "IN05", "IN07", "IN08", "MID", "OUT00", "OUT01", "OUT02", "OUT03", "OUT04", "OUT05"]


def test_name_and_multiplier():
    spec = parse_tag(["my_net", "0.65"])
    assert spec.name == "my_net" and spec.multiplier == pytest.approx(0.65)
    assert parse_tag(["my_net"]).multiplier == 1.0
    assert parse_tag(["sub/dir/net", "-1.5"]).multiplier == -1.5


def test_all_named_parameters():
    spec = parse_tag(["n", "0.5", "self=0", "cross=1.25", "start=0.3", "stop=20", "lbw=INALL", "force=1"])
    assert spec.self_multiplier == 0.0 and spec.cross_multiplier == 1.25
    assert spec.start == pytest.approx(0.3) and isinstance(spec.start, float)
    assert spec.stop == 20 and isinstance(spec.stop, int)
    assert spec.force is True
    assert spec.block_weights["IN01"] == 1 and spec.block_weights["OUT11"] == 0
    entry = spec.to_entry("NETWORK")
    assert isinstance(entry, ChainEntry)
    assert (entry.network, entry.multiplier, entry.self_multiplier, entry.cross_multiplier) == ("NETWORK", 0.5, 0.0, 1.25)
    assert (entry.start, entry.stop, entry.force, entry.label) == (pytest.approx(0.3), 20, True, "n")
    assert entry.block_weights == spec.block_weights


def test_step_forms():
    assert parse_tag(["n", "1", "start=5"]).start == 5
    assert parse_tag(["n", "1", "start=1.0"]).start == 1  # a decimal point but not below 1: a step number
    assert parse_tag(["n", "1", "stop=.5"]).stop == pytest.approx(0.5)
    assert parse_tag(["n", "1", "force=0"]).force is False


def expect_tag_error(items, *words, family=None, presets=None):
    with pytest.raises(TagError) as err:
        parse_tag(items, family=family, presets=presets)
    assert isinstance(err.value, HypernetError)
    message = str(err.value)
    for word in words:
        assert word.lower() in message.lower(), message
    return message


@pytest.mark.parametrize("items,words", [
    (["n", "1", "start=abc"], ["start", "number"]),
    (["n", "1", "stop=x1"], ["stop", "number"]),
    (["n", "1", "start=-2"], ["start"]),
    (["n", "1", "start=2.5"], ["start", "whole"]),
    (["n", "1", "start=8", "stop=3"], ["stop", "start"]),
    (["n", "1", "self=0", "self=1"], ["self", "twice"]),
    (["n", "1", "cross=0.5", "cross=0.5"], ["cross", "twice"]),
    (["n", "1", "colour=red"], ["colour", "expected"]),
    (["n", "abc"], ["multiplier", "number"]),
    (["n", "inf"], ["multiplier", "finite"]),
    (["n", "nan"], ["multiplier", "finite"]),
    (["n", "1", "self=inf"], ["self", "finite"]),
    (["n", "1", "cross=half"], ["cross", "number"]),
    (["n", "1", "force=maybe"], ["force", "1"]),
    (["", "1"], ["name"]),
    (["n", "1", "extra"], ["extra"]),
])
def test_bad_values(items, words):
    expect_tag_error(items, *words)


def test_lbw_wrong_count():
    message = expect_tag_error(["n", "1", "lbw=1,0,1"], "lbw", "17")
    assert "3" in message
    expect_tag_error(["n", "1", "lbw=" + ",".join(["1"] * 17)], "lbw", "12", family="sdxl")


def test_lbw_unknown_preset():
    expect_tag_error(["n", "1", "lbw=NOPE"], "lbw", "preset", "NOPE")


def test_lbw_not_numbers():
    expect_tag_error(["n", "1", "lbw=" + ",".join(["1"] * 16 + ["x"])], "lbw")


def test_lbw_non_finite_value():
    expect_tag_error(["n", "1", "lbw=" + ",".join(["1"] * 16 + ["inf"])], "lbw")
    expect_tag_error(["n", "1", "lbw=" + ",".join(["nan"] * 17)], "lbw")


def test_lbw_17_values_map_to_sd_blocks():
    values = [9] + [round(0.1 * i, 1) for i in range(1, 17)]
    spec = parse_tag(["n", "1", "lbw=" + ",".join(str(v) for v in values)])
    assert list(spec.block_weights) == SD_BLOCKS  # BASE (text encoder) is dropped
    assert spec.block_weights == {name: pytest.approx(v) for name, v in zip(SD_BLOCKS, values[1:])}
    assert LBW_BLOCKS["sd1"][1:] == SD_BLOCKS and LBW_BLOCKS["sd2"] == LBW_BLOCKS["sd1"]


def test_lbw_12_values_map_to_sdxl_blocks():
    values = [9] + [round(0.1 * i, 1) for i in range(1, 12)]
    spec = parse_tag(["n", "1", "lbw=" + ",".join(str(v) for v in values)], family="sdxl")
    assert list(spec.block_weights) == XL_BLOCKS
    assert spec.block_weights == {name: pytest.approx(v) for name, v in zip(XL_BLOCKS, values[1:])}


@pytest.mark.parametrize("family,blocks", [(None, SD_BLOCKS), ("sd2", SD_BLOCKS), ("sdxl", XL_BLOCKS)])
def test_lbw_presets_mean_the_same_on_every_family(family, blocks):
    def weights(preset):
        return parse_tag(["n", "1", f"lbw={preset}"], family=family).block_weights

    assert set(weights("ALL")) == set(blocks) and set(weights("ALL").values()) == {1}
    assert set(weights("NONE").values()) == {0}
    inall, outall, midd = weights("INALL"), weights("OUTALL"), weights("MIDD")
    assert {b for b, w in inall.items() if w} == {b for b in blocks if b.startswith("IN")}
    assert {b for b, w in outall.items() if w} == {b for b in blocks if b.startswith("OUT")}
    assert midd["MID"] == 1
    assert set(weights("ALL0.5").values()) == {0.5}


def test_user_presets():
    presets = read_presets("# mine\nHALFIN:1," + ",".join(["0.5"] * 6 + ["0"] * 10) + "\nbroken line\n"
                           "XLONE:1,1,0,0,0,0,0,0,0,0,0,0\n")
    spec = parse_tag(["n", "1", "lbw=HALFIN"], presets=presets)
    assert spec.block_weights["IN08"] == 0.5 and spec.block_weights["MID"] == 0
    spec_xl = parse_tag(["n", "1", "lbw=XLONE"], family="sdxl", presets=presets)
    assert spec_xl.block_weights["IN04"] == 1 and spec_xl.block_weights["IN05"] == 0
    # a 12-value preset is not offered to SD1
    expect_tag_error(["n", "1", "lbw=XLONE"], "lbw", presets=presets)
