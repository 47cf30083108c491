"""The user's grid corrections (--bpm, --meter, --downbeat, --beats): file formats, what each does to
the detected grid, one-line errors, and a given grid followed to the millisecond by the arranger's
part (its .mid and its rendered onsets)."""

from __future__ import annotations

import json

import mido
import numpy as np
import pytest
import soundfile as sf

from stemgen.analysis import analyze
from stemgen.analysis.overrides import GridCorrection, apply_correction, constant_grid, read_beats_file
from stemgen.midifile.io import load_midi
from stemgen.midifile.meter import parse_meter
from stemgen.errors import StemgenInputError

SR = 44100
# A grid the detector would not find on its own: 100 BPM speeding up to 120 BPM over the excerpt,
# phase unrelated to the song's (110 BPM, first beat 0.28 s).
GIVEN = np.cumsum(np.concatenate([[0.15], 60.0 / np.linspace(100.0, 120.0, 12)]))


@pytest.fixture(scope="module")
def context(musdb_song):
    """The real 80s-rock excerpt without its drums, stereo 44.1 kHz (6.8 s, 110 BPM)."""
    return np.ascontiguousarray(sum(sf.read(musdb_song / f"{k}.wav", always_2d=True, dtype="float32")[0].T
                                    for k in ("bass", "other", "vocals")))


@pytest.fixture(scope="module")
def detected(context):
    return analyze(context, SR)


def _write_tempo_map(path, beats, meter=4, den=4):
    """A tempo-map-only .mid (as a DAW exports one): one tempo event a beat through ``beats``."""
    tpq = 480
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("time_signature", numerator=meter, denominator=den, time=0))
    # Beat 0 of the file at 0 s: a lead-in beat of beats[0] seconds, then the given intervals.
    for period in np.append(np.diff(np.append(0.0, beats)), 0.5):
        track.append(mido.MetaMessage("set_tempo", tempo=int(round(period * 1e6)), time=0))
        track.append(mido.MetaMessage("marker", text="", time=tpq))
    f = mido.MidiFile(ticks_per_beat=tpq)
    f.tracks.append(track)
    f.save(path)


def test_text_label_and_midi_files_give_the_same_beats(tmp_path):
    plain = tmp_path / "beats.txt"
    plain.write_text("# exported beats\n" + "\n".join(f"{t:.6f}" for t in GIVEN) + "\n")
    audacity = tmp_path / "labels.txt"  # start, end, label; Audacity's spectral lines start with "\"
    audacity.write_text("".join(f"{t:.6f}\t{t:.6f}\tbeat\n\\\t0\t0\n" for t in GIVEN))
    sv = tmp_path / "sv.csv"  # Sonic Visualiser bar-and-beat export: time,beat-in-bar
    sv.write_text("".join(f"{t:.6f},{i % 4 + 1}\n" for i, t in enumerate(GIVEN)))
    mid = tmp_path / "tempo.mid"
    _write_tempo_map(mid, GIVEN)
    for path in (plain, audacity, sv):
        np.testing.assert_allclose(read_beats_file(path, 10.0).beat_times, GIVEN, atol=1e-6)
    assert read_beats_file(plain, 10.0).downbeat_times is None
    labelled = read_beats_file(sv, 10.0)
    np.testing.assert_allclose(labelled.downbeat_times, GIVEN[::4], atol=1e-6)
    assert labelled.meter == 4
    from_midi = read_beats_file(mid, GIVEN[-1] + 0.01)
    # Beat 0 is the lead-in at 0 s; the given beats follow to microsecond rounding.
    np.testing.assert_allclose(from_midi.beat_times[1:], GIVEN, atol=1e-5)
    np.testing.assert_allclose(from_midi.downbeat_times, from_midi.beat_times[::4], atol=1e-9)


def test_midi_in_compound_meter_has_dotted_quarter_beats(tmp_path):
    mid = tmp_path / "six_eight.mid"
    _write_tempo_map(mid, 0.5 * np.arange(1, 13), meter=6, den=8)  # quarters 0.5 s: dotted quarters 0.75 s
    got = read_beats_file(mid, 6.0)
    np.testing.assert_allclose(np.diff(got.beat_times), 0.75, atol=1e-5)
    assert got.meter == 2 and got.compound


