"""The arranger's rule part (stemgen/arranger/fallback.py) takes its chords from the analysis's chord
finder: on a chord whose loudest pitch class is not its root it still plays the root, and on real
band songs its bass plays a pitch class the real bass sounds more often than the beat's strongest
low-band pitch class (the rule before issue 19) did."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stemgen.arranger.fallback import rule_notes
from stemgen.midi.context import N_CONTEXT, SLICES, context_from_grid
from stemgen.midi.evaluate import load_song
from stemgen.midi.splits import files_in_split

BAND = Path("/work/shared/data/tegridy_band_midi_nc")


def _context(chroma: np.ndarray, bass: np.ndarray, bars: int = 2) -> np.ndarray:
    """A 4/4 context of ``bars`` bars (16ths) sounding ``chroma`` with ``bass`` in the low band."""
    T = 16 * bars
    ctx = np.zeros((N_CONTEXT, T), np.float32)
    ctx[SLICES["beat"].start, ::4] = 1.0
    ctx[SLICES["downbeat"].start, ::16] = 1.0
    ctx[SLICES["chroma"]] = chroma[:, None]
    ctx[SLICES["bass_chroma"]] = bass[:, None]
    return ctx


def test_the_root_not_the_loudest_pitch_class():
    # C major with its E loudest (and in the low band as loud as the C): the chord is still C.
    chroma = np.zeros(12)
    chroma[[0, 4, 7]] = [0.6, 1.0, 0.6]
    bass = np.zeros(12)
    bass[[0, 4]] = [1.0, 1.0]
    ctx = _context(chroma, bass)
    assert {p % 12 for _, _, p, _ in rule_notes(ctx, "bass")} == {0}
    guitar = rule_notes(ctx, "guitar")
    assert len(guitar) == 6 and {p % 12 for _, _, p, _ in guitar} == {0, 4, 7}


def test_a_minor_chord_gets_its_minor_third():
    chroma = np.zeros(12)
    chroma[[9, 0, 4]] = 1.0  # A C E
    bass = np.zeros(12)
    bass[9] = 1.0
    guitar = rule_notes(_context(chroma, bass), "guitar")
    assert sorted({p - min(q for _, _, q, _ in guitar) for _, _, p, _ in guitar}) == [0, 3, 7]


def test_no_harmony_no_bass():
    ctx = _context(np.zeros(12), np.zeros(12))
    assert rule_notes(ctx, "bass") == [] and rule_notes(ctx, "guitar") == []


@pytest.mark.skipif(not BAND.is_dir(), reason="shared band MIDI data missing")
def test_on_real_songs_the_bass_plays_what_the_real_bass_sounds():
    def strongest_low_pc(ctx, s, e):  # the rule before: the beat's strongest low-band pitch class
        energy = (ctx[SLICES["bass_chroma"]] + 0.25 * ctx[SLICES["chroma"]])[:, s:e].sum(axis=1)
        return int(np.argmax(energy)) if energy.max() > 0 else None

    new, old = [], []
    for path in files_in_split(BAND, "valid")[:8]:
        song = load_song(path)
        if len(song.real["bass"]) < 16:
            continue
        ctx = context_from_grid(song.grid, "bass")
        T = ctx.shape[1]
        sounding = np.zeros((12, T), bool)
        for s, e, p, _ in song.real["bass"]:
            sounding[p % 12, max(s, 0):min(e, T)] = True
        notes = [(s, e, p) for s, e, p, _ in rule_notes(ctx, "bass") if s < T and sounding[:, s].any()]
        assert notes
        new.append(np.mean([sounding[p % 12, s] for s, _, p in notes]))
        before = [(s, strongest_low_pc(ctx, s, e)) for s, e, _ in notes]
        old.append(np.mean([pc is not None and sounding[pc, s] for s, pc in before]))
    assert len(new) >= 5
    assert np.mean(new) > 0.55 and np.mean(new) > np.mean(old) + 0.03
