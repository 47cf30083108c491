"""Per-window descriptors: synthetic signals with known answers, and real audio."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from stemgen.analysis import analyze
from stemgen.analysis.spectral import LOUDNESS_FLOOR_DB
from stemgen.audio.io import load_audio
from stemgen.data.descriptors import (
    analyze_song,
    describe_window,
    syncopation,
)

SR = 44100
WINDOW_S = 5.12


def click_track(bpm: float, seconds: float, sr: int = SR) -> np.ndarray:
    """(1, n) clicks: 20 ms decaying noise bursts every beat (a metronome)."""
    rng = np.random.default_rng(0)
    y = np.zeros(int(seconds * sr), dtype=np.float32)
    burst = (rng.standard_normal(int(0.02 * sr)) * np.exp(-np.linspace(0, 8, int(0.02 * sr)))).astype(np.float32)
    for t in np.arange(0.25, seconds - 0.05, 60.0 / bpm):
        i = int(t * sr)
        y[i : i + burst.size] += 0.5 * burst[: y.size - i]
    return y[None]


def tones(freqs: list[float], seconds: float, sr: int = SR, amp: float = 0.1) -> np.ndarray:
    """(1, n) sum of harmonic tones (4 partials each), a gentle organ."""
    t = np.arange(int(seconds * sr)) / sr
    y = sum(amp / k * np.sin(2 * np.pi * f * k * t) for f in freqs for k in range(1, 5))
    return np.asarray(y, dtype=np.float32)[None]


def describe(y: np.ndarray, sr: int = SR, start_s: float = 0.0, stem: str = "drums", hint=None) -> dict:
    """Describe one window of ``y`` used as mix, stem and context at once."""
    analysis = analyze_song(y, sr, tempo_hint_bpm=hint)
    a, b = int(start_s * sr), int((start_s + WINDOW_S) * sr)
    w = y[:, a:b]
    return describe_window(analysis, a, w, w, w, sr, stem)


def assert_json_finite(d: dict) -> None:
    json.dumps(d, allow_nan=False)  # raises on NaN/inf
    for value in d.values():
        if isinstance(value, float):
            assert math.isfinite(value)


def test_click_track_tempo_and_onset_density():
    y = click_track(120, 20.0)
    analysis = analyze_song(y, SR)
    # Exactly 120 BPM (not a multiple): the tempo prior is centred on 120 and the tempo comes
    # from mean beat intervals, so frame quantisation (117.5/123.0) averages out.
    assert analysis.tempo_bpm == pytest.approx(120.0, rel=0.02)
    d = describe(y, start_s=5.0)
    assert d["tempo_bpm"] == pytest.approx(120.0, rel=0.02)
    assert d["onset_density"] == pytest.approx(2.0, abs=0.3)  # 10 or 11 clicks in 5.12 s
    assert d["beats"] in (10, 11)
    assert d["syncopation"] == pytest.approx(0.0, abs=0.05)  # every click on the beat
    assert_json_finite(d)


def test_tempo_hint_agreeing_and_wrong():
    y = click_track(100, 15.0)
    right = analyze_song(y, SR, tempo_hint_bpm=100.0)
    assert right.tempo_agrees_with_hint is True
    assert right.tempo_bpm == pytest.approx(100.0, rel=0.02)
    # A MIDI file's default 120 BPM that the audio contradicts is not trusted.
    wrong = analyze_song(y, SR, tempo_hint_bpm=137.0)
    assert wrong.tempo_agrees_with_hint is False
    assert wrong.tempo_bpm == pytest.approx(100.0, rel=0.03)


def test_a_minor_triad_and_scale_key():
    # A minor triad held under an A natural minor scale. Relative C major shares the pitch set,
    # so that is the one confusion tolerated; here Krumhansl-Schmuckler does pick A minor.
    a3, c4, e4 = 220.0, 261.63, 329.63
    scale = [440.0 * 2 ** (s / 12) for s in (0, 2, 3, 5, 7, 8, 10, 12)]
    song = np.concatenate([tones([a3, c4, e4, f], 0.75) for f in scale + scale[::-1]], axis=1)
    analysis = analyze_song(song, SR)
    assert analysis.key == "A minor"
    assert analysis.key_confidence > 0.7
    # One window (with the song as a prior) gets the same answer.
    assert describe(song, start_s=2.0, stem="other")["key"] == "A minor"


def test_silence_gives_finite_floor_values():
    y = np.zeros((1, int(8 * SR)), dtype=np.float32)
    d = describe(y)
    assert_json_finite(d)
    assert d["loudness_db"] == LOUDNESS_FLOOR_DB
    assert d["onset_density"] == 0.0
    assert d["tempo_bpm"] == 0.0
    assert d["brightness_hz"] == 0
    assert d["key"] is None and d["key_confidence"] == 0.0


def test_brightness_noise_above_low_sine():
    rng = np.random.default_rng(1)
    noise = (0.1 * rng.standard_normal(int(6 * SR))).astype(np.float32)[None]
    sine = (0.1 * np.sin(2 * np.pi * 200.0 * np.arange(int(6 * SR)) / SR)).astype(np.float32)[None]
    bright, dark = describe(noise)["brightness_hz"], describe(sine)["brightness_hz"]
    assert dark == pytest.approx(200, abs=60)
    assert bright > 3000 > dark


def test_loudness_and_dynamics():
    steady = tones([220.0], 6.0, amp=0.5)
    d = describe(steady)
    assert d["loudness_db"] == pytest.approx(20 * math.log10(0.5 / math.sqrt(2) * math.sqrt(1 + 1 / 4 + 1 / 9 + 1 / 16)), abs=0.5)
    assert d["dynamics_db"] < 1.0
    swell = steady * np.linspace(0.01, 1.0, steady.shape[1], dtype=np.float32)  # 40 dB crescendo
    assert describe(swell)["dynamics_db"] > 15.0


def test_syncopation_on_and_off_the_grid():
    beats = np.arange(0.0, 8.0, 0.5)
    on = np.arange(0.0, 7.0, 0.25)[::2]  # beats and 8ths
    off = on + 0.125  # the "e" and "a" 16ths
    assert syncopation(on, np.ones_like(on), beats) == 0.0
    assert syncopation(off, np.ones_like(off), beats) == 1.0
    assert syncopation(on[:2], np.ones(2), beats) == 0.0  # too few onsets to say


@pytest.mark.parametrize("sr", [22050, 16000])
def test_other_preset_rates(sr):
    d = describe(click_track(120, 12.0, sr=sr), sr=sr, start_s=3.0)
    assert d["tempo_bpm"] == pytest.approx(120.0, rel=0.03)
    assert d["onset_density"] == pytest.approx(2.0, abs=0.3)


def test_window_rate_must_match_the_song():
    y = click_track(120, 6.0)
    analysis = analyze_song(y, SR)
    with pytest.raises(ValueError, match="rate"):
        describe_window(analysis, 0, y, y, y, 22050, "drums")


@pytest.fixture(scope="module")
def musdb(musdb_song):
    return {n: load_audio(musdb_song / f"{n}.wav", sample_rate=SR, mono=True)[0] for n in ("drums", "bass", "other", "vocals")}


def test_real_multitrack_descriptors(musdb):
    mix = sum(musdb.values())
    analysis = analyze_song(mix, SR)
    assert 95.0 < analysis.tempo_bpm < 120.0  # 80s rock excerpt, ~105 BPM
    n = int(WINDOW_S * SR)
    out = {}
    for stem in ("drums", "bass"):
        context = mix - musdb[stem]
        out[stem] = describe_window(analysis, 0, mix[:, :n], musdb[stem][:, :n], context[:, :n], SR, stem)
        assert_json_finite(out[stem])
        assert out[stem]["onset_density"] > 0.5
        assert out[stem]["stem_to_mix_db"] < 0.0
        assert out[stem]["key"] is not None
    assert out["bass"]["brightness_hz"] < out["drums"]["brightness_hz"]
    # Deterministic: the same inputs give the same dict.
    again = describe_window(analysis, 0, mix[:, :n], musdb["drums"][:, :n], (mix - musdb["drums"])[:, :n], SR, "drums")
    assert again == out["drums"]


def test_real_mix_windows_share_one_beat_grid(demo_mixes):
    y, sr = load_audio(demo_mixes / "Kevin_MacLeod_-_Vibe_Ace.hq.ogg", sample_rate=SR, mono=True, duration_s=30.0)
    analysis = analyze_song(y, sr)
    assert 60.0 < analysis.tempo_bpm < 200.0
    # One song analysis: the dataset's beats, tempo and key are what the arranger finds on this audio.
    arranger = analyze(y, sr)
    np.testing.assert_array_equal(analysis.beat_times, arranger.beat_times)
    assert analysis.tempo_bpm == arranger.tempo_bpm and analysis.key == arranger.key.name
    n = int(WINDOW_S * sr)
    for start in range(0, y.shape[1] - n, n):
        w = y[:, start : start + n]
        d = describe_window(analysis, start, w, w, w, sr, "drums")
        assert_json_finite(d)
        assert d["tempo_bpm"] == pytest.approx(analysis.tempo_bpm, rel=0.05)  # a steady song
        assert abs(d["beats"] - d["tempo_bpm"] * WINDOW_S / 60) <= 2
        assert d["key"] is not None
