"""The part model's context, targets, decoding and network on real band songs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from midi_helpers import make_midi
from stemgen.errors import StemgenInputError
from stemgen.midi.context import (
    CHANNELS,
    N_CONTEXT,
    SLICES,
    combine,
    context_from_grid,
    position_features,
    role_components,
)
from stemgen.midi.features import (
    N_DRUM,
    ONSET,
    PC0,
    REG0,
    SUSTAIN,
    VELOCITY,
    decode_output,
    drum_lanes,
    encode_target,
    output_channels,
    role_rolls,
)
from stemgen.midi.model import MidiModelConfig, PartModel, load_model, save_model
from stemgen.midifile.grid import roll_to_notes, song_to_grid
from stemgen.midifile.io import load_midi
from stemgen.midifile.lanes import DRUM_CLASS_OF_PITCH, PITCH_LOW, fold_into_range
from stemgen.midifile.subtract import strip_role


@pytest.fixture(scope="module")
def band_song(band_midi_dir):
    path = sorted(band_midi_dir.glob("*.mid"))[0]
    return path, song_to_grid(load_midi(path), 4)


def test_context_channels_follow_the_contract():
    assert N_CONTEXT == len(CHANNELS) == 106
    assert CHANNELS[:2] == ("chroma_0", "chroma_1") and "onset_low" in CHANNELS
    # The 34 channels older models were trained on stay a prefix; the pitch group comes after.
    assert CHANNELS[33] == "bar_phase_1" and SLICES["pitch"] == slice(34, 106) and CHANNELS[-1] == "pitch_71"


def test_context_of_a_chord_and_its_transposition():
    # C major triad (C3 E3 G3, velocity 90) for one bar on a piano, nothing else.
    notes = [(0, 0, p, 0, 4 * 480) for p in (48, 52, 55)]
    grid = song_to_grid(load_midi("c.mid", make_midi(notes=notes)), 4)
    ctx = context_from_grid(grid, "drums")
    chroma = ctx[SLICES["chroma"], 0]
    assert np.allclose(chroma[[0, 4, 7]], 1.0) and np.allclose(np.delete(chroma, [0, 4, 7]), 0.0)
    assert ctx[SLICES["bass_chroma"], 0].argmax() == 0 and ctx[SLICES["bass_chroma"], 0].sum() == 1
    assert ctx[SLICES["onset_mid"], 0] == pytest.approx(90 / 127) and ctx[SLICES["onset_mid"], 1] == 0
    assert ctx[SLICES["energy"], 0] == pytest.approx(1 - np.exp(-3 * 90 / 127 / 3), abs=1e-5)
    assert ctx[SLICES["downbeat"], 0] == 1 and ctx[SLICES["downbeat"], 1:16].sum() == 0
    assert ctx[SLICES["beat"], :16].sum() == 4
    pitch = ctx[SLICES["pitch"], 0]  # C3 E3 G3 = context pitches 48, 52, 55 = rows 24, 28, 31
    assert np.flatnonzero(pitch).tolist() == [24, 28, 31] and np.allclose(pitch[[24, 28, 31]], 1.0)
    up2 = combine([role_components(grid, "other")], position_features(grid), transpose=2)
    assert np.allclose(up2[SLICES["chroma"], 0], np.roll(chroma, 2)) and up2[SLICES["bass_chroma"], 0].argmax() == 2
    assert np.flatnonzero(up2[SLICES["pitch"], 0]).tolist() == [26, 30, 33]  # shifted, not rolled
    down30 = combine([role_components(grid, "other")], position_features(grid), transpose=-30)
    assert np.flatnonzero(down30[SLICES["pitch"], 0]).tolist() == [1]  # C3, E3 fall off the bottom, G3 -> C#1


def test_pitch_context_folds_notes_outside_its_range():
    notes = [(0, 0, 12, 0, 480), (0, 0, 120, 0, 480)]  # C0 and C9: folded to C1 (row 0) and C6 (row 60)
    grid = song_to_grid(load_midi("x.mid", make_midi(notes=notes)), 4)
    assert np.flatnonzero(context_from_grid(grid, "drums")[SLICES["pitch"], 0]).tolist() == [0, 60]


def test_context_removes_the_stem_like_deleting_its_tracks(band_song):
    path, grid = band_song
    for stem in ("drums", "bass", "guitar"):
        stripped = song_to_grid(load_midi(path, strip_role(path.read_bytes(), stem)), 4)
        a, b = context_from_grid(grid, stem), context_from_grid(stripped, stem)
        assert a.shape == (N_CONTEXT, grid.n_steps) and np.allclose(a[:, : b.shape[1]], b)
        assert (a >= -1).all() and (a <= 1).all()
    # Without drums the high band loses the hi-hats and cymbals.
    hi = SLICES["onset_high"]
    assert context_from_grid(grid, "drums")[hi].sum() < 0.5 * context_from_grid(grid, "bass")[hi].sum()


def _perfect_output(grid, stem) -> np.ndarray:
    """The logits a perfect model would give for the real part (±12)."""
    tgt = encode_target(grid, stem)
    T = grid.n_steps
    out = np.full((output_channels(stem), T), -12.0, np.float32)
    if stem == "drums":
        hit = tgt["drums"] > 0
        out[:N_DRUM] = np.where(hit, 12.0, -12.0)
        out[N_DRUM:] = 1.0
        return out
    on, sus = tgt["onset"], tgt["sustain"]
    hit = on.max(axis=0) > 0
    out[ONSET] = np.where(hit, 12.0, -12.0)
    out[SUSTAIN] = np.where(sus.any(axis=0) & ~hit, 12.0, -12.0)
    out[VELOCITY] = 0.5
    out[PC0:REG0] = 0.0
    out[REG0:] = np.where(on > 0, 12.0, -12.0)
    return out


def test_decoding_a_perfect_prediction_gives_back_the_real_part(band_song):
    _, grid = band_song
    onset, _ = role_rolls(grid, "drums")
    real = {(s, int(DRUM_CLASS_OF_PITCH[p])) for s, _, p, _ in roll_to_notes(onset, None, drum_steps=1)}
    got = {(s, int(DRUM_CLASS_OF_PITCH[p])) for s, _, p, _ in decode_output(_perfect_output(grid, "drums"), "drums")}
    assert got == real
    onset, sustain = role_rolls(grid, "bass")
    real = roll_to_notes(onset, sustain)
    lowest = {}
    for s, e, p, _ in real:  # one note a step: the lowest (folded into the bass range)
        q = int(fold_into_range(np.array([p]), PITCH_LOW["bass"])[0])
        lowest[s] = min(lowest.get(s, 999), q)
    got = decode_output(_perfect_output(grid, "bass"), "bass")
    assert [(s, p) for s, _, p, _ in got] == sorted(lowest.items())
    # Half the density, half the notes (the most probable ones are kept).
    assert len(decode_output(_perfect_output(grid, "bass"), "bass", density=0.5)) == round(len(got) / 2)


def test_whole_song_pass_matches_training_windows():
    """Per-step normalisation: a window's output is the song's output there (away from the edges)."""
    torch.manual_seed(0)
    model = PartModel(MidiModelConfig("bass", width=16, n_blocks=4)).eval()
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.2)
    ctx, text = torch.rand(1, N_CONTEXT, 400), torch.randn(1, 384)
    with torch.no_grad():
        full = model(ctx, text)
        part = model(ctx[:, :, 100:300], text)
    rf = 2 * (1 + 2 + 4 + 8) + 2
    assert torch.allclose(full[:, :, 100 + rf : 300 - rf], part[:, :, rf:-rf], atol=1e-5)


def test_save_load_and_old_format_error(tmp_path):
    model = PartModel(MidiModelConfig("guitar", width=16, n_blocks=2))
    save_model(model, tmp_path / "m", {"decode": {"density_scale": [0.9]}})
    loaded, meta = load_model(tmp_path / "m")
    assert loaded.config.width == 16 and meta["decode"]["density_scale"] == [0.9]
    old = tmp_path / "old"
    old.mkdir()
    (old / "config.json").write_text(json.dumps({"config": {"stem": "bass", "width": 64}}))
    (old / "model.safetensors").write_bytes((tmp_path / "m" / "model.safetensors").read_bytes())
    with pytest.raises(StemgenInputError, match="old-format"):
        load_model(old)
    (old / "config.json").write_text("{not json")
    with pytest.raises(StemgenInputError, match="unreadable"):
        load_model(old)


def test_drum_lanes_keep_the_loudest_hit_per_class():
    onset = np.zeros((4, 128), np.uint8)
    onset[0, 36], onset[0, 35], onset[2, 42] = 100, 120, 70
    lanes = drum_lanes(onset)
    assert lanes[0, 0] == 120 and lanes[2, 2] == 70 and lanes.sum() == 190


def test_floor_drops_unlikely_hits_but_keeps_the_count_rule():
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    out = np.full((2 * N_DRUM, 40), logit(0.001), np.float32)
    out[0, :4] = logit(0.9)  # four sure kicks
    out[1, :] = logit(0.2)  # snare: 8 expected hits, none likely
    plain = decode_output(out, "drums")
    floored = decode_output(out, "drums", floor=0.25)
    kicks = lambda notes: [n for n in notes if DRUM_CLASS_OF_PITCH[n[2]] == 0]  # noqa: E731
    assert len(kicks(plain)) == len(kicks(floored)) == 4
    assert len(plain) == 4 + 8 and len(floored) == 4


def test_transposed_targets_stay_in_their_octave_when_pushed_off_the_lanes():
    from stemgen.midi.train import transpose_lanes

    lanes = np.zeros((48, 3), np.uint8)
    lanes[4, 0], lanes[47, 1], lanes[20, 2] = 90, 50, 70  # E1, B4 and G#2 over the bass lanes (C1..B4)
    down = transpose_lanes(lanes, -5)  # E1 - 5 = B0, below the lanes: back up an octave to B1 (lane 11)
    assert list(zip(*np.nonzero(down))) == [(11, 0), (15, 2), (42, 1)] and down[11, 0] == 90
    up = transpose_lanes(lanes > 0, 3)  # B4 + 3 = D5, above: down an octave to D4 (lane 38)
    assert up.dtype == bool and list(zip(*np.nonzero(up))) == [(7, 0), (23, 2), (38, 1)]


def test_a_model_of_the_first_34_channels_reads_their_prefix(tmp_path):
    from stemgen.midi.generate import MidiGenerator

    torch.manual_seed(0)
    old = PartModel(MidiModelConfig("bass", width=16, n_blocks=2, context_channels=34))
    new = PartModel(MidiModelConfig("bass", width=16, n_blocks=2))
    assert old.copy is None and new.copy is not None
    for p in old.parameters():
        torch.nn.init.normal_(p, std=0.3)
    save_model(old, tmp_path / "old")
    gen = MidiGenerator("bass", tmp_path / "old")
    old = load_model(tmp_path / "old")[0]  # the weights as saved (float16)
    ctx = np.random.default_rng(0).random((N_CONTEXT, 64)).astype(np.float32)
    with torch.no_grad():
        want = old(torch.from_numpy(ctx[None, :34]), torch.from_numpy(gen.embed("Add bass."))[None])[0].numpy()
    assert np.allclose(gen.predict(ctx, "Add bass."), want, atol=1e-5)


def test_the_pitch_path_lets_a_context_pitch_raise_that_register_logit():
    torch.manual_seed(0)
    model = PartModel(MidiModelConfig("guitar", width=16, n_blocks=2)).eval()
    with torch.no_grad():
        model.copy.weight.zero_()
        model.copy.weight[24, 40, 0] = 5.0  # guitar lane 24 (40 + 24 = E4) copies context row 40 (24 + 40 = E4)
        ctx = torch.zeros(1, N_CONTEXT, 8)
        base = model(ctx, torch.zeros(1, 384))
        ctx[0, SLICES["pitch"].start + 40, 3] = 1.0
        moved = model(ctx, torch.zeros(1, 384)) - base
    assert moved[0, REG0 + 24, 3] == pytest.approx(5.0, abs=1e-4)
    assert moved[0, REG0 + 24].abs().sum() == pytest.approx(5.0, abs=1e-4) and moved[0, : REG0].abs().max() < 1e-4
