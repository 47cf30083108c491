"""Evaluation metrics on signals with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stemgen.evaluation import signals
from stemgen.evaluation.metrics import frechet, presence, rhythm
from stemgen.evaluation.metrics.embedding import OFFLINE_DIM, OfflineEmbedding, make_embedding
from stemgen.errors import StemgenInputError

SR = 22_050
BPM = 120.0


def click_track(times: np.ndarray, duration: float = 10.0, sr: int = SR) -> np.ndarray:
    """Short decaying 1 kHz clicks at ``times`` (seconds)."""
    y = np.zeros(int(duration * sr), dtype=np.float32)
    n = int(0.03 * sr)
    click = (np.sin(2 * np.pi * 1000 * np.arange(n) / sr) * np.exp(-np.arange(n) / (0.005 * sr))).astype(np.float32)
    for t in times:
        i = int(round(t * sr))
        if i < y.size:
            y[i : i + n] += click[: y.size - i]
    return 0.5 * y


BEATS = np.arange(0.5, 10.0, 60.0 / BPM)


def test_beat_f_of_click_track_against_itself_is_one():
    assert rhythm.beat_f_measure(BEATS, BEATS) == pytest.approx(1.0)
    tracked = signals.track_beats(click_track(BEATS), SR)
    assert tracked.tempo_bpm == pytest.approx(BPM, rel=0.04)
    assert rhythm.beat_f_measure(BEATS, tracked.beats) >= 0.9
    # the same audio tracked twice: identical beats
    assert rhythm.beat_f_measure(tracked.beats, signals.track_beats(click_track(BEATS), SR).beats) == 1.0


def test_beat_f_of_click_track_shifted_by_100ms_is_zero():
    assert rhythm.beat_f_measure(BEATS, BEATS + 0.1) == 0.0
    ref = signals.track_beats(click_track(BEATS), SR).beats
    shifted = signals.track_beats(click_track(BEATS + 0.1), SR).beats
    assert rhythm.beat_f_measure(ref, shifted) == pytest.approx(0.0, abs=0.1)


def test_beat_f_edge_cases():
    assert rhythm.beat_f_measure(np.zeros(0), np.zeros(0)) == 1.0
    assert rhythm.beat_f_measure(BEATS, np.zeros(0)) == 0.0


def test_tempo_agreement_strict_and_octave():
    assert rhythm.tempo_agreement(121.0, 120.0) == {"strict": 1.0, "octave": 1.0}
    assert rhythm.tempo_agreement(240.0, 120.0) == {"strict": 0.0, "octave": 1.0}
    assert rhythm.tempo_agreement(61.0, 120.0) == {"strict": 0.0, "octave": 1.0}
    assert rhythm.tempo_agreement(130.0, 120.0) == {"strict": 0.0, "octave": 0.0}
    assert rhythm.tempo_agreement(0.0, 120.0) == {"strict": 0.0, "octave": 0.0}


def test_onset_grid_share_grid_aligned_clicks_score_one_random_lower():
    sixteenths = np.arange(0.5, 9.5, 60.0 / BPM / 4)
    onsets = signals.detect_onsets(click_track(sixteenths[::3]), SR)  # every third 16th: syncopated, on grid
    assert len(onsets) > 10
    assert rhythm.onset_grid_share(onsets, BEATS) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    random_onsets = np.sort(rng.uniform(0.5, 9.5, 200))
    share = rhythm.onset_grid_share(random_onsets, BEATS)
    chance = rhythm.grid_chance_level(BEATS)
    assert share < 0.7
    assert share == pytest.approx(chance, abs=0.1)
    assert math.isnan(rhythm.onset_grid_share(np.zeros(0), BEATS))


def test_frechet_distance_zero_on_itself_and_grows_with_shift():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 8))
    assert frechet.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)
    d = [frechet.frechet_distance(x, x + s) for s in (0.5, 1.0, 2.0)]
    assert d == sorted(d)
    # a pure mean shift adds |shift|^2 per dimension
    assert d[1] == pytest.approx(8 * 1.0**2, rel=1e-6)
    # fewer examples than dimensions: exact (singular covariances need no ridge)
    small = rng.normal(size=(4, 30))
    assert frechet.frechet_distance(small, small) == pytest.approx(0.0, abs=1e-9)
    value, low, high = frechet.frechet_bootstrap(x + 1.0, x, resamples=50)
    assert 0 < low <= high


@pytest.mark.parametrize("n", [5, 40])
def test_frechet_distance_matches_the_matrix_square_root_formula(n):
    from scipy.linalg import sqrtm

    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(n, 12)), 0.5 * rng.normal(size=(n + 3, 12)) + 0.3
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    ref = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(ca + cb - 2 * sqrtm(ca @ cb).real)
    assert frechet.frechet_distance(a, b) == pytest.approx(ref, rel=1e-5, abs=1e-6)


def test_presence_metrics():
    stem = 0.1 * np.sin(np.linspace(0, 1000, SR)).astype(np.float32)
    context = 0.2 * np.cos(np.linspace(0, 700, SR)).astype(np.float32)
    assert presence.stem_level_db(stem, stem) == pytest.approx(0.0)
    assert presence.stem_level_db(0.5 * stem, stem) == pytest.approx(-6.02, abs=0.01)
    assert presence.is_silent(np.zeros(100)) and not presence.is_silent(stem)
    assert presence.context_error(context + stem, stem, context) == pytest.approx(0.0, abs=1e-7)
    assert presence.context_error(0.5 * (context + stem), stem, context) > 0.05


def test_offline_embedding_is_deterministic_and_separates_sounds():
    emb = OfflineEmbedding()
    clicks = click_track(BEATS, duration=5.0)
    noise = (0.1 * np.random.default_rng(0).normal(size=5 * SR)).astype(np.float32)
    a, b = emb(clicks, SR), emb(clicks, SR)
    assert a.shape == (OFFLINE_DIM,) and np.all(np.isfinite(a))
    np.testing.assert_array_equal(a, b)
    assert np.linalg.norm(emb(noise, SR) - a) > 1.0
    assert np.all(np.isfinite(emb(np.zeros(SR, dtype=np.float32), SR)))  # silence is fine


def test_local_embedding_needs_a_local_folder(tmp_path):
    with pytest.raises(StemgenInputError, match="never downloaded"):
        make_embedding(str(tmp_path / "laion-clap"))


def test_local_transformers_embedding_from_a_tiny_saved_model(tmp_path):
    import transformers
    config = transformers.Wav2Vec2Config(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        conv_dim=(8, 8), conv_stride=(5, 4), conv_kernel=(10, 4), num_feat_extract_layers=2,
        num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2,
    )
    transformers.Wav2Vec2Model(config).save_pretrained(tmp_path, safe_serialization=True)
    transformers.Wav2Vec2FeatureExtractor(sampling_rate=16_000).save_pretrained(tmp_path)
    emb = make_embedding(str(tmp_path))
    vec = emb(click_track(BEATS, duration=2.0), SR)
    assert vec.shape == (16,) and np.all(np.isfinite(vec))


def test_onset_f_measure_is_mir_eval_and_can_fail(musdb_song):
    """The real drum stem against itself scores 1; shifted by 80 ms or replaced by random onsets it
    scores low; equals mir_eval.onset.f_measure on the same onsets."""
    import mir_eval
    import soundfile as sf

    from stemgen.evaluation import signals
    from stemgen.evaluation.metrics.rhythm import onset_f_measure

    drums, sr = sf.read(musdb_song / "drums.wav", always_2d=True, dtype="float32")
    onsets = signals.detect_onsets(drums.mean(axis=1), sr)
    assert onsets.size > 10
    assert onset_f_measure(onsets, onsets) == 1.0
    shifted = onsets + 0.08
    assert onset_f_measure(onsets, shifted) < 0.2
    rng = np.random.default_rng(0)
    random = np.sort(rng.uniform(0, drums.shape[0] / sr, onsets.size))
    assert onset_f_measure(onsets, random) < 0.4
    assert onset_f_measure(onsets, random) == pytest.approx(mir_eval.onset.f_measure(onsets, random)[0])
    assert onset_f_measure(onsets, np.array([])) == 0.0 and onset_f_measure(np.array([]), np.array([])) == 1.0