def test_a_compound_meter_travels_with_the_corrected_analysis(tmp_path, detected):
    """A 6/8 beats file or ``--meter 6/8`` marks the analysis compound (the arranger's .mid is then
    written in 6/8); ``--meter 4/4`` over a 6/8 file, or a 3/4 file, does not."""
    six_eight, three_four = tmp_path / "six_eight.mid", tmp_path / "three_four.mid"
    _write_tempo_map(six_eight, 0.5 * np.arange(1, 13), meter=6, den=8)
    _write_tempo_map(three_four, 0.5 * np.arange(1, 13), meter=3)
    assert apply_correction(detected, GridCorrection(beats_file=six_eight)).compound
    assert apply_correction(detected, GridCorrection.from_options(meter="6/8")).compound
    assert not apply_correction(detected, GridCorrection.from_options(meter="4/4", beats_file=six_eight)).compound
    assert not apply_correction(detected, GridCorrection(beats_file=three_four)).compound
    assert not detected.compound


@pytest.mark.parametrize("text, words", [
    ("0.5\n1.0\nabc\n", "line 3: 'abc' is not a time"),
    ("0.5\n1.0\n0.9\n", "must increase"),
    ("0.5\n", "at least 2"),
    ("0.5\n500.0\n", "outside 20-400 beats a minute"),
    ("", "0 beat time"),
])
def test_bad_beat_files_get_one_line_errors(tmp_path, text, words):
    path = tmp_path / "beats.txt"
    path.write_text(text)
    with pytest.raises(StemgenInputError) as err:
        read_beats_file(path, 10.0)
    assert words in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)


def test_a_non_midi_mid_and_a_missing_file_are_refused(tmp_path):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"RIFF not midi")
    with pytest.raises(StemgenInputError, match="not a MIDI file"):
        read_beats_file(bad, 10.0)
    with pytest.raises(StemgenInputError, match="no such file"):
        read_beats_file(tmp_path / "missing.txt", 10.0)


@pytest.mark.parametrize("value, beats", [("4/4", 4), ("3/4", 3), ("6/8", 2), ("12/8", 4), ("7/8", 7), ("5", 5)])
def test_meters(value, beats):
    assert parse_meter(value).beats_per_bar == beats


@pytest.mark.parametrize("options, option", [({"meter": "4/5"}, "--meter"), ({"meter": "x"}, "--meter"),
                                             ({"bpm": 5}, "--bpm"), ({"downbeat_s": -1.0}, "--downbeat")])
def test_bad_options_name_themselves(options, option):
    with pytest.raises(StemgenInputError, match=option):
        GridCorrection.from_options(**options)


def test_halving_and_doubling_keep_the_detected_beats(detected):
    assert detected.tempo_bpm == pytest.approx(110.0, rel=0.03)  # the excerpt's tempo
    double = apply_correction(detected, GridCorrection(bpm=220.0))
    assert double.tempo_bpm == pytest.approx(220.0, rel=0.03)
    assert np.all(np.isin(np.round(detected.beat_times, 6), np.round(double.beat_times, 6)))
    half = apply_correction(detected, GridCorrection(bpm=55.0, downbeat_s=float(detected.beat_times[1])))
    assert half.tempo_bpm == pytest.approx(55.0, rel=1e-6)
    assert np.min(np.abs(half.beat_times - detected.beat_times[1])) < 1e-6  # the grid goes through the downbeat
    same = apply_correction(detected, GridCorrection(bpm=112.0))  # within 8 %: the detected beats are kept
    np.testing.assert_array_equal(same.beat_times, detected.beat_times)


