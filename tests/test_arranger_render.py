"""Arranger rendering units: beat grid, humanisation, note ends, sound choice, presets, loudness,
limiter and the MIDI tempo map (real SoundFonts, real multitrack, the project's MIDI reader)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from stemgen.arranger import BeatGrid, Humanization, choose_sound
from stemgen.arranger.humanize import jitter_onsets, tight_mask
from stemgen.arranger.limiter import limit_peaks, mix_with_limiter
from stemgen.arranger.loudness import DEFAULT_LEVEL_DB, loudness_lufs
from stemgen.arranger.midifile import build_tempo_map, part_midi
from stemgen.arranger.placement import DRUM_MAX_BEATS, place_notes
from stemgen.errors import StemgenInputError
from stemgen.midifile.io import load_midi
from stemgen.render.presets import soundfont_presets
from stemgen.render.soundfonts import find_soundfonts
from stemgen.render.sounds import SOUNDS, default_sound

# Beats of a drifting, slightly irregular performance (like a tracker's output), 0.45-0.62 s apart.
BEATS = np.cumsum(np.r_[0.37, 0.5 + 0.06 * np.sin(np.arange(40) / 3) + 0.02 * np.cos(np.arange(40) * 1.7)])


# --- grid -----------------------------------------------------------------------------------------

def test_grid_hits_every_beat_and_interpolates_between():
    g = BeatGrid.from_times(BEATS)
    np.testing.assert_allclose(g.seconds_at_step(4 * np.arange(BEATS.size)), BEATS, atol=1e-12)
    mid = g.seconds_at_step(4 * np.arange(BEATS.size - 1) + 2)
    np.testing.assert_allclose(mid, (BEATS[:-1] + BEATS[1:]) / 2, atol=1e-12)
    steps = np.arange(-8, 4 * BEATS.size + 8)
    np.testing.assert_allclose(g.beats_at(g.seconds_at_step(steps)), steps / 4, atol=1e-9)


def test_grid_extrapolates_with_local_period():
    g = BeatGrid.from_times(BEATS)
    last = np.median(np.diff(BEATS[-5:]))
    assert g.seconds_at_step(4 * (BEATS.size + 1)) == pytest.approx(BEATS[-1] + 2 * last)
    first = np.median(np.diff(BEATS[:5]))
    assert g.seconds_at_step(-2) == pytest.approx(BEATS[0] - first / 2)


@pytest.mark.parametrize("bad", [[1.0], [0.5, 0.4, 1.0], [0.0, np.nan], [0.0, 0.05, 0.1], [0.0, 8.0]])
def test_grid_rejects_bad_beats(bad):
    with pytest.raises(ValueError):
        BeatGrid.from_times(bad)


# --- humanisation and placement -------------------------------------------------------------------

def _drum_part(n_beats):
    rows = []
    for b in range(n_beats):
        rows.append((4 * b, 4 * b + 1, 36 if b % 2 == 0 else 38, 100))
        rows += [(4 * b + k, 4 * b + k + 1, 42, 70) for k in range(4)]
    return rows


def test_humanisation_is_seeded_and_has_the_configured_spread():
    g = BeatGrid.from_times(BEATS)
    h = Humanization()
    a = place_notes(_drum_part(39), g, is_drums=True, humanization=h, seed=3)
    b = place_notes(_drum_part(39), g, is_drums=True, humanization=h, seed=3)
    c = place_notes(_drum_part(39), g, is_drums=True, humanization=h, seed=4)
    np.testing.assert_array_equal(a.onset_s, b.onset_s)
    np.testing.assert_array_equal(a.velocity, b.velocity)
    assert not np.array_equal(a.onset_s, c.onset_s)
    dev_ms = (a.onset_s - g.seconds_at_step(a.start_step)) * 1e3
    tight = tight_mask(a.pitch, True)
    assert 1.5 < dev_ms[tight].std() < 3.5  # kick/snare: 2.5 ms
    assert 4.0 < dev_ms[~tight].std() < 8.0  # hats: 6 ms
    assert np.abs(dev_ms[tight]).max() <= 2.5 * 2.5 + 1e-9
    off = place_notes(_drum_part(39), g, is_drums=True, humanization=Humanization.off(), seed=3)
    np.testing.assert_allclose(off.onset_s, g.seconds_at_step(off.start_step))
    assert set(off.velocity.tolist()) == {100, 70}  # velocities untouched too


def test_jitter_never_crosses_neighbouring_onsets():
    onsets = np.arange(200) * 0.03  # 16ths at 500 bpm-ish: 30 ms apart
    h = Humanization(timing_ms=40.0, tight_timing_ms=40.0)  # absurdly loose on purpose
    out = jitter_onsets(onsets, np.zeros(200, bool), h, np.random.default_rng(0))
    assert np.all(np.diff(out) > 0)
    assert np.abs(out - onsets).max() <= 0.4 * 0.03 + 1e-12


def test_note_ends():
    g = BeatGrid.from_times(BEATS)
    drums = place_notes([(0, 1, 49, 100), (4, 5, 42, 90), (6, 7, 42, 90), (40, 41, 49, 100)], g,
                        is_drums=True, humanization=Humanization.off(), seed=0)
    crash = drums.pitch == 49
    # A hit rings until the next hit of its key, at most DRUM_MAX_BEATS beats.
    assert drums.offset_s[crash][0] == pytest.approx(g.seconds_at(0) + DRUM_MAX_BEATS * (BEATS[1] - BEATS[0]))
    hats = np.flatnonzero(drums.pitch == 42)
    assert drums.offset_s[hats[0]] == pytest.approx(drums.onset_s[hats[1]])
    # Pitched: same key legato notes never overlap, whatever the jitter; duplicates collapse.
    bass = place_notes([(0, 8, 40, 90), (4, 8, 40, 90), (4, 8, 40, 60), (8, 12, 43, 90)], g, is_drums=False,
                       humanization=Humanization(timing_ms=15.0), seed=1)
    assert len(bass) == 3
    e40 = np.flatnonzero(bass.pitch == 40)
    assert bass.offset_s[e40[0]] <= bass.onset_s[e40[1]]
    plain = place_notes([(4, 8, 40, 90), (4, 8, 40, 60)], g, is_drums=False, humanization=Humanization.off(), seed=1)
    assert plain.velocity.tolist() == [90]  # the louder duplicate is kept
    assert np.all(bass.offset_s > bass.onset_s)


# --- sounds and presets ---------------------------------------------------------------------------

@pytest.mark.parametrize("stem,text,name", [
    ("drums", "Add a brushed jazz kit, soft and swinging", "brush"),
    ("drums", "add jazz drums", "red_zeppelin"),
    ("drums", "Add an 808 beat with trap hats", "tr808"),
    ("drums", "add driving rock drums", "black_pearl"),
    ("drums", "heavy metal double kick", "black_pearl"),
    ("drums", "add some drums", "black_pearl"),
    ("drums", "a house beat", "electronic"),
    ("bass", "Add a fingered bass line", "fingered"),
    ("bass", "add a funky slap bass", "slap"),
    ("bass", "walking upright bass", "acoustic"),
    ("guitar", "Add distorted guitar power chords", "distortion"),
    ("guitar", "gentle nylon-string arpeggios", "nylon"),
    ("guitar", "add some rhythm guitar", "clean"),
])
def test_sound_from_instruction(stem, text, name):
    assert choose_sound(stem, text).sound.name == name


def test_user_sound_overrides_and_unknown_names_list_the_choices():
    assert choose_sound("drums", "brushed jazz", "tr808").sound.program == 25
    assert choose_sound("drums", "", "TR-808 kit").reason == "user"
    assert choose_sound("bass", "", 36).sound.name == "slap"
    assert choose_sound("guitar", "", "31").sound.program == 31  # any GM number
    with pytest.raises(StemgenInputError, match="brush, tr808") as err:
        choose_sound("drums", "", "cowbell kit")
    assert "\n" not in str(err.value)
    with pytest.raises(StemgenInputError, match="unknown stem"):
        choose_sound("vocals")
    assert [default_sound(s).program for s in ("drums", "bass", "guitar")] == [0, 33, 27]


def test_every_sound_exists_in_every_installed_soundfont():
    fonts = find_soundfonts()
    assert fonts, "no SoundFont installed"
    for sf2 in fonts:
        presets = soundfont_presets(str(sf2.path))
        missing = [s.label for table in SOUNDS.values() for s in table if (s.bank, s.program) not in presets]
        assert not missing, f"{sf2.name} lacks {missing}"


def test_presets_reject_a_non_soundfont(tmp_path):
    bad = tmp_path / "x.sf2"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVE")
    with pytest.raises(StemgenInputError, match="not a SoundFont"):
        soundfont_presets(str(bad))


# --- loudness and limiter -------------------------------------------------------------------------

def test_default_levels_are_the_measured_ones(musdb_song):
    """Stem loudness minus the rest's, on the real multitrack (guitar = MUSDB's 'other' here)."""
    stems = {k: sf.read(musdb_song / f"{k}.wav", always_2d=True, dtype="float32")[0].T
             for k in ("drums", "bass", "other", "vocals")}
    for stem, source in (("drums", "drums"), ("bass", "bass"), ("guitar", "other")):
        rest = sum(v for k, v in stems.items() if k != source)
        measured = loudness_lufs(stems[source], 44100) - loudness_lufs(rest, 44100)
        assert measured == pytest.approx(DEFAULT_LEVEL_DB[stem], abs=0.05), stem


def test_limiter_keeps_the_sum_exactly_unless_it_would_clip():
    rng = np.random.default_rng(0)
    ctx = (0.3 * rng.standard_normal((2, 44100))).clip(-0.9, 0.9).astype(np.float32)
    stem = np.zeros_like(ctx)
    stem[:, 1000:1100] = 0.05
    mix, rep = mix_with_limiter(ctx, stem, 44100)
    assert rep.samples_changed == 0 and np.array_equal(mix, ctx + stem)
    stem[:, 20000] = 0.9  # one over
    mix, rep = mix_with_limiter(ctx, stem, 44100)
    assert np.abs(mix).max() <= 1.0
    changed = np.flatnonzero(np.any(mix != ctx + stem, axis=0))
    assert changed.size == rep.samples_changed > 0
    assert changed.min() >= 20000 - 0.02 * 44100 and changed.max() <= 20000 + 0.02 * 44100
    assert rep.max_reduction_db > 0


def test_limiter_ramps_instead_of_clipping():
    x = np.zeros((1, 8000), np.float32)
    x[0, 4000] = 2.0
    y, rep = limit_peaks(x + 0.5, 8000)
    assert y.max() <= 1.0 and y[0, 4000] == pytest.approx(1.0, abs=1e-6)
    assert np.all(np.abs(np.diff(y[0, 3900:4000])) < 0.05)  # a ramp, not a step
    assert rep.max_reduction_db == pytest.approx(20 * np.log10(2.5), abs=0.01)


# --- MIDI tempo map -------------------------------------------------------------------------------

def _read_back(tmp_path, data):
    path = tmp_path / "part.mid"
    path.write_bytes(data)
    return load_midi(path)


# (first beat time, first downbeat index) -> (first beat on a MIDI beat line, bar lines on the downbeats)
LEAD_IN_CASES = {
    (0.0, 0): (0, True),  # beat 0 at the very start and a downbeat: no lead-in
    (0.0, 1): (2, True),  # downbeat 1 on a bar line needs 4 beats in 0.5 s: beat 2 = MIDI beat 1 instead
    (0.05, 1): (2, True),  # (no room for any beat before 0.05 s)
    (0.05, 0): (1, True),  # one lead-in beat before beat 1 puts the downbeat at beat 4 on a bar line
    (0.37, 1): (1, True),  # a 3-beat lead-in before beat 0 would need 486 bpm: beat 1 anchors instead
    (3.1, 1): (0, True),
    (0.05, 2): (1, True),
}


@pytest.mark.parametrize("t0,first_downbeat", list(LEAD_IN_CASES))
def test_midi_beats_fall_on_the_detected_beats(tmp_path, t0, first_downbeat):
    beats = BEATS - BEATS[0] + t0
    g = BeatGrid.from_times(beats)
    tm = build_tempo_map(g, meter=4, first_downbeat=first_downbeat)
    assert (tm.anchor, tm.bars_aligned) == LEAD_IN_CASES[(t0, first_downbeat)]
    notes = place_notes(_drum_part(beats.size), g, is_drums=True, humanization=Humanization(), seed=0)
    data = part_midi(notes.onset_s, notes.offset_s, notes.pitch, notes.velocity, tm, default_sound("drums"))
    song = _read_back(tmp_path, data)
    on_grid = np.arange(tm.anchor, beats.size + 3)
    np.testing.assert_allclose(song.seconds_at(tm.tick_of_beat(on_grid)), g.seconds_at(on_grid), atol=2e-6)
    assert song.time_signatures[0][1:] == (4, 4)
    assert all(60e6 / us <= 400 for us in tm.us_per_quarter)  # a tempo the project's reader accepts
    if tm.bars_aligned:
        downbeats = np.arange(first_downbeat, beats.size, 4)
        downbeats = downbeats[downbeats >= tm.anchor]
        assert np.all(tm.tick_of_beat(downbeats) % (4 * tm.tpq) == 0)
    track = song.tracks[0]
    assert track.is_drum and track.program == 0 and len(track) == len(notes)
    got = np.sort(song.seconds_at(track.start))
    assert np.abs(got - np.sort(notes.onset_s)).max() < 0.001


def test_unhumanised_notes_sit_on_their_grid_ticks():
    """Ticks = grid position + humanisation offset; with no humanisation only FluidSynth's block
    rounding (<= 0.73 ms at 44.1 kHz, <= 2 ticks here) separates a note from its grid tick."""
    from stemgen.arranger.synthesis import to_block_grid

    g = BeatGrid.from_times(BEATS)
    tm = build_tempo_map(g)
    notes = place_notes(_drum_part(30), g, is_drums=True, humanization=Humanization.off(), seed=0)
    notes = notes.select(notes.start_step >= 4 * tm.anchor)  # beats before the anchor are in the lead-in
    rendered = to_block_grid(notes.onset_s, 44100) / 44100
    ticks = tm.ticks_at(rendered)
    grid_ticks = tm.tick_of_beat(0) + notes.start_step * tm.tpq // 4
    assert np.abs(ticks - grid_ticks).max() <= 2
    humanised = place_notes(_drum_part(30), g, is_drums=True, humanization=Humanization(), seed=0)
    humanised = humanised.select(humanised.start_step >= 4 * tm.anchor)
    offsets = tm.ticks_at(to_block_grid(humanised.onset_s, 44100) / 44100) - grid_ticks
    assert np.abs(offsets).max() > 2  # the jitter shows up as tick offsets


def test_notes_in_a_long_intro_keep_millisecond_timing(tmp_path):
    """A first beat 40 s in (a long intro the tracker found no beat in): the lead-in runs at about
    the song's tempo, and the intro's notes (negative steps) still read back within 1 ms."""
    beats = BEATS - BEATS[0] + 40.0
    g = BeatGrid.from_times(beats)
    tm = build_tempo_map(g)
    assert tm.anchor == 0 and 60e6 / tm.us_per_quarter[0] == pytest.approx(60 / g.period_before, rel=0.02)
    notes = place_notes([(s, s + 1, 42, 80) for s in range(-150, 40, 3)], g, is_drums=True,
                        humanization=Humanization(), seed=0)
    data = part_midi(notes.onset_s, notes.offset_s, notes.pitch, notes.velocity, tm, default_sound("drums"))
    song = _read_back(tmp_path, data)
    got = np.sort(song.seconds_at(song.tracks[0].start))
    assert np.abs(got - np.sort(notes.onset_s)).max() < 0.001


def test_slow_lead_in_beats_get_finer_ticks():
    g = BeatGrid.from_times(BEATS - BEATS[0] + 0.05)  # anchor at beat 2, one ~1.1 s lead-in beat
    tm = build_tempo_map(g, first_downbeat=1)
    assert tm.anchor == 2 and tm.lead_beats == 1
    assert tm.us_per_quarter[0] * 1e-6 / tm.tpq <= 0.001  # a tick of at most 1 ms: half a tick <= 0.5 ms


def test_a_compound_song_gets_its_time_signature_over_quarter_note_beats(tmp_path):
    """A bar of 3 quarter-note beats written as 6/8 (a metronome click each dotted quarter: 36 MIDI
    clocks); the beats, bar lines and notes stay where the 3/4 file has them; a signature that
    does not fill the bar is refused."""
    from stemgen.midifile.meter import Meter

    g = BeatGrid.from_times(BEATS)
    tm = build_tempo_map(g, meter=3)
    notes = place_notes(_drum_part(BEATS.size), g, is_drums=True, humanization=Humanization(), seed=0)
    args = (notes.onset_s, notes.offset_s, notes.pitch, notes.velocity, tm, default_sound("drums"), 3)
    six_eight, three_four = part_midi(*args, signature=Meter(6, 8)), part_midi(*args)
    assert b"\xff\x58\x04\x06\x03\x24\x08" in six_eight and b"\xff\x58\x04\x03\x02\x18\x08" in three_four
    assert six_eight.replace(b"\x06\x03\x24", b"\x03\x02\x18") == three_four
    assert _read_back(tmp_path, six_eight).time_signatures[0][1:] == (6, 8)
    with pytest.raises(ValueError, match="not 3 quarter"):
        part_midi(*args, signature=Meter(9, 8))
