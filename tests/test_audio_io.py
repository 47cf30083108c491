"""Audio I/O on real files and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from stemgen.audio.io import audio_info, load_audio, write_audio
from stemgen.audio.mixing import fit_headroom, mix_stems
from stemgen.errors import StemgenInputError


@pytest.mark.parametrize(
    "name, channels",
    [
        ("Kevin_MacLeod_-_Vibe_Ace.hq.ogg", 2),
        ("Steven_M_Bryant_-_Slow_Motion_Dream_excerpt.mp3", 2),
        ("Kevin_MacLeod_-_P_I_Tchaikovsky_Dance_of_the_Sugar_Plum_Fairy.ogg", 1),
    ],
)
def test_reads_ogg_and_mp3(demo_mixes, name, channels):
    audio, sr = load_audio(demo_mixes / name, duration_s=3.0)
    assert audio.dtype == np.float32 and audio.shape[0] == channels
    assert abs(audio.shape[1] - 3.0 * sr) <= 2 and np.abs(audio).max() > 0.01


def test_resample_and_mono(musdb_song):
    audio, sr = load_audio(musdb_song / "drums.wav", sample_rate=16000, mono=True)
    assert sr == 16000 and audio.shape[0] == 1
    _, _, duration = audio_info(musdb_song / "drums.wav")
    assert abs(audio.shape[1] / 16000 - duration) < 0.01


def test_write_roundtrip_flac_and_rate(tmp_path):
    rng = np.random.default_rng(0)
    audio = (rng.standard_normal((2, 8000)) * 0.1).astype(np.float32)
    for suffix in (".wav", ".flac"):
        path = write_audio(tmp_path / f"x{suffix}", audio, 8000)
        back, sr = load_audio(path)
        assert sr == 8000 and back.shape == audio.shape
        assert np.abs(back - audio).max() < 1e-3
    assert not list(tmp_path.glob(".*part*")), "no temp files left behind"


def test_write_refuses_to_clip(tmp_path):
    with pytest.raises(ValueError, match="clip"):
        write_audio(tmp_path / "loud.wav", np.full((1, 100), 1.5, np.float32), 8000)
    assert not (tmp_path / "loud.wav").exists()


def test_mix_reports_gain_change():
    a = np.full((1, 10), 0.7, np.float32)
    mixed, change = mix_stems([a, a])
    assert change is not None and change.gain < 1 and np.abs(mixed).max() <= 0.99 + 1e-6
    quiet, none = fit_headroom(a * 0.5)
    assert none is None and np.array_equal(quiet, a * 0.5)


@pytest.mark.parametrize(
    "content, suffix, reason",
    [
        (b"", ".wav", "empty"),
        (b"this is not audio at all" * 50, ".wav", "not readable"),
        (b"RIFF\x00\x00", ".flac", "not readable"),
        (b"abc", ".txt", "unsupported"),
    ],
)
def test_bad_files_name_the_file(tmp_path, content, suffix, reason):
    path = tmp_path / f"bad{suffix}"
    path.write_bytes(content)
    with pytest.raises(StemgenInputError, match=reason) as info:
        load_audio(path)
    assert info.value.file == str(path)


def test_odd_rates_and_channels(tmp_path):
    path = tmp_path / "eight.wav"
    sf.write(path, np.zeros((800, 8), np.float32) + 0.01, 8000)
    audio, sr = load_audio(path, sample_rate=44100, mono=True)
    assert audio.shape == (1, 4410) and sr == 44100