def test_bpm_with_downbeat_is_a_fixed_grid_and_downbeat_moves_the_bars(detected):
    a = apply_correction(detected, GridCorrection(bpm=100.0, downbeat_s=1.0, meter=3))
    np.testing.assert_allclose(a.beat_times, constant_grid(100.0, 1.0, detected.duration_s))
    assert a.beat_times[0] == pytest.approx(0.4) and a.meter == 3 and a.beat_confidence == 1.0
    np.testing.assert_allclose(a.downbeat_times[:2], [1.0, 2.8])
    assert len(a.chords) == a.beat_times.size
    # A downbeat on the "&" of the detected beats moves the whole grid by half a beat.
    amp = float(detected.beat_times[2] + detected.beat_times[3]) / 2
    moved = apply_correction(detected, GridCorrection(downbeat_s=amp))
    assert np.min(np.abs(moved.beat_times - amp)) < 0.02
    assert np.min(np.abs(moved.downbeat_times - amp)) < 0.02
    waltz = apply_correction(detected, GridCorrection(meter=3))
    np.testing.assert_array_equal(waltz.beat_times, detected.beat_times)
    assert waltz.meter == 3 and set(np.diff(np.searchsorted(waltz.beat_times, waltz.downbeat_times))) == {3}


@pytest.fixture(scope="module")
def followed(context, tmp_path_factory, one_torch_thread):
    from stemgen.arranger import write_outputs
    from stemgen.arranger.engine import Arranger
    from stemgen.arranger.humanize import Humanization

    folder = tmp_path_factory.mktemp("given")
    beats = folder / "beats.txt"
    beats.write_text("".join(f"{t:.6f}\t{t:.6f}\t{i % 4 + 1}\n" for i, t in enumerate(GIVEN)))
    part = Arranger("drums")(context, SR, "Add a rock beat", seed=1, source="rock.wav",
                             correction=GridCorrection(beats_file=beats), humanization=Humanization.off())
    return part, write_outputs(part.part, folder, "rock")


def test_the_arranger_writes_a_six_eight_song_in_six_eight(context, tmp_path, one_torch_thread):
    """--meter 6/8 through the arranger: the part is written on quarter notes (3 a bar, as the band
    MIDI files the models learned from hold 6/8), so every note of a quantised take falls on a 16th
    of the dotted-quarter beats (6 a beat: the eighths on every other one), where 4 steps a dotted
    quarter would put notes between the eighths; the .mid says 6/8 and its bars are the song's."""
    from stemgen.analysis.beat_grid import subdivide
    from stemgen.analysis.overrides import quarter_note_view
    from stemgen.arranger.engine import Arranger
    from stemgen.arranger.humanize import Humanization

    arranger = Arranger("drums")
    analysis = apply_correction(analyze(context, SR), GridCorrection.from_options(meter="6/8"))
    view, signature = quarter_note_view(analysis)
    assert signature.label == "6/8" and view.meter == 3 and not view.compound
    np.testing.assert_allclose(view.beat_times[::3][:4], analysis.downbeat_times[:4], atol=1e-9)
    part = arranger(context, SR, "Add a rock beat", seed=1, analysis=analysis, humanization=Humanization.off())
    assert part.step_analysis is not part.analysis and part.analysis.compound
    sixteenths = subdivide(analysis.beat_times, 6)
    onsets = part.part.notes.onset_s
    onsets = onsets[(onsets >= analysis.beat_times[0]) & (onsets <= analysis.beat_times[-1])]
    assert onsets.size > 20
    # A quarter that straddles a dotted beat is cut evenly: where the tempo moves between the two
    # beats its middle 16th is off by a sixth of the change (4 ms here); 4 steps a dotted quarter
    # would put notes half a 16th (~45 ms) off.
    sixteenth = float(np.median(np.diff(analysis.beat_times))) / 6
    assert np.abs(onsets[:, None] - sixteenths[None, :]).min(axis=1).max() < 0.1 * sixteenth
    mid = tmp_path / "part.mid"
    mid.write_bytes(part.part.midi())
    assert load_midi(mid).time_signatures[0][1:] == (6, 8)
    back = read_beats_file(mid, analysis.duration_s)
    assert back.compound and back.meter == 2
    lead = part.part.info["midi"]["first_beat_on_grid"]  # quarters before it are the lead-in's
    db = analysis.downbeat_times[analysis.downbeat_times >= view.beat_times[lead] - 1e-6]
    assert np.abs(back.downbeat_times[:, None] - db[None, :]).min(axis=0).max() < 1e-4


