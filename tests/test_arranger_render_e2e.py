"""Arranger rendering end to end on real songs: real FluidSynth, real SoundFont, beats from
librosa's tracker, the project's MIDI reader, librosa's onset detector on the rendered stem."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import soundfile as sf

from stemgen.arranger import render_part, write_outputs
from stemgen.arranger.loudness import DEFAULT_LEVEL_DB, loudness_lufs
from stemgen.audio.io import load_audio
from stemgen.midifile.io import load_midi

SR = 44100


@pytest.fixture(scope="module")
def rock(musdb_song):
    """The real multitrack without its drums (bass + guitar + vocals), stereo 44.1 kHz, and its beats."""
    ctx = sum(sf.read(musdb_song / f"{k}.wav", always_2d=True, dtype="float32")[0].T for k in ("bass", "other", "vocals"))
    _, beats = librosa.beat.beat_track(y=librosa.to_mono(ctx), sr=SR, units="time")
    assert beats.size >= 8
    return np.ascontiguousarray(ctx), beats


def _groove(n_beats):
    """Kick/snare on the beats, closed hats on the off-beat 8ths."""
    rows = []
    for b in range(n_beats):
        rows.append((4 * b, 4 * b + 1, 36 if b % 2 == 0 else 38, 100))
        rows.append((4 * b + 2, 4 * b + 3, 42, 70))
    return rows


@pytest.fixture(scope="module")
def drums(rock):
    ctx, beats = rock
    return render_part(_groove(beats.size + 2), beats, stem="drums", context_audio=ctx, sample_rate=SR,
                       instruction="Add a brushed jazz kit", seed=7)


def test_stem_and_mix_match_the_input(rock, drums):
    ctx, _ = rock
    assert drums.stem_audio.shape == drums.mix_audio.shape == ctx.shape and drums.sample_rate == SR
    assert drums.stem_audio.dtype == np.float32
    assert drums.info["sound"]["name"] == "brush" and drums.info["substituted"] is None
    assert np.abs(drums.mix_audio).max() <= 1.0
    # The mix is input + stem wherever the limiter did not have to act, and it says where it did.
    same = np.all(drums.mix_audio == ctx + drums.stem_audio, axis=0)
    assert (~same).sum() == drums.info["limiter"]["samples_changed"]
    assert same.mean() > 0.95


def test_input_array_is_not_modified(rock):
    ctx, beats = rock
    before = ctx.copy()
    render_part(_groove(4), beats, stem="drums", context_audio=ctx, sample_rate=SR, seed=0)
    assert np.array_equal(ctx, before)


def test_stem_loudness_sits_at_the_predicted_level_under_the_context(rock, drums):
    from stemgen.arranger.level_model import predicted_level_db

    ctx, _ = rock
    assert drums.info["loudness"]["stem_headroom_gain_db"] == 0.0  # the stem alone needed no peak cut
    expected, source = predicted_level_db("drums", ctx, SR, DEFAULT_LEVEL_DB["drums"])
    assert source.startswith("predicted") and drums.info["loudness"]["level_db"] == pytest.approx(expected, abs=0.01)
    level = loudness_lufs(drums.stem_audio, SR) - loudness_lufs(ctx, SR)
    assert level == pytest.approx(expected, abs=0.1)


def test_midi_read_back_matches_the_rendered_onsets(tmp_path, drums):
    path = tmp_path / "drums.mid"
    path.write_bytes(drums.midi_bytes)
    song = load_midi(path)
    (track,) = song.tracks
    assert track.is_drum and track.program == 40 and len(track) == len(drums.notes)
    got = song.seconds_at(track.start)
    order = np.lexsort((track.pitch, got))
    ours = np.lexsort((drums.notes.pitch, drums.note_times))
    np.testing.assert_array_equal(track.pitch[order], drums.notes.pitch[ours])
    assert np.abs(got[order] - drums.note_times[ours]).max() < 0.001
    np.testing.assert_array_equal(track.velocity[order], drums.notes.velocity[ours])


def test_rendered_hits_land_on_the_beats(rock, drums):
    """librosa onsets of the stem against the beats the kick/snare were placed on (and a shifted grid)."""
    _, beats = rock
    onsets = librosa.onset.onset_detect(y=librosa.to_mono(drums.stem_audio), sr=SR, units="time")

    def errors(times):
        return np.array([np.abs(onsets - t).min() for t in times])

    inside = beats[beats < drums.stem_audio.shape[-1] / SR - 0.1]
    assert errors(inside).max() < 0.020
    assert np.median(errors(inside + 0.06)) > 0.020  # the check fails for a part 60 ms off the beats


def test_kits_sound_different(rock):
    ctx, beats = rock
    a = render_part(_groove(8), beats, stem="drums", context_audio=ctx, sample_rate=SR, sound="standard", seed=1)
    b = render_part(_groove(8), beats, stem="drums", context_audio=ctx, sample_rate=SR, sound="tr808", seed=1)
    np.testing.assert_array_equal(a.note_times, b.note_times)
    corr = np.corrcoef(a.stem_audio[0], b.stem_audio[0])[0, 1]
    assert corr < 0.5


def test_mono_22k_bass_part_and_written_files(tmp_path, demo_mixes):
    path = demo_mixes / "Kevin_MacLeod_-_P_I_Tchaikovsky_Dance_of_the_Sugar_Plum_Fairy.ogg"
    ctx, sr = load_audio(path, duration_s=20.0)
    assert ctx.shape[0] == 1 and sr == 22050
    _, beats = librosa.beat.beat_track(y=ctx[0], sr=sr, units="time")
    notes = [(4 * b, 4 * b + 3, 40 + (b % 4) * 2, 90) for b in range(beats.size + 4)]
    part = render_part(notes, beats, stem="bass", context_audio=ctx, sample_rate=sr,
                       instruction="Add a warm fingered bass line", seed=2)
    assert part.stem_audio.shape == ctx.shape and part.info["sound"]["program"] == 33
    paths = write_outputs(part, tmp_path / "out", "sugarplum")
    assert {p.name for p in paths.values()} == {"sugarplum_bass.wav", "sugarplum_mix.wav", "sugarplum_bass.mid"}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in paths.values())
    for key in ("stem", "mix"):
        info = sf.info(paths[key])
        assert info.samplerate == sr and info.channels == 1 and info.frames == ctx.shape[-1]
    song = load_midi(paths["midi"])
    (track,) = song.tracks
    assert not track.is_drum and track.program == 33
    got = np.sort(song.seconds_at(track.start))
    assert np.abs(got - np.sort(part.note_times)).max() < 0.001
    # Notes past the song's end are dropped, not wrapped or clipped into the last sample.
    assert part.note_times.max() < ctx.shape[-1] / sr


def test_outputs_are_all_or_nothing(tmp_path, drums):
    out = tmp_path / "out"
    out.mkdir()
    (out / "song_drums.wav").write_bytes(b"old stem")
    broken = type(drums)(**{**drums.__dict__, "mix_audio": drums.mix_audio * 3})  # would clip: refused
    with pytest.raises(ValueError, match="clip"):
        write_outputs(broken, out, "song")
    assert sorted(p.name for p in out.iterdir()) == ["song_drums.wav"]  # no temp files, no partial set
    assert (out / "song_drums.wav").read_bytes() == b"old stem"


def test_a_kit_the_soundfont_lacks_is_reported_and_replaced(rock):
    ctx, beats = rock
    part = render_part(_groove(4), beats, stem="drums", context_audio=ctx, sample_rate=SR, sound=99, seed=0)
    assert part.info["sound"]["program"] == 99 and part.info["played"] == "Standard kit"
    assert "no preset bank 128 program 99" in part.info["substituted"]
    assert np.abs(part.stem_audio).max() > 0.01


@pytest.mark.slow
def test_analysis_beats_and_downbeats_drive_the_midi_bars(tmp_path, rock):
    """stemgen.analysis's beats, downbeats and meter in; a .mid whose bar lines are the song's downbeats."""
    from stemgen.analysis import analyze

    ctx, _ = rock
    a = analyze(ctx, SR)
    notes = [(4 * b, 4 * b + 1, 36 if b % a.meter == 0 else 42, 100) for b in range(a.beat_times.size)]
    part = render_part(notes, a.beat_times, stem="drums", context_audio=ctx, sample_rate=SR, meter=a.meter,
                       downbeat_times=a.downbeat_times, seed=0)
    assert part.info["midi"]["bars_aligned"]
    path = tmp_path / "drums.mid"
    path.write_bytes(part.midi_bytes)
    song = load_midi(path)
    assert song.time_signatures[0][1:] == (a.meter, 4)
    first = part.info["midi"]["first_beat_on_grid"]
    downbeats = a.downbeat_times[a.downbeat_times >= a.beat_times[first]]
    bar_ticks = song.tpq * a.meter * np.arange(1, 64)
    bar_starts = song.seconds_at(bar_ticks)
    for t in downbeats:  # every downbeat is a bar line of the MIDI file
        assert np.abs(bar_starts - t).min() < 1e-5


def test_stereo_input_gets_a_stereo_kit_whose_mean_is_the_mono_render(rock, drums):
    """The kit keeps the SoundFont's panning (hats and toms off centre): left and right differ, and
    their mean is exactly what the engine renders in mono."""
    from stemgen.arranger.grid import BeatGrid
    from stemgen.arranger.humanize import Humanization
    from stemgen.arranger.placement import place_notes
    from stemgen.arranger.synthesis import render_notes
    from stemgen.render.sounds import choose_sound

    left, right = drums.stem_audio
    assert np.abs(left - right).max() > 0.05 * np.abs(drums.stem_audio).max()
    ctx, beats = rock
    timed = place_notes(_groove(8), BeatGrid.from_times(beats), is_drums=True, humanization=Humanization.off(), seed=0)
    sound = choose_sound("drums", "standard kit").sound
    stereo = render_notes(timed, sound, SR, SR * 4, channels=2).audio
    mono = render_notes(timed, sound, SR, SR * 4, channels=1).audio
    assert stereo.shape == (2, SR * 4) and mono.shape == (1, SR * 4)
    np.testing.assert_allclose(stereo.mean(axis=0), mono[0], atol=1e-6)
