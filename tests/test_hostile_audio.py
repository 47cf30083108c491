"""Audio that lied or sat at the edges: MP3 headers that understate the stream, sample rates
FluidSynth cannot render at. The decoded length is the truth, and the arranger's drums and bass
sound at the same pitch at 4 kHz, 44.1 kHz and 192 kHz."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from stemgen.arranger.placement import TimedNotes
from stemgen.arranger.sounds import default_sound
from stemgen.arranger.synthesis import render_notes
from stemgen.audio.io import audio_info, load_audio
from stemgen.audio.mp3 import stream_seconds
from stemgen.cli.main import app

runner = CliRunner()
SR = 44100


def _tone(seconds: float, freq: float, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture(scope="module")
def mp3s(tmp_path_factory):
    root = tmp_path_factory.mktemp("mp3")
    sf.write(root / "a.mp3", _tone(12, 220), SR, format="MP3")
    sf.write(root / "b.mp3", _tone(12, 330), SR, format="MP3")
    (root / "joined.mp3").write_bytes((root / "a.mp3").read_bytes() + (root / "b.mp3").read_bytes())
    data = bytearray((root / "a.mp3").read_bytes())
    tag = max(data.find(b"Xing"), data.find(b"Info"))
    assert tag > 0 and data[tag + 7] & 1  # the header carries a frame count
    data[tag + 8:tag + 12] = (50).to_bytes(4, "big")  # says 50 frames (1.3 s) of 460
    (root / "understated.mp3").write_bytes(bytes(data))
    return root


def test_the_frame_walk_measures_what_the_stream_holds(mp3s):
    assert stream_seconds(mp3s / "a.mp3") == pytest.approx(12.0, abs=0.1)
    assert stream_seconds(mp3s / "joined.mp3") == pytest.approx(24.0, abs=0.2)
    assert stream_seconds(mp3s / "understated.mp3") == pytest.approx(12.0, abs=0.1)
    assert sf.info(str(mp3s / "joined.mp3")).duration == pytest.approx(12.0, abs=0.1)  # what libsndfile believes


@pytest.mark.parametrize("name,seconds", [("a.mp3", 12.0), ("joined.mp3", 24.0), ("understated.mp3", 12.0)])
def test_mp3_length_is_the_decoded_length(mp3s, name, seconds):
    _, _, info_s = audio_info(mp3s / name)
    audio, sr = load_audio(mp3s / name)
    assert audio.shape[-1] / sr == pytest.approx(seconds, abs=0.15) and info_s == pytest.approx(seconds, abs=0.2)
    if name == "joined.mp3":  # both halves are there: 220 Hz, then 330 Hz
        for start, freq in ((2, 220), (20, 330)):
            seg = audio[0, start * sr:(start + 1) * sr]
            assert abs(np.fft.rfftfreq(seg.size, 1 / sr)[np.argmax(np.abs(np.fft.rfft(seg)))] - freq) < 3


def test_generate_covers_both_halves_of_joined_mp3s(mp3s, tmp_path):
    """The outputs cover the whole 24 s, not the first file's 12 s (diffusion: no beat needed)."""
    res = runner.invoke(app, ["generate", str(mp3s / "joined.mp3"), "--engine", "diffusion", "--steps", "1",
                              "--out", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    assert sf.info(str(tmp_path / "joined_mix.wav")).duration == pytest.approx(24.0, abs=0.2)
    assert json.loads(res.stdout)["duration_s"] == pytest.approx(24.0, abs=0.2)


def test_an_understated_mp3_is_not_refused_as_a_short_clip(mp3s, tmp_path):
    res = runner.invoke(app, ["generate", str(mp3s / "understated.mp3"), "--engine", "diffusion", "--steps", "1",
                              "--max-duration", "5", "--out", str(tmp_path)])
    assert res.exit_code == 1 and res.stderr.startswith(f"error: {mp3s / 'understated.mp3'}: 12."), res.output
    assert "s long; the limit is 5.0 s" in res.stderr  # its real length, not the header's 1.3 s


def _notes(pitch: int, times: list[float]) -> TimedNotes:
    n, t = len(times), np.asarray(times, float)
    return TimedNotes(np.arange(n), np.arange(n) + 1, np.full(n, pitch), np.full(n, 100), t, t + 0.4)


def _peak_hz(audio: np.ndarray, sr: int, start: float, stop: float, below: float) -> float:
    seg = audio[int(start * sr):int(stop * sr)]
    spec = np.abs(np.fft.rfft(seg * np.hanning(seg.size), n=2 * sr))
    freqs = np.fft.rfftfreq(2 * sr, 1 / sr)
    return float(freqs[np.argmax(np.where(freqs < below, spec, 0))])


def _median_hz(audio: np.ndarray, sr: int, start: float, stop: float, below: float) -> float:
    seg = audio[int(start * sr):int(stop * sr)]
    power = np.abs(np.fft.rfft(seg, n=sr)) ** 2
    freqs = np.fft.rfftfreq(sr, 1 / sr)
    cum = np.cumsum(power[freqs < below])
    return float(freqs[np.searchsorted(cum, cum[-1] / 2)])


@pytest.fixture(scope="module")
def reference():
    """Bass A2 and a kick rendered at 44.1 kHz, which FluidSynth supports."""
    bass = render_notes(_notes(45, [0.25, 1.25]), default_sound("bass"), SR, 2 * SR).audio[0]
    kick = render_notes(_notes(36, [0.25, 1.25]), default_sound("drums"), SR, 2 * SR).audio[0]
    return _peak_hz(bass, SR, 0.35, 0.65, 1000), _median_hz(kick, SR, 0.25, 0.45, 1900)


@pytest.mark.parametrize("sr", [4000, 8000, 96000, 192000, 384000])
def test_the_arranger_renders_at_the_right_pitch_at_any_rate(reference, sr):
    bass_hz, kick_hz = reference
    assert bass_hz == pytest.approx(220, abs=3) and 60 < kick_hz < 150  # A2's strong 2nd harmonic; a kick
    bass = render_notes(_notes(45, [0.25, 1.25]), default_sound("bass"), sr, 2 * sr)
    kick = render_notes(_notes(36, [0.25, 1.25]), default_sound("drums"), sr, 2 * sr)
    assert bass.audio.shape == kick.audio.shape == (1, 2 * sr)
    assert _peak_hz(bass.audio[0], sr, 0.35, 0.65, 1000) == pytest.approx(bass_hz, abs=3)
    assert _median_hz(kick.audio[0], sr, 0.25, 0.45, 1900) == pytest.approx(kick_hz, rel=0.1)
    # The notes start where they were asked to, in the input's samples (one 64-sample block of slack).
    np.testing.assert_allclose(kick.onset_samples / sr, [0.25, 1.25], atol=64 / 8000)
    hit = np.argmax(np.abs(kick.audio[0, : sr]) > 0.1 * np.abs(kick.audio[0]).max()) / sr
    assert 0.24 < hit < 0.27


def test_generate_at_192_khz_writes_drums_that_match_its_midi(musdb_song, tmp_path):
    """End to end: a 192 kHz song keeps its rate, and the stem's onsets fall on the .mid's notes."""
    import librosa
    import mido

    audio, sr = load_audio(musdb_song / "mixture.wav", sample_rate=192_000)
    song = tmp_path / "song192.wav"
    sf.write(song, audio.T, sr, subtype="FLOAT")
    res = runner.invoke(app, ["generate", str(song), "--sound", "standard", "--out", str(tmp_path / "o"), "--json"])
    assert res.exit_code == 0, res.output
    stem, stem_sr = sf.read(tmp_path / "o" / "song192_drums.wav", dtype="float32", always_2d=True)
    assert stem_sr == 192_000 and stem.shape[0] == audio.shape[-1]
    mid = mido.MidiFile(tmp_path / "o" / "song192_drums.mid")
    t, note_times = 0.0, []
    for msg in mid:
        t += msg.time
        if msg.type == "note_on" and msg.velocity:
            note_times.append(t)
    mono = librosa.resample(stem.mean(axis=1), orig_sr=stem_sr, target_sr=22050)
    onsets = librosa.onset.onset_detect(y=mono, sr=22050, units="time", backtrack=False)
    assert len(note_times) >= 8 and len(onsets) >= 4
    # every detected onset is near a note of the .mid (too-high drums would be shorter, and a
    # stem rendered at 44.1 kHz but written as 192 kHz would put its onsets at 0.23x the times)
    assert np.median([np.min(np.abs(np.asarray(note_times) - o)) for o in onsets]) < 0.03