def _sixteenths(beats: np.ndarray) -> np.ndarray:
    """16th positions of ``beats``, extended by one beat either side at the edge periods."""
    ext = np.concatenate([[beats[0] - (beats[1] - beats[0])], beats, [beats[-1] + (beats[-1] - beats[-2])]])
    return np.append((ext[:-1, None] + np.diff(ext)[:, None] * np.arange(4)[None, :] / 4).ravel(), ext[-1])


def assert_follows(arrangement, midi_path, given: np.ndarray) -> None:
    """The part's rendered onsets and its .mid's notes lie within 1 ms of ``given``'s 16ths."""
    grid = _sixteenths(given)
    inside = (arrangement.part.note_times >= given[0]) & (arrangement.part.note_times <= given[-1])
    rendered = arrangement.part.note_times[inside]
    assert rendered.size > 16
    assert np.abs(rendered[:, None] - grid[None, :]).min(axis=1).max() < 1e-3  # the render's 64-sample blocks
    assert_midi_follows(midi_path, given)


FEEL_S = 0.035  # the default humanization's reach (the drummers' feel around the grid; 21 ms seen)


def assert_midi_follows(midi_path, given: np.ndarray, notes_within: float = 1e-3) -> None:
    """The .mid's tempo map puts its beats within 1 ms of ``given`` (a DAW shows the user's grid; the
    first beat may fall in the file's lead-in) and its note starts lie within ``notes_within`` of
    ``given``'s 16ths (1 ms without humanization)."""
    from stemgen.midifile.io import load_midi

    grid = _sixteenths(given)
    song = load_midi(midi_path)
    tick_beats = song.seconds_at(np.arange(0, song.end_tick + 4 * song.tpq, song.tpq))
    assert np.abs(given[1:, None] - tick_beats[None, :]).min(axis=1).max() < 1e-3
    starts = np.sort(np.concatenate([song.seconds_at(t.start) for t in song.tracks if len(t)]))
    starts = starts[(starts >= given[0]) & (starts <= given[-1])]
    assert starts.size > 16 and np.abs(starts[:, None] - grid[None, :]).min(axis=1).max() < notes_within


def test_a_given_grid_is_followed_within_a_millisecond(followed, detected):
    from stemgen.midifile.io import load_midi

    arrangement, files = followed
    np.testing.assert_allclose(arrangement.analysis.beat_times, GIVEN, atol=1e-6)  # the file's 6 decimals
    np.testing.assert_allclose(arrangement.analysis.downbeat_times, GIVEN[::4], atol=1e-6)
    assert_follows(arrangement, files["midi"], GIVEN)
    # The given grid is not the detected one (which would have passed the checks above by itself).
    assert np.abs(GIVEN[:, None] - detected.beat_times[None, :]).min(axis=1).max() > 0.05


def test_cli_corrections_and_their_errors(tmp_path, musdb_song):
    from typer.testing import CliRunner

    from stemgen.cli.main import app

    song = str(musdb_song / "mixture.wav")
    res = CliRunner().invoke(app, ["analyze", song, "--bpm", "55", "--meter", "3/4", "--json"])
    assert res.exit_code == 0, res.output
    row = json.loads(res.stdout.strip().splitlines()[-1])["files"][0]
    assert row["tempo_bpm"] == pytest.approx(55.0, rel=0.03) and row["meter"] == 3
    assert row["correction"] == {"bpm": 55.0, "meter": 3}
    bad = tmp_path / "beats.txt"
    bad.write_text("0.5\nnope\n")
    res = CliRunner().invoke(app, ["generate", song, "--stem", "drums", "--engine", "arranger", "--beats", str(bad),
                                   "--out", str(tmp_path / "out")])
    assert res.exit_code == 1
    err = [line for line in res.stderr.splitlines() if line]
    assert len(err) == 1 and "line 2: 'nope' is not a time" in err[0] and str(bad) in err[0]
    assert not (tmp_path / "out" / "mixture_drums.wav").exists()
    res = CliRunner().invoke(app, ["analyze", song, "--meter", "4/5"])
    assert res.exit_code == 2 and "--meter" in res.stderr


