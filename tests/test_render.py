"""SoundFont rendering of MIDI files to Slakh-style stems (real files, short excerpts)."""

from __future__ import annotations

import numpy as np

from stemgen.render import Augmentation, find_soundfonts, render_midi, render_stems
from stemgen.render.soundfonts import ENV_VAR
from stemgen.render.synth import clear_engines

SR = 16_000  # low rate keeps the suite quick; the code path is the same at 44.1 kHz
BAND_SONG = "Tegridy-Select_af00dd8afb.mid"  # 39 s, drums + bass + guitar + other


def rms_db(x: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.square(x, dtype=np.float64))) + 1e-12))


def test_soundfonts_found_and_env_override(monkeypatch, tmp_path):
    found = find_soundfonts()
    assert found, "expected a GM SoundFont (Debian packages or pretty_midi's TimGM6mb)"
    assert all(sf.path.is_file() for sf in found)
    only = found[-1].path
    monkeypatch.setenv(ENV_VAR, f"{only}:{tmp_path / 'missing.sf2'}")
    assert [sf.path for sf in find_soundfonts()] == [only]


def test_band_song_stems_aligned_nonsilent_and_additive(band_midi_dir):
    song = band_midi_dir / BAND_SONG
    clear_engines()  # exact equality holds between fresh synths (state survives a reset: see synth.py)
    r = render_stems(song, sample_rate=SR, max_seconds=8)
    assert set(r.stems) == {"drums", "bass", "guitar", "other"}
    assert r.present == ("drums", "bass", "guitar", "other")
    for name, stem in r.stems.items():
        assert stem.dtype == np.float32 and stem.shape == (1, 8 * SR), name
        assert rms_db(stem) > -50, f"{name} is silent"
    # One synth renders every family to its own output group, so the stems add up to the
    # single-output render of the same file up to float rounding.
    clear_engines()
    mix = render_midi(song, sample_rate=SR, max_seconds=8)
    assert mix.shape == (1, 8 * SR)
    assert np.max(np.abs(r.mix() - mix)) < 1e-5
    # Families really are split: the bass stem is darker than the drum stem.
    def centroid(x):
        mag = np.abs(np.fft.rfft(x[0]))
        return float(np.sum(mag * np.arange(mag.size)) / np.sum(mag))
    assert centroid(r.stems["bass"]) < centroid(r.stems["drums"])


def test_full_length_includes_release_tail(band_midi_dir):
    r = render_stems(band_midi_dir / BAND_SONG, sample_rate=8_000)
    end = r.score.end_s
    assert end * 8_000 <= r.num_samples <= (end + 2.0) * 8_000 + 1
    assert len({s.shape for s in r.stems.values()}) == 1


def test_slakh_all_src(slakh_track):
    r = render_stems(slakh_track / "all_src.mid", sample_rate=SR, max_seconds=6)
    assert r.present == ("drums", "bass", "guitar", "other")
    assert r.programs["bass"] == [33] and set(r.programs["guitar"]) == {26, 30}
    assert all(rms_db(s) > -60 for s in r.stems.values())


def test_augmentation_deterministic(band_midi_dir):
    song = band_midi_dir / BAND_SONG
    a1, a2 = Augmentation.draw(7, "song-a"), Augmentation.draw(7, "song-a")
    assert a1 == a2 and Augmentation.draw(8, "song-a") != a1
    b = Augmentation.draw(8, "song-a")
    for aug in (a1, b):  # program swaps stay within the GM family of eight
        assert all(x // 8 == y // 8 and x != y for x, y in aug.program_map)

    def render(aug):
        # A reused synth carries a little state from earlier songs (see stemgen.render.synth),
        # so reproducibility is checked from a fresh synth, as a new worker process has.
        clear_engines()
        return render_stems(song, sample_rate=SR, max_seconds=4, augmentation=aug, song_id="song-a")

    x1, x2, y = render(a1), render(a2), render(b)
    for name in x1.stems:
        np.testing.assert_array_equal(x1.stems[name], x2.stems[name])
    assert any(np.max(np.abs(x1.stems[n] - y.stems[n])) > 1e-3 for n in x1.stems)
    assert x1.soundfont.name == a1.soundfont
