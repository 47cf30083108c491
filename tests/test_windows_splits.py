"""Windowing and the silence policy (song-level splits: test_splits.py)."""

from __future__ import annotations

import numpy as np

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