def test_a_songs_own_midi_gives_its_true_beats(band_midi_dir):
    """A band song's .mid (notes and all, several tempo events) as --beats: the beats and bar lines
    of its tempo map, as the validation's ground truth computes them."""
    from stemgen.evaluation.ground_truth import midi_truth
    from stemgen.midifile.io import load_midi

    path = band_midi_dir / "Children-Songs_f5ef831910.mid"  # 19 tempo events, 75-79 BPM
    truth = midi_truth(load_midi(path), 0.0, 30.0)
    got = read_beats_file(path, 30.0)
    inside = got.beat_times[(got.beat_times >= truth.beat_times[0]) & (got.beat_times < truth.end_s)]
    np.testing.assert_allclose(inside, truth.beat_times, atol=1e-9)
    assert set(np.round(truth.downbeat_times, 6)) <= set(np.round(got.downbeat_times, 6)) and got.meter == 4


# ---------------------------------------------------------------- compound meters, halving, refusals
def _eighths(beats: np.ndarray) -> np.ndarray:
    """Each beat cut in three: the eighth-note level a tracker may lock onto in 6/8."""
    period = np.diff(beats)
    return np.sort(np.concatenate([beats, beats[:-1] + period / 3, beats[:-1] + 2 * period / 3]))


def test_six_eight_on_a_detected_eighth_note_grid_keeps_every_third_beat(detected):
    """--meter 6/8 when the detector found the eighths (3 x 110 = 330 BPM): the dotted-quarter beats
    are every third eighth, the third the song's accents fall on (its real beats), 2 a bar."""
    import dataclasses

    eighths = dataclasses.replace(detected, beat_times=_eighths(detected.beat_times))
    got = apply_correction(eighths, GridCorrection.from_options(meter="6/8"))
    assert got.meter == 2 and got.tempo_bpm == pytest.approx(detected.tempo_bpm, rel=0.02)
    assert np.abs(got.beat_times[:, None] - detected.beat_times[None, :]).min(axis=1).max() < 1e-9
    assert set(np.diff(np.searchsorted(got.beat_times, got.downbeat_times))) == {2}
    # With a downbeat, the third through it.
    moved = apply_correction(eighths, GridCorrection.from_options(meter="6/8", downbeat_s=float(eighths.beat_times[4])))
    assert np.min(np.abs(moved.beat_times - eighths.beat_times[4])) < 1e-9
    assert np.min(np.abs(moved.downbeat_times - eighths.beat_times[4])) < 1e-9


def test_six_eight_on_a_detected_dotted_quarter_grid_keeps_the_beats(detected):
    got = apply_correction(detected, GridCorrection.from_options(meter="6/8"))  # 110 BPM: a dotted quarter's tempo
    np.testing.assert_array_equal(got.beat_times, detected.beat_times)
    assert got.meter == 2 and set(np.diff(np.searchsorted(got.beat_times, got.downbeat_times))) == {2}
    nine = apply_correction(detected, GridCorrection.from_options(meter="9/8"))
    assert nine.meter == 3


@pytest.mark.parametrize("value", ["6/7", "6/8x", "0/4", "51/8", "3/4/4", ""])
def test_a_bad_meter_is_one_line_naming_the_option(value):
    with pytest.raises(StemgenInputError) as err:
        GridCorrection.from_options(meter=value)
    assert str(err.value).startswith("--meter") and repr(value) in str(err.value) and "\n" not in str(err.value)


def test_the_meter_label_and_parse_agree():
    from stemgen.midifile.meter import Meter, meter_label

    for text in ("4/4", "3/4", "6/8", "12/8"):
        m = parse_meter(text)
        assert meter_label(m.beats_per_bar, m.compound) == text
    assert Meter(6, 8).beat_quarters == 1.5 and Meter(7, 8).beats_per_bar == 7 and Meter(3, 8).beats_per_bar == 3


