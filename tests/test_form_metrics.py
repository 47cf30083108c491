"""Form-and-feel metrics (midi/form_metrics.py) on real songs: the real part scores like a real
part, its bars shuffled and a random part score clearly differently (order-free metrics are
checked against random / octave-shifted / velocity-flattened parts instead of shuffled ones)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from stemgen.midi.evaluate import load_song
from stemgen.midi.form_metrics import (
    CRASH,
    DRUM_CLASS_OF_PITCH,
    as_array,
    bar_bounds,
    foote_novelty,
    form_metrics,
    repetition,
    section_starts,
    shuffled_bars,
)
from stemgen.midi.splits import files_in_split

BAND = Path("/work/shared/data/tegridy_band_midi_nc")
GROOVE = Path("/work/shared/data/groove_midi")
pytestmark = pytest.mark.skipif(not BAND.is_dir(), reason="shared band MIDI data missing")

_SONGS: dict[str, object] = {}


def song(name: str):
    if name not in _SONGS:
        _SONGS[name] = load_song(BAND / "midi" / name)
    return _SONGS[name]


def random_part(real, grid, drums: bool, seed: int = 0) -> list[tuple]:
    """As many notes as the real part at random 16ths, pitches (drum keys 35-59, or the real part's
    pitch range widened by an octave each way), lengths and velocities."""
    arr = as_array(real)
    rng = np.random.default_rng(seed)
    n = len(arr)
    start = rng.integers(0, grid.n_steps - 1, n)
    pitch = rng.integers(35, 60, n) if drums else rng.integers(arr[:, 2].min() - 12, arr[:, 2].max() + 13, n)
    length = np.ones(n, np.int64) if drums else rng.integers(1, 16, n)
    vel = rng.integers(1, 128, n)
    return sorted(zip(start.tolist(), np.minimum(start + length, grid.n_steps).tolist(), pitch.tolist(), vel.tolist()))


def metrics(part, s, stem):
    return form_metrics(part, s.real[stem], s.grid, stem)


def test_repetition_on_hand_made_patterns():
    a, b = frozenset({(0, 0)}), frozenset({(4, 1)})
    assert repetition([a] * 8) == (1.0, 1.0)
    share, per8 = repetition([a, b] * 4 + [None, None])  # bars without notes do not count
    assert share == 0.5 and per8 == 2.0
    assert all(math.isnan(v) for v in repetition([None, None]))


def test_real_part_scores_like_a_real_part():
    s = song("Tegridy-Select_0ee7619ef4.mid")
    for stem in ("drums", "bass", "guitar"):
        m = metrics(s.real[stem], s, stem)
        assert m["activity"] == 1.0 and m["rests_kept"] == 1.0, stem
        if stem != "drums":
            assert m["pitch_diff"] == 0.0 and m["octave_err"] == 0.0 and m["len_ratio"] == 1.0


def test_drums_shuffled_and_random_score_differently():
    s = song("Tiny-Karaoke_53afe92ef0.mid")
    real = metrics(s.real["drums"], s, "drums")
    shuf = metrics(shuffled_bars(s.real["drums"], s.grid), s, "drums")
    rand = metrics(random_part(s.real["drums"], s.grid, True), s, "drums")
    # The real drummer keeps a groove over 8 bars and plays fills before phrase ends.
    assert real["patterns_per_8"] < 3 and shuf["patterns_per_8"] > real["patterns_per_8"] + 1.5
    assert real["fill_extra"] > 0.5 and shuf["fill_extra"] < 0.5 * real["fill_extra"]
    # Order-free: the same distribution of bars, counts and velocities when shuffled ...
    for col in ("rep_share", "snares_per_bar", "toms_per_bar", "vel_spread", "ride_share"):
        assert shuf[col] == pytest.approx(real[col], abs=0.02), col
    # ... but a random part is nothing like it.
    assert rand["rep_share"] < 0.1 < real["rep_share"] - 0.2
    assert rand["patterns_per_8"] == 8.0
    assert rand["toms_per_bar"] > 5 * max(real["toms_per_bar"], 0.2)
    assert rand["ride_share"] > real["ride_share"] + 0.2
    assert rand["vel_spread"] > real["vel_spread"] + 50
    assert abs(rand["fill_extra"]) < 0.5


def test_pitched_shuffled_random_and_octave_shifted():
    s = song("Tegridy-Select_0ee7619ef4.mid")
    for stem in ("bass", "guitar"):
        real = s.real[stem]
        shuf = metrics(shuffled_bars(real, s.grid), s, stem)
        rand = metrics(random_part(real, s.grid, False), s, stem)
        # Rests are where the real part rests: shuffled bars or a random part play elsewhere.
        assert shuf["activity"] < 0.9 and shuf["rests_kept"] < 0.8, stem
        assert rand["activity"] < 0.85 and rand["rests_kept"] < 0.5, stem
        assert rand["rep_share"] < 0.1 and rand["patterns_per_8"] > 7, stem
        low = [(st, e, p - 12, v) for st, e, p, v in real]
        shifted = metrics(low, s, stem)
        assert shifted["pitch_diff"] == -12.0 and shifted["pitch_off"] == 12.0, stem
        # Guitar chords double pitch classes across octaves, so some shifted notes still land on a real pitch.
        assert shifted["octave_err"] == 1.0 if stem == "bass" else shifted["octave_err"] > 0.5, stem
        assert rand["octave_err"] > 0.3, stem
    # Note lengths: a held-note version of the bass (every note to the next onset or 4 beats) is longer.
    bass = as_array(s.real["bass"])
    held = [(st, st + 16, p, v) for st, _, p, v in bass.tolist()]
    assert metrics(held, s, "bass")["len_ratio"] > 1.5


def test_guitar_offbeat_share():
    s = song("Tegridy-Select_0ee7619ef4.mid")
    real = metrics(s.real["guitar"], s, "guitar")["offbeat"]
    on_the_and = [(st - st % 4 + 2, st - st % 4 + 3, p, v) for st, _, p, v in as_array(s.real["guitar"]).tolist()]
    on_the_beat = [(st - st % 4, st - st % 4 + 1, p, v) for st, _, p, v in as_array(s.real["guitar"]).tolist()]
    assert metrics(on_the_and, s, "guitar")["offbeat"] == 1.0
    assert metrics(on_the_beat, s, "guitar")["offbeat"] == 0.0
    assert 0.0 < real < 1.0


def test_sections_are_where_real_drummers_crash():
    """Validity of the section detector on held-out songs: real drummers crash on the detected
    section starts clearly more often than on the other 4-bar phrase boundaries."""
    at_sections, elsewhere = [], []
    for path in files_in_split(BAND, "test")[:14]:
        s = load_song(path)
        drums = as_array(s.real["drums"])
        if len(drums) < 8:
            continue
        bounds = bar_bounds(s.grid)
        crashes = drums[DRUM_CLASS_OF_PITCH[drums[:, 2]] == CRASH, 0]
        secs = section_starts(s.grid, "drums")
        assert secs.size >= 1 and np.all(np.diff(secs) > 0)
        for b in range(int(secs[0]), bounds.size - 1, 4):
            hit = bool(np.any((crashes >= bounds[b]) & (crashes < bounds[b] + 4)))
            (at_sections if b in set(secs.tolist()) else elsewhere).append(hit)
    assert len(at_sections) > 40
    assert np.mean(at_sections) > 1.5 * np.mean(elsewhere)


def test_crash_on_section_real_vs_shuffled():
    # Songs whose drummers crash on many of the detected section starts.
    rates = []
    for name in ("Tiny-Karaoke_53afe92ef0.mid", "Tegridy-Select_9f59302620.mid"):
        s = song(name)
        real = metrics(s.real["drums"], s, "drums")["crash_on_section"]
        shuf = np.mean([metrics(shuffled_bars(s.real["drums"], s.grid, k), s, "drums")["crash_on_section"]
                        for k in range(5)])
        rates.append((real, shuf))
    assert np.mean([r for r, _ in rates]) > np.mean([sh for _, sh in rates]) + 0.2, rates


def test_novelty_peaks_at_a_change():
    feats = np.zeros((16, 3))
    feats[:8, 0] = 1
    feats[8:, 1] = 1
    nov = foote_novelty(feats)
    assert int(np.argmax(nov)) == 8 and nov[8] > 0.4 and nov[3] == pytest.approx(0, abs=1e-9)


@pytest.mark.skipif(not GROOVE.is_dir(), reason="Groove MIDI missing")
def test_ghost_notes_and_accents_of_a_human_drummer():
    s = load_song(GROOVE / "drummer1" / "session1" / "102_funk_95_beat_4-4.mid")
    real = as_array(s.real["drums"])
    human = form_metrics(s.real["drums"], s.real["drums"], s.grid, "drums")
    flat = form_metrics([(a, b, p, 100) for a, b, p, _ in real.tolist()], s.real["drums"], s.grid, "drums")
    assert human["ghost_share"] > 0.3 and human["vel_spread"] > 30
    # A sequenced part at one velocity has no accents and no ghost notes.
    assert flat["ghost_share"] == 0.0 and flat["vel_spread"] == 0.0


def test_midi_eval_reports_form_columns_for_every_source():
    from stemgen.midi.evaluate import COLUMNS, evaluate, format_tables

    files = [BAND / "midi" / "Tiny-Karaoke_53afe92ef0.mid", BAND / "midi" / "Tegridy-Select_0ee7619ef4.mid"]
    report = evaluate(files, ("drums", "bass"), {}, progress=False, baselines=("rule",))
    real, rule = report["table"]["drums"]["real"], report["table"]["drums"]["rule"]
    assert real["activity"] == 1.0 and real["drum_f1"] == 1.0
    assert rule["rep_share"] > 0.9 > real["rep_share"]  # the rule is one bar looped
    assert report["table"]["bass"]["real"]["pitch_off"] == 0.0
    text = format_tables(report)
    assert text.index("note_f1") < text.index("Form and feel") < text.index("crash_on_section")
    # Per song: median and interquartile range of every form column, the real part's activity 1 in every song.
    spread = report["spread"]["drums"]
    assert spread["real"]["activity"] == [1.0, 1.0, 1.0] and spread["rule"]["rep_share"][0] > 0.9
    for cols in spread.values():
        for v in cols.values():
            assert v is None or v[1] <= v[0] <= v[2]
    assert text.index("Form and feel per song") > text.index("crash_on_section")
    assert all(c in report["rows"]["bass"]["rule"][0] for c in COLUMNS)


def test_bar_bounds_are_cut_one_way_for_grids_and_contexts():
    from stemgen.midi.form_metrics import bounds_from_bar_starts

    starts = np.zeros(40, bool)
    starts[[4, 20, 36]] = True  # a 4-step pickup, two 16-step bars, a last bar of 4
    assert bounds_from_bar_starts(starts).tolist() == [0, 4, 20, 36, 40]
    assert bounds_from_bar_starts(starts.astype(np.float32), n_steps=38).tolist() == [0, 4, 20, 36, 38]
    assert bounds_from_bar_starts(np.zeros(8)).tolist() == [0, 8]  # no bar line: one bar
    # The drum decoder (from the context's downbeat channel) and the metrics (from the grid) cut the same bars.
    from stemgen.midi.context import context_from_grid
    from stemgen.midi.drum_form import bar_bounds_from_context

    song = load_song(BAND / "midi" / "Tiny-Karaoke_53afe92ef0.mid")
    assert np.array_equal(bar_bounds(song.grid), bar_bounds_from_context(context_from_grid(song.grid, "drums")))

