"""The stem level predicted from the song (stemgen/arranger/level_model.py): features of real
rendered band songs, the shipped regression's provenance and range, the arranger using it when no
level is given and the user's level winning when one is."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from stemgen.arranger.level_model import (
    FEATURES,
    LOSS,
    MODEL_PATH,
    context_features,
    fit,
    load_model,
    measure_song,
    predict,
    predicted_level_db,
)
from stemgen.arranger.loudness import DEFAULT_LEVEL_DB

BAND = Path("/work/shared/data/tegridy_band_midi_nc")
SONG = BAND / "midi" / "Tegridy-Select_93cc0df395.mid"  # valid split
pytestmark = pytest.mark.skipif(not BAND.is_dir(), reason="shared band MIDI data missing")


@pytest.fixture(scope="module")
def measured():
    return measure_song(SONG)


def test_measured_levels_and_features_of_a_real_song(measured):
    assert set(measured) == {"drums", "bass", "guitar"}
    for stem, row in measured.items():
        assert -40 < row["level"] < 20, stem
        feats = np.array(row["features"])
        assert feats.shape == (len(FEATURES),) and np.all(np.isfinite(feats))
        assert np.all(feats[:4] <= 0)  # log10 shares
    # Drums out of the context leave less of its energy in hits (flux) than bass out of it.
    assert measured["bass"]["features"][FEATURES.index("flux")] > measured["drums"]["features"][FEATURES.index("flux")]


def test_silence_and_short_context_have_no_features():
    assert context_features(np.zeros((2, 44100)), 44100) is None
    assert context_features(np.random.default_rng(0).normal(size=(1, 2000)), 44100) is None
    level, source = predicted_level_db("drums", np.zeros((1, 44100)), 44100, DEFAULT_LEVEL_DB["drums"])
    assert level == DEFAULT_LEVEL_DB["drums"] and "fixed default" in source


def test_ridge_recovers_a_linear_relation_and_ignores_noise():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3))
    y = -10 + 3 * x[:, 0] + rng.normal(scale=0.1, size=300)
    params = fit(x, y, ridge=0.01)
    assert predict(params, np.array([1.0, 0.0, 0.0])) == pytest.approx(-7.0, abs=0.1)
    assert abs(params["coef"][1]) < 0.1 and abs(params["coef"][2]) < 0.1


def test_least_absolute_deviations_ignore_a_tail_that_pulls_least_squares():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 2))
    y = -5 + 2 * x[:, 0] + rng.normal(scale=0.2, size=200)
    y[:20] -= 15  # a tail of much quieter parts
    squares, absolute = fit(x, y, ridge=0.01), fit(x, y, ridge=0.01, loss="absolute")
    assert absolute["loss"] == "absolute" and squares["loss"] == "squares"
    assert predict(absolute, np.zeros(2)) == pytest.approx(-5.0, abs=0.2)
    assert predict(squares, np.zeros(2)) < -6.0  # pulled down by the tail
    with pytest.raises(ValueError, match="loss"):
        fit(x, y, loss="huber")


def test_shipped_model_has_provenance_and_predicts_inside_the_training_range(measured):
    doc = json.loads(MODEL_PATH.read_text())
    assert doc["features"] == list(FEATURES) and "train" in doc["provenance"]["fitted_on"]
    assert "CC BY-NC-SA" in doc["provenance"]["licence"]  # learned from the non-commercial band songs
    assert {stem: p["loss"] for stem, p in doc["stems"].items()} == LOSS == doc["loss"]
    assert load_model() == doc
    for stem, row in measured.items():
        params = doc["stems"][stem]
        assert params["songs"] > 100 and len(params["coef"]) == len(FEATURES)
        low, high = params["range"]
        level = predict(params, row["features"])  # unclipped: the regression itself
        assert low <= level <= high
        # This valid-split song's real level is predicted within a few LU (the model's valid median
        # error is about 2 LU; a broken model, e.g. the intercept alone or a flipped sign, misses it).
        assert abs(level - row["level"]) < 4.0, (stem, level, row["level"])


def test_arranger_render_uses_the_prediction_unless_a_level_is_given():
    from stemgen.arranger.part import render_part
    from stemgen.render.stems import render_stems

    stems = render_stems(SONG, sample_rate=22050, max_seconds=8.0)
    context = np.sum([a for k, a in stems.stems.items() if k != "bass"], axis=0)
    beats = np.arange(0, 8.0, 0.5)
    notes = [(4 * i, 4 * i + 2, 40, 100) for i in range(len(beats) - 2)]
    auto = render_part(notes, beats, stem="bass", context_audio=context, sample_rate=22050)
    expected, _ = predicted_level_db("bass", context, 22050, DEFAULT_LEVEL_DB["bass"])
    assert auto.info["loudness"]["level_source"].startswith("predicted")
    assert auto.info["loudness"]["level_db"] == pytest.approx(expected, abs=0.01)
    given = render_part(notes, beats, stem="bass", context_audio=context, sample_rate=22050, level_db=-3.0)
    assert given.info["loudness"]["level_source"] == "given" and given.info["loudness"]["level_db"] == -3.0
