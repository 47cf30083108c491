"""The arranger engine end to end on a real multitrack: analysis of the context, the bundled part
model, the SoundFont render, and the .mid whose tempo map follows the detected beats."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from stemgen.analysis import BeatTrackingError
from stemgen.arranger import write_outputs
from stemgen.arranger.engine import Arranger
from stemgen.midifile.io import load_midi

SR = 44100


@pytest.fixture(scope="module")
def rock_without_drums(musdb_song):
    """The real 80s-rock excerpt without its drums (bass + other + vocals), stereo 44.1 kHz."""
    return np.ascontiguousarray(sum(sf.read(musdb_song / f"{k}.wav", always_2d=True, dtype="float32")[0].T
                                    for k in ("bass", "other", "vocals")))


@pytest.fixture(scope="module")
def drums(rock_without_drums, one_torch_thread):
    return Arranger("drums")(rock_without_drums, SR, "Add a driving rock beat", seed=3, source="rock.wav")


def test_stem_and_mix_have_the_input_shape_and_the_input_is_kept(rock_without_drums, drums):
    ctx = rock_without_drums
    assert drums.stem_audio.shape == drums.mix_audio.shape == ctx.shape
    assert np.abs(drums.stem_audio).max() > 0.01  # a real, audible part
    same = np.all(drums.mix_audio == ctx + drums.stem_audio, axis=0)
    assert same.mean() > 0.95  # input + stem except where the limiter caught a peak
    assert drums.summary()["engine"] == "arranger" and drums.summary()["notes"] == len(drums.notes) > 8


def test_drum_hits_sit_on_the_detected_beats(drums):
    """Every generated hit lies on a 16th of the detected grid, played with the Groove MIDI drummers'
    timing (their push and drag and half their spread: about a tenth of a 16th, never half of one;
    ``stemgen.midi.feel``)."""
    from stemgen.analysis.features import step_times

    bounds = step_times(drums.analysis)
    onsets = drums.part.note_times
    nearest = np.abs(onsets[:, None] - bounds[None, :]).min(axis=1)
    assert np.median(nearest) < 0.025 and nearest.max() < 0.5 * np.diff(bounds).min()


def test_midi_part_lines_up_with_the_rendered_stem(tmp_path, drums):
    """The .mid read back through its own tempo map gives the rendered onsets to the millisecond, so
    dropped into a DAW beside the song it lines up."""
    files = write_outputs(drums.part, tmp_path, "rock")
    assert {p.name for p in files.values()} == {"rock_drums.wav", "rock_mix.wav", "rock_drums.mid"}
    song = load_midi(files["midi"])
    starts = np.sort(np.concatenate([song.seconds_at(t.start) for t in song.tracks if len(t)]))
    rendered = np.sort(drums.part.note_times)
    assert starts.size == rendered.size
    np.testing.assert_allclose(starts, rendered, atol=1e-3)
    stem, sr = sf.read(files["stem"], always_2d=True)
    assert sr == SR and stem.shape[0] == drums.stem_audio.shape[1]


@pytest.mark.parametrize("model", [None, "midi"])
def test_bass_follows_the_song(rock_without_drums, musdb_song, one_torch_thread, model):
    """A bass part for the song without its bass: notes in the bass register, on the grid. "midi": the
    MIDI engine's model on the audio context (it reads all 106 channels, the pitch group included)."""
    from stemgen.midi.generate import DEFAULT_MODEL_DIR

    ctx = np.ascontiguousarray(sum(sf.read(musdb_song / f"{k}.wav", always_2d=True, dtype="float32")[0].T
                                   for k in ("drums", "other", "vocals")))
    arranger = Arranger("bass", DEFAULT_MODEL_DIR / "band-bass" if model else None)
    assert arranger.generator.model.config.context_channels == (106 if model else 34)
    bass = arranger(ctx, SR, "Add a fingered bass line", source="rock.wav")
    pitches = np.array([p for _, _, p, _ in bass.notes])
    assert pitches.size >= 4 and 24 <= pitches.min() and pitches.max() <= 67
    assert bass.part.info["sound"]["name"] == "fingered"


@pytest.mark.parametrize("kind", ["silence", "white noise"])
def test_no_reliable_beat_is_refused_with_a_reason(kind, one_torch_thread):
    rng = np.random.default_rng(0)
    audio = np.zeros((1, SR * 8), np.float32) if kind == "silence" else \
        (0.3 * rng.standard_normal((1, SR * 8))).astype(np.float32)
    with pytest.raises(BeatTrackingError) as err:
        Arranger("drums")(audio, SR, source=f"{kind}.wav")
    assert f"{kind}.wav" in str(err.value)