def test_halving_by_bpm_takes_the_half_grid_decisions_score_higher(detected, monkeypatch):
    """--bpm at half the detected tempo keeps the half of the beats that ``grid_decisions`` (the
    detection's own evidence and weights) scores as the beat; the other half is its "&"."""
    from stemgen.analysis import grid_decisions

    half = apply_correction(detected, GridCorrection(bpm=55.0))
    assert half.tempo_bpm == pytest.approx(55.0, rel=0.03)
    feats = grid_decisions.GridFeatures(detected)
    scores = [grid_decisions.grid_evidence(feats, detected.beat_times[p::2], False) @ grid_decisions.GRID_WEIGHTS
              for p in (0, 1)]
    np.testing.assert_array_equal(half.beat_times, detected.beat_times[int(np.argmax(scores))::2])
    # The decision is grid_decisions': turn its evidence around and the other half wins.
    real = grid_decisions.grid_evidence
    monkeypatch.setattr(grid_decisions, "grid_evidence", lambda f, b, *a, **k: -real(f, b, *a, **k))
    other = apply_correction(detected, GridCorrection(bpm=55.0))
    np.testing.assert_array_equal(other.beat_times, detected.beat_times[int(np.argmin(scores))::2])


@pytest.fixture(scope="module")
def noise():
    """White noise: no beat at all (detection is refused)."""
    return np.random.default_rng(3).uniform(-0.3, 0.3, (2, 8 * SR)).astype(np.float32)


def test_a_grid_the_user_gave_is_never_refused(noise, tmp_path):
    from stemgen.analysis import refusal_reason
    from stemgen.analysis.reliability import BeatTrackingError, require_usable

    detected_noise = analyze(noise, SR)
    assert refusal_reason(detected_noise) is not None
    with pytest.raises(BeatTrackingError):
        require_usable(detected_noise, noise, SR, "noise.wav")
    beats = tmp_path / "beats.txt"
    beats.write_text("\n".join(f"{t:.6f}" for t in GIVEN))
    for correction in (GridCorrection(bpm=100.0, downbeat_s=0.5), GridCorrection(beats_file=beats)):
        given = apply_correction(detected_noise, correction)
        assert given.user_grid and refusal_reason(given) is None
        require_usable(given, noise, SR, "noise.wav")  # no beat and no notes changing: still the user's grid
    # A partial correction (tempo only) is still detection: refused as before.
    assert refusal_reason(apply_correction(detected_noise, GridCorrection(bpm=100.0))) is not None


def test_the_api_follows_a_given_grid_and_reuses_one_analysis(context, tmp_path, monkeypatch, one_torch_thread):
    """Through ``stemgen.api``: a beats file's grid followed within 1 ms; the song analysed once for
    two takes (``analyse_song`` then ``add(analysis=)``), and a new correction analysed again."""
    import stemgen.analysis
    from stemgen import api

    calls = []
    real = stemgen.analysis.analyze
    monkeypatch.setattr(stemgen.analysis, "analyze", lambda *a, **k: calls.append(1) or real(*a, **k))
    beats = tmp_path / "beats.txt"
    beats.write_text("".join(f"{t:.6f}\n" for t in GIVEN))
    inserter = api.load_inserter("drums", "arranger")
    analysis = api.analyse_song(context, SR, GridCorrection(beats_file=beats))
    takes = [inserter.add(context, SR, "Add a rock beat", seed=s, analysis=analysis) for s in (1, 2)]
    assert len(calls) == 1
    for k, take in enumerate(takes):
        files = take.write(tmp_path / f"take{k}", "rock")
        np.testing.assert_allclose(take.details.analysis.beat_times, GIVEN, atol=1e-6)
        assert_midi_follows(files["midi"], GIVEN, FEEL_S)  # the API humanizes: the drummers' feel around it
    quantized = inserter.add(context, SR, "Add a rock beat", seed=1, analysis=analysis, quantize=True)
    assert_follows(quantized.details, quantized.write(tmp_path / "quantized", "rock")["midi"], GIVEN)  # exactly
    assert len(calls) == 1
    inserter.add(context, SR, "Add a rock beat", seed=1, correction=GridCorrection(bpm=100.0, downbeat_s=0.5))
    assert len(calls) == 2


