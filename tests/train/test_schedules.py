"""The webui's learning-rate schedule syntax, read as modules/textual_inversion/learn_schedule.py reads it."""
import math

import pytest

from sd_hypernet import HypernetError
from sd_hypernet.train.schedules import WarmupCosine, WebuiSchedule, make_schedule, parse_webui_schedule


@pytest.mark.parametrize("text, max_steps, cur, expected", [
    ("0.00001", 1000, 0, [(1e-5, 1000)]),
    ("5e-5:100, 5e-6:1500", 100000, 0, [(5e-5, 100), (5e-6, 1500)]),
    ("5e-5:100, 5e-6:1500, 5e-7:10000", 2000, 0, [(5e-5, 100), (5e-6, 1500), (5e-7, 2000)]),
    # a pair past max_steps is clamped and ends the list
    ("1e-3:100, 1e-4:5000, 1e-5:9000", 1000, 0, [(1e-3, 100), (1e-4, 1000)]),
    # -1 runs to the end and ends the list
    ("1e-3:100, 1e-4:-1, 1e-5:9000", 1000, 0, [(1e-3, 100), (1e-4, 1000)]),
    # a bare rate runs to the end and ends the list
    ("1e-3:100, 1e-4, 1e-5:900", 1000, 0, [(1e-3, 100), (1e-4, 1000)]),
    # on resume, pairs ending at or before the current step are skipped
    ("1e-3:100, 1e-4:500, 1e-5:900", 1000, 100, [(1e-4, 500), (1e-5, 900)]),
    ("1e-3:100, 1e-4:500", 1000, 499, [(1e-4, 500)]),
    # spaces around numbers are accepted
    (" 2e-4 : 10 ,  1e-4 : 20 ", 100, 0, [(2e-4, 10), (1e-4, 20)]),
    # "a:b:c" is not a pair: its first field is a bare rate
    ("1e-3:10:20, 1e-4:50", 100, 0, [(1e-3, 100)]),
    (0.5, 10, 0, [(0.5, 10)]),
])
def test_parse_like_the_webui(text, max_steps, cur, expected):
    got = parse_webui_schedule(text, max_steps, cur)
    assert [(pytest.approx(r), s) for r, s in got] == expected


@pytest.mark.parametrize("text", ["", "fast", "1e-3:ten", "1e-3:100,", ":100"])
def test_bad_text_is_a_named_error(text):
    with pytest.raises(HypernetError, match="schedule"):
        parse_webui_schedule(text, 1000)


def test_nothing_left_after_resume_is_an_error():
    with pytest.raises(HypernetError, match="no entry after step 200"):
        parse_webui_schedule("1e-3:100, 1e-4:200", 1000, 200)


def test_stepping_and_finish():
    sched = WebuiSchedule("1e-3:3, 1e-4:5", 100)
    values = []
    for step in range(10):
        v = sched.advance(step)
        if sched.finished:
            break
        values.append(v)
    # the webui trains steps 0-2 at the first rate, 3-4 at the second, then stops
    assert values == [1e-3] * 3 + [1e-4] * 2


def test_schedule_state_round_trip():
    a = WebuiSchedule("1e-3:2, 1e-4:4, 1e-5:8", 100)
    for step in range(5):
        a.advance(step)
    b = WebuiSchedule("1e-3:2, 1e-4:4, 1e-5:8", 100)
    b.load_state_dict(a.state_dict())
    assert [a.advance(s) for s in range(5, 9)] == [b.advance(s) for s in range(5, 9)]


def test_warmup_cosine():
    s = WarmupCosine(1e-3, max_steps=110, warmup=10, min_value=1e-5)
    assert s.advance(0) == pytest.approx(1e-4)
    assert s.advance(9) == pytest.approx(1e-3)
    assert s.advance(10) == pytest.approx(1e-3)
    assert s.advance(60) == pytest.approx(1e-5 + (1e-3 - 1e-5) * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert s.advance(110) == pytest.approx(1e-5)
    values = [s.advance(i) for i in range(10, 111)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_warmup_in_front_of_a_webui_schedule():
    s = make_schedule("webui", "1e-3:50, 1e-4", 100, warmup=4)
    assert [s.advance(i) for i in range(6)] == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 1e-3])
    with pytest.raises(HypernetError, match="unknown learning-rate schedule"):
        make_schedule("linear", "1e-3", 100)
