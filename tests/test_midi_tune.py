"""Decoding settings chosen on valid songs score what `stemgen midi eval` scores with them."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from stemgen.midi.evaluate import evaluate
from stemgen.midi.features import N_PITCHES, ONSET, PC0, REG0, SUSTAIN, decode_output, decode_with
from stemgen.midi.generate import DEFAULT_MODEL_DIR, MidiGenerator
from stemgen.midi.splits import files_in_split
from stemgen.midi.tune import candidates, tune_decoding, tune_model_folder

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _logit(p):
    return float(np.log(p / (1 - p)))


def test_chord_threshold_keeps_the_likely_pitches_and_always_one():
    out = np.full((REG0 + N_PITCHES, 3), -20.0, np.float32)
    out[ONSET] = 5.0
    out[SUSTAIN] = -5.0
    out[PC0 : REG0] = 0.0
    lane_prob = {0: [0.9, 0.5, 0.3], 1: [0.9, 0.1, 0.05], 2: [0.1, 0.08, 0.05]}  # three lanes each step
    for step, probs in lane_prob.items():
        for lane, p in zip((12, 16, 19), probs):
            out[REG0 + lane, step] = _logit(p)
    by_step = lambda notes: {s: sorted(p - 40 for n_s, _, p, _ in notes if n_s == s) for s in range(3)}  # noqa: E731
    notes = decode_output(out, "guitar", chord_threshold=0.25)
    assert by_step(notes) == {0: [12, 16, 19], 1: [12], 2: [12]}
    assert by_step(decode_output(out, "guitar", chord_threshold=0.6)) == {0: [12], 1: [12], 2: [12]}
    # Without a threshold: as many pitches as the probabilities add up to (1.7 -> 2, 1.05 -> 1).
    assert by_step(decode_output(out, "guitar"))[0] == [12, 16]
    assert decode_with(out, "guitar", {"chord_threshold": 0.25}) == notes


def test_onset_factor_multiplies_the_onset_count():
    out = np.full((REG0 + N_PITCHES, 40), 0.0, np.float32)
    out[ONSET] = _logit(0.25)  # 10 onsets expected
    assert len({n[0] for n in decode_with(out, "bass", {"onset_factor": 1.2})}) == 12
    assert len({n[0] for n in decode_with(out, "bass", {"onset_factor": 1.2}, density=0.5)}) == 6


def test_candidates_cover_each_stems_settings():
    assert all(set(c) <= {"onset_factor", "floor"} for c in candidates("drums"))
    assert any("chord_threshold" in c for c in candidates("guitar"))
    assert all(set(c) == {"onset_factor"} for c in candidates("bass"))


def test_tuning_scores_equal_the_evaluation_and_the_choice_is_written(band_midi_dir, tmp_path):
    files = files_in_split(band_midi_dir, "valid")[:4]
    gen = MidiGenerator("guitar")  # tuning scores the take the generator plays (seed 0 at its temperature)
    result = tune_decoding(gen, files)
    assert result["songs"] >= 3 and result["metric"] == "note_f1"
    scores = {json.dumps(c["settings"], sort_keys=True): c for c in result["candidates"]}
    assert len(scores) == len(candidates("guitar"))
    # Two settings re-scored by the evaluation itself, with the generator decoding that way.
    for settings in (result["chosen"], {"onset_factor": 0.9, "chord_threshold": 0.4}):
        gen.meta["decode"] = {"density_scale": gen.meta["decode"]["density_scale"], **settings}
        table = evaluate(files, ("guitar",), {"guitar": gen}, progress=False, baselines=())["table"]["guitar"]
        got = scores[json.dumps(settings, sort_keys=True)]
        assert table["generated"]["note_f1"] == pytest.approx(got["note_f1"], abs=1e-3)
        assert table["generated"]["density_ratio"] == pytest.approx(got["density_ratio"], abs=1e-3)
    # The best F1 among the settings within the density and groove limits; none: the calibrated default.
    allowed = [c for c in result["candidates"] if c["within_limits"]]
    best = max(allowed, key=lambda c: c["note_f1"])["settings"] if allowed else {"onset_factor": 1.0}
    assert best == result["chosen"]
    # Written into a model folder's config.json, which the generator then decodes with.
    folder = tmp_path / "guitar"
    shutil.copytree(DEFAULT_MODEL_DIR / "band-guitar", folder)
    tune_model_folder(folder, files)
    meta = json.loads((folder / "config.json").read_text())
    assert {k: meta["decode"][k] for k in result["chosen"]} == result["chosen"]
    assert meta["decode_tuning"]["chosen"]["settings"] == result["chosen"] and "density_scale" in meta["decode"]
    assert MidiGenerator("guitar", folder).meta["decode"] == meta["decode"]