def test_unknown_sound_fails_before_any_work():
    from stemgen.errors import StemgenInputError

    with pytest.raises(StemgenInputError, match="kazoo"):
        Arranger("drums", sound="kazoo")


def test_cli_arranger_writes_stem_mix_and_midi(tmp_path, musdb_song):
    """``stemgen generate`` with the default engine (the arranger for drums) on a real song; ``--midi-tempo
    constant`` writes a .mid with one tempo, the BPM the summary reports."""
    import json

    from typer.testing import CliRunner

    from stemgen.cli.main import app

    src = tmp_path / "rock.wav"
    ctx = sum(sf.read(musdb_song / f"{k}.wav", always_2d=True, dtype="float32")[0] for k in ("bass", "other", "vocals"))
    sf.write(src, ctx, SR)
    res = CliRunner().invoke(app, ["generate", str(src), "--stem", "drums", "--engine", "arranger", "--sound", "tr808",
                                   "--midi-tempo", "constant", "--out", str(tmp_path / "out"), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["engine"] == "arranger" and summary["sound"].lower().startswith("tr-808")
    tempos = load_midi(summary["midi"]).tempos
    assert summary["midi_tempo"] == "constant" and len(tempos) == 1
    assert tempos[0][1] == pytest.approx(summary["midi_bpm"], abs=1e-3)
    for key in ("stem", "mix", "midi"):
        assert (tmp_path / "out" / f"rock_{ {'stem': 'drums.wav', 'mix': 'mix.wav', 'midi': 'drums.mid'}[key]}").is_file()
    t = summary["timings"]
    assert summary["notes"] > 8
    assert t["total_s"] >= t["model_load_s"] + t["analysis_s"] + t["part_model_s"] + t["render_s"] - 0.01
    assert t["realtime_factor"] == round(t["audio_s"] / t["total_s"], 2)
    mix, sr = sf.read(summary["mix"], always_2d=True)
    assert sr == SR and mix.shape == ctx.shape


def test_level_puts_the_stem_that_many_lu_against_the_song(tmp_path, musdb_song):
    """``--level`` (the API's ``level_db``): the written stem sits the chosen LU against the song,
    measured with BS.1770 on the files; out-of-range levels and the diffusion engine are refused."""
    import json

    from typer.testing import CliRunner

    from stemgen.arranger.loudness import LEVEL_DB_RANGE, loudness_lufs
    from stemgen.cli.main import app
    from stemgen.cli.options import RULES

    assert (RULES["level"].lo, RULES["level"].hi) == LEVEL_DB_RANGE  # the CLI checks what the API checks
    src = tmp_path / "rock.wav"
    ctx = sum(sf.read(musdb_song / f"{k}.wav", always_2d=True, dtype="float32")[0] for k in ("bass", "other", "vocals"))
    sf.write(src, ctx, SR)
    levels = {}
    for level, takes in ((-20.0, 2), (-9.0, 1)):
        out = tmp_path / f"out{level:g}"
        res = CliRunner().invoke(app, ["generate", str(src), "--stem", "drums", "--engine", "arranger",
                                       "--level", str(level), "--takes", str(takes), "--out", str(out), "--json"])
        assert res.exit_code == 0, res.output
        summary = json.loads(res.stdout.strip().splitlines()[-1])
        suffixes = [f"_take{k}" for k in range(1, takes + 1)] if takes > 1 else [""]  # stemgen.output_names
        assert sorted(p.name for p in out.iterdir()) == sorted(
            f"rock_{kind}{take}.{ext}" for take in suffixes for kind, ext in (("drums", "wav"), ("mix", "wav"),
                                                                              ("drums", "mid")))
        assert summary["render"]["loudness"]["level_db"] == level
        stem, _ = sf.read(summary["stem"], always_2d=True)
        levels[level] = loudness_lufs(stem.T, SR) - loudness_lufs(ctx.T, SR)
    assert levels[-20.0] == pytest.approx(-20.0, abs=1.0)
    assert levels[-9.0] - levels[-20.0] == pytest.approx(11.0, abs=1.5)  # the limiter may trim the loud one
    for args, reason in ((["--level", "35"], "--level"), (["--level", "-6", "--engine", "diffusion"], "arranger"),
                         (["--midi-tempo", "constant", "--engine", "diffusion"], "--midi-tempo is for the arranger")):
        res = CliRunner().invoke(app, ["generate", str(src), "--out", str(tmp_path / "x"), *args])
        assert res.exit_code == 2 and reason in res.output, res.output
    with pytest.raises(ValueError, match="--level"):
        from stemgen import api

        api.load_inserter("drums", "arranger").add(ctx.T, SR, level_db=float("nan"))


def test_constant_tempo_midi_has_one_tempo_and_the_same_note_times(tmp_path, drums):
    """``midi_tempo="constant"``: one tempo event, the song's median beat period, and every note at the
    same time in seconds as in the tempo-map file. Each file places a note within half a tick
    (<= 0.5 ms) of its rendered onset, so the two agree within 1 ms."""
    import symusic

    from stemgen.analysis.features import step_beats

    mapped = load_midi(write_outputs(drums.part, tmp_path / "map", "rock")["midi"])
    path = write_outputs(drums.part, tmp_path / "one", "rock", midi_tempo="constant")["midi"]
    raw = symusic.Score(str(path))
    assert len(raw.tempos) == 1 and raw.tempos[0].time == 0
    beats, _ = step_beats(drums.analysis)  # the beats the notes were placed on
    assert raw.tempos[0].qpm == pytest.approx(60.0 / np.median(np.diff(beats)), rel=1e-5)
    assert drums.part.info["midi_constant_tempo"]["bpm"] == pytest.approx(raw.tempos[0].qpm, abs=1e-3)
    assert len(raw.tracks) == 1 and raw.tracks[0].is_drum == mapped.tracks[-1].is_drum
    one = load_midi(path)
    a, b = mapped.tracks[-1], one.tracks[-1]
    assert len(a) == len(b) == len(drums.part.notes)
    np.testing.assert_array_equal(a.pitch, b.pitch)
    np.testing.assert_allclose(one.seconds_at(b.start), mapped.seconds_at(a.start), atol=1e-3)
    np.testing.assert_allclose(one.seconds_at(b.start), np.sort(drums.part.note_times), atol=5e-4)


def test_a_bad_midi_tempo_is_refused_before_anything_is_written(tmp_path, drums):
    with pytest.raises(ValueError, match="midi_tempo must be one of map, constant"):
        write_outputs(drums.part, tmp_path, "rock", midi_tempo="fixed")
    assert not any(tmp_path.iterdir())


def test_the_arranger_bass_follows_register_words(musdb_song, one_torch_thread):
    """The arranger's bass takes the register words' modes (copied from the MIDI bass): "a deep
    bass line" sits in the low mode, "a high bass line" in the high one, on the same song; without
    register words the model's own octaves are kept (the setting has no context centre)."""
    from stemgen.midi.register import register_center

    ctx = np.ascontiguousarray(sum(sf.read(musdb_song / f"{k}.wav", always_2d=True, dtype="float32")[0].T
                                   for k in ("drums", "other", "vocals")))
    arranger = Arranger("bass")
    setting = arranger.generator.meta["register"]
    assert register_center(np.zeros((106, 4)), setting, "Add a fingered bass line") is None
    deep = np.median([p for _, _, p, _ in arranger(ctx, SR, "Add a deep bass line", source="rock.wav").notes])
    high = np.median([p for _, _, p, _ in arranger(ctx, SR, "Add a high bass line", source="rock.wav").notes])
    centers = setting["modes"]["centers"]
    # 18 notes in 7 s: the medians sat 6+ semitones apart with onsets read from each 16th's start,
    # 5.5 (36 / 41.5) with onsets counted in their nearest 16th (the centres are 9 apart)
    assert abs(deep - centers["low"]) <= 3 and abs(high - centers["high"]) <= 3 and high - deep >= 5


def test_a_beat_extended_back_onto_zero_is_placed_at_zero(drums):
    """Beats one period from the clip's start (a real window's: frames 46 and 92 at 86.13 frames a
    second) extend back to a beat at -2e-16 s by rounding; the notes' beats start at 0 s, not before it (a window of `stemgen eval`
    failed with "beat times must be finite and not negative")."""
    import dataclasses

    from stemgen.analysis.beat_grid import extend_beats
    from stemgen.analysis.features import step_beats
    from stemgen.arranger.grid import BeatGrid

    beats = np.array([0.5340589569160997, 1.0681179138321997, 1.5905668934240365, 2.107210884353741])
    assert -1e-9 < extend_beats(beats, 1, 0)[0] < 0  # the rounding this test is about
    analysis = dataclasses.replace(drums.analysis, beat_times=beats, downbeat_times=beats[:1])
    placed, _ = step_beats(analysis)
    assert placed[0] == 0.0 and BeatGrid.from_times(placed).n_beats == placed.size
