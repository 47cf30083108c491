"""Windowing, silence policy and song-level splits."""

from __future__ import annotations

import numpy as np
import pytest

from stemgen.data.splits import assign_split, parse_ratios
from stemgen.data.windows import SilencePolicy, cut, plan_windows, rms_db


def test_windows_cover_song_and_keep_a_long_tail():
    wins = plan_windows(1000, 400, 400)
    assert [w.start for w in wins] == [0, 400, 800]  # 200-sample tail is exactly half a window: kept
    assert [w.start for w in plan_windows(900, 400, 400)] == [0, 400]  # 100-sample tail dropped
    assert [w.start for w in plan_windows(1000, 400, 200)] == [0, 200, 400, 600]


def test_short_song_padded_into_one_window():
    wins = plan_windows(300, 400, 400)
    assert len(wins) == 1
    piece = cut(np.ones((1, 300), np.float32), wins[0])
    assert piece.shape == (1, 400) and piece[0, 299] == 1 and piece[0, 300] == 0


def test_silence_policy():
    policy = SilencePolicy(min_stem_db=-45, min_context_db=-60)
    loud = np.full((1, 100), 0.1, np.float32)
    assert policy.reason_to_skip(loud * 1e-4, loud) == "silent_stem"
    assert policy.reason_to_skip(loud, np.zeros_like(loud)) == "silent_context"
    assert policy.reason_to_skip(loud, loud) is None
    assert rms_db(np.zeros((1, 10))) == -120.0


def test_split_is_song_level_and_stable():
    ratios = parse_ratios("8,1,1")
    assert ratios == pytest.approx((0.8, 0.1, 0.1))
    ids = [f"song-{i}" for i in range(2000)]
    splits = [assign_split(i, ratios) for i in ids]
    assert splits == [assign_split(i, ratios) for i in ids]
    share = splits.count("train") / len(splits)
    assert 0.75 < share < 0.85 and splits.count("test") > 100
    assert all(assign_split(f"{i}~v3", ratios) == assign_split(i, ratios) for i in ids[:100])


@pytest.mark.parametrize("text", ["0.8,0.2", "a,b,c", "-1,1,1", "0,0,0"])
def test_bad_ratios(text):
    with pytest.raises(ValueError):
        parse_ratios(text)