def test_an_excerpt_opens_without_the_entry_crash(context):
    """``add(excerpt=True)``: audio cut from inside a song gets the same take without the crash the
    drums' entry plays at a song's start (``stemgen eval``'s windows from inside songs are arranged
    so); every later crash stays."""
    from stemgen import api
    from stemgen.midi.drum_form import CRASH
    from stemgen.midifile.lanes import DRUM_CLASS_OF_PITCH

    inserter = api.load_inserter("drums", "arranger")
    analysis = api.analyse_song(context, SR)

    def crashes(result):
        notes = np.asarray(result.details.notes)
        return set(notes[DRUM_CLASS_OF_PITCH[notes[:, 2]] == CRASH, 0].tolist())

    song = crashes(inserter.add(context, SR, "Add a rock beat", seed=1, analysis=analysis))
    cut = crashes(inserter.add(context, SR, "Add a rock beat", seed=1, analysis=analysis, excerpt=True))
    bar_steps = 4 * analysis.meter
    assert cut < song and len(song - cut) == 1 and min(song - cut) < 2 * bar_steps, (sorted(song), sorted(cut))


def test_the_pages_excerpt_box_reaches_the_arranger(context, tmp_path):
    """The page's "Excerpt" box (``insert_audio_stem(excerpt=True)``, last of the API's parameters):
    the same take's .mid loses the opening crash and keeps every later one; the details say so."""
    from stemgen.audio.io import write_audio
    from stemgen.midi.drum_form import CRASH
    from stemgen.midifile.io import load_midi
    from stemgen.midifile.lanes import DRUM_CLASS_OF_PITCH
    from stemgen.ui.handlers import Handlers
    from stemgen.ui.settings import UISettings

    song = write_audio(tmp_path / "uploads" / "abc" / "song.wav", context, SR)
    h = Handlers(UISettings(work_dir=tmp_path / "work", models_dir=tmp_path / "none"), upload_root=tmp_path / "uploads")

    def crash_times(excerpt: bool) -> tuple[set, dict]:
        out = h.insert_audio_stem(str(song), "drums", "Add a rock beat", seed=1, engine="arranger", sound="auto",
                                  excerpt=excerpt, progress=lambda *a, **k: None)
        midi = load_midi(next(p for p in out[4] if p.endswith(".mid")))
        notes = [t for t in midi.tracks if t.is_drum][0]
        is_crash = DRUM_CLASS_OF_PITCH[notes.pitch] == CRASH
        return set(np.round(midi.seconds_at(notes.start[is_crash]), 3).tolist()), out[5]

    song_crashes, details = crash_times(False)
    cut_crashes, cut_details = crash_times(True)
    assert details["excerpt"] is False and cut_details["excerpt"] is True
    assert cut_crashes < song_crashes and min(song_crashes - cut_crashes) < 2 * 60 / details["tempo_bpm"] * 4


def test_the_page_follows_a_typed_grid_on_noise_and_analyses_once_per_correction(noise, tmp_path, monkeypatch):
    """The page's handler: BPM + downbeat typed over noise (no beat of its own) is not refused and the
    part lies within 1 ms of that grid; another take of the same song and grid does not analyse the
    song again, a changed grid does."""
    import stemgen.analysis
    from stemgen.audio.io import write_audio
    from stemgen.ui.handlers import Handlers
    from stemgen.ui.settings import UISettings

    calls = []
    real = stemgen.analysis.analyze
    monkeypatch.setattr(stemgen.analysis, "analyze", lambda *a, **k: calls.append(1) or real(*a, **k))
    song = write_audio(tmp_path / "uploads" / "abc" / "noise.wav", noise, SR)
    h = Handlers(UISettings(work_dir=tmp_path / "work", models_dir=tmp_path / "none"), upload_root=tmp_path / "uploads")

    def take(number, downbeat):
        return h.insert_audio_stem(str(song), "drums", "Add rock drums", seed=1, engine="arranger", sound="auto",
                                   bpm=100.0, meter="4/4", downbeat=downbeat, take=number,
                                   progress=lambda *a, **k: None)

    out = take(1, 0.5)
    assert out[5]["grid"] == "user bpm + downbeat" and len(calls) == 1
    assert_midi_follows(out[4][2], constant_grid(100.0, 0.5, noise.shape[1] / SR), FEEL_S)
    take(2, 0.5)
    assert len(calls) == 1  # the second take reused the analysis
    take(3, 0.7)
    assert len(calls) == 2  # a new downbeat: analysed again
    out = h.insert_audio_stem(str(song), "drums", "Add rock drums", seed=1, engine="arranger", sound="auto",
                              bpm=100.0, meter="4/4", downbeat=0.7, take=4, quantize=True,
                              progress=lambda *a, **k: None)
    assert out[5]["quantize"] is True and len(calls) == 2
    assert_midi_follows(out[4][2], constant_grid(100.0, 0.7, noise.shape[1] / SR))  # quantized: within 1 ms


def test_cli_generate_follows_a_typed_grid_over_noise(noise, tmp_path):
    """``stemgen generate --bpm --downbeat`` over audio with no beat: the user's grid, not a refusal."""
    from typer.testing import CliRunner

    from stemgen.audio.io import write_audio
    from stemgen.cli.main import app

    song = write_audio(tmp_path / "noise.wav", noise, SR)
    res = CliRunner().invoke(app, ["generate", str(song), "--stem", "drums", "--engine", "arranger", "--bpm", "100",
                                   "--downbeat", "0.5", "--quantize", "--out", str(tmp_path / "out"), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["quantize"] is True
    # --quantize: the notes exactly on the typed grid (1 ms), no feel around it
    assert_midi_follows(tmp_path / "out" / "noise_drums.mid", constant_grid(100.0, 0.5, noise.shape[1] / SR))
    res = CliRunner().invoke(app, ["generate", str(song), "--stem", "drums", "--engine", "arranger",
                                   "--out", str(tmp_path / "refused")])
    assert res.exit_code != 0 and str(song) in res.stderr  # without the grid: refused, naming the file
    assert any(w in res.stderr for w in ("no reliable beat", "no steady pulse", "tempo", "drone")), res.stderr


def test_the_page_reads_six_eight_as_two_dotted_quarter_beats(detected):
    """The page's meter field goes through the one meter reader: 6/8 is 2 beats a bar, shown as 6/8,
    and "bar start one beat earlier" wraps by a bar of 2 beats."""
    from stemgen.ui import arranger_engine, song_panel

    correction = arranger_engine.grid_correction(0, "6/8", 0)
    assert correction.meter == 2 and correction.compound and correction.to_dict() == {"meter": 2, "compound": True}
    facts = song_panel.summary(apply_correction(detected, correction), correction)
    assert facts["meter"] == "6/8" and facts["corrected"]
    assert arranger_engine.previous_downbeat(0.2, 60.0, {"meter": "6/8"}) == pytest.approx(1.2)  # 0.2 - 1 + 2 beats
    with pytest.raises(StemgenInputError, match="--meter"):
        arranger_engine.grid_correction(0, "6/7", 0)


def test_the_pages_beat_finder_reaches_the_analysis(context, tmp_path):
    """The page's "Beat finder" (``insert_audio_stem(beat_tracker=)``, last of the API's parameters):
    the take's grid comes from the chosen tracker (the details name it); blank is the default; an
    unknown name is one line naming the control."""
    import gradio as gr

    from stemgen.audio.io import write_audio
    from stemgen.ui.handlers import Handlers
    from stemgen.ui.settings import UISettings

    song = write_audio(tmp_path / "uploads" / "abc" / "song.wav", context, SR)
    h = Handlers(UISettings(work_dir=tmp_path / "work", models_dir=tmp_path / "none"), upload_root=tmp_path / "uploads")

    def take(tracker):
        return h.insert_audio_stem(str(song), "drums", "Add a rock beat", seed=1, engine="arranger", sound="auto",
                                   beat_tracker=tracker, progress=lambda *a, **k: None)[5]

    dsp, default = take("dsp"), take(None)
    assert dsp["grid"] == "numpy" and dsp["beat_tracker"] == "dsp"
    assert default["grid"] == default["beat_tracker"] == "learned-cc"  # the default (issue 18, seventh round)
    with pytest.raises(gr.Error, match="beat finder must be one of learned-cc, dsp, learned, not 'beatnet'"):
        take("beatnet")
