"""The model card of an arranger part model (``models/arranger/<stem>/README.md``)."""

from __future__ import annotations

import json
from pathlib import Path

from stemgen.cards import write_card

from .evaluate import F1_COLUMN

# How the bundled arranger data were built (recorded on cards of models trained before the data
# command was stored in their metadata).
DATA_COMMAND = ("nice -n 5 .venv/bin/python scripts/build_arranger_data.py --root ../shared/data/tegridy_band_midi_nc "
                "--out {out} --splits test,valid,train --max-seconds 60 --workers 2")
FLOORS = (0.0, 0.1, 0.2, 0.3)  # onset floors the training chooses among on the validation songs


def _init_note(init: str) -> str:
    """What else the starting MIDI model was trained on (its config's data roots)."""
    try:
        roots = json.loads((Path(init) / "config.json").read_text()).get("data", {}).get("roots", [])
    except (OSError, ValueError):
        return ""
    if any("groove_midi" in str(r) for r in roots):
        return f" (The starting MIDI model, `{init}`, was also trained on Groove MIDI, CC BY 4.0.)"
    return ""


def write_arranger_card(out: Path, stem: str, meta: dict) -> None:
    """The model card (``README.md``) of an arranger part model from its training metadata."""
    ev = meta["evaluation"]
    cols = [c for c in ("note_f1", "pc_f1", "drum_f1", "onset_f1", "density_ratio", "in_chord")
            if any(ev["table"][n].get(c) is not None for n in ev["table"])]
    lines = ["| system | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 1)]
    for name, row in ev["table"].items():
        lines.append(f"| {name} | " + " | ".join("-" if row[c] is None else f"{row[c]:.3f}" for c in cols) + " |")
    text = f"""---
license: cc-by-nc-sa-4.0
tags: [stemgen, arranger, {stem}]
---
# stemgen arranger part model: {stem}

The audio arranger's part model for **{stem}**: from the {meta.get('context_channels', 34)}-channel context that `stemgen.analysis`
computes on a song's audio (chroma, bass chroma, band onset strengths, loudness, detected beats and
downbeats{", pitch salience" if meta.get('context_channels', 34) > 34 else ""}, per detected 16th-note step) and an instruction (MiniLM embedding), it predicts the
{stem} part per step; `stemgen.midi.features.decode_output` turns that into notes on the detected
grid. Same architecture, channels and output format as the MIDI engine's part model
(`stemgen.midi.model.PartModel`, `config.json` kind `stemgen-part-model-v1`).

**Selected: {meta['selected']}** ({_selection_note(meta, stem)}).

## Training data and license

Band MIDI set (`tegridy_band_midi_nc`), **CC BY-NC-SA 4.0: non-commercial use only** — these weights
are trained on it and inherit that restriction.{_init_note(meta['init'])} Subtractive training on audio: each song rendered
with the project's SoundFont renderer and seeded augmentation (SoundFont, program within its GM
family, velocity, stem gain; {meta['data']['variants']} variant per song, first {meta['data']['max_seconds']} s of each song),
the {stem} removed, the other stems' mix analysed by `stemgen.analysis` exactly as at generation
time, the removed part put on the detected 16th grid. Song-level split (`stemgen.midi.splits`):
{meta['data']['train_songs']} training examples from {meta['data']['train_unique_songs']} songs, {meta['data']['valid_songs']} validation songs
(density calibration), {ev['songs']} test songs (table below); no song is in two splits.
Songs whose context has no usable beat (`stemgen.analysis.refusal_reason`) are left out, and so
are training songs with fewer than {meta.get('min_grid_match', 0.0):g} of the part's onsets on the detected grid (their
target would teach timing noise) and test songs with fewer than 8 notes of the part in the excerpt.
Data command: `{meta.get("data_command", _data_command(meta["data"]))}`
{_grid_lines(meta['data'].get('per_split') or {})}

## Training

Initialised from `{meta['init']}` (the MIDI engine's model, {meta['init_steps']} steps on MIDI contexts), fine-tuned
{meta['fine_tune_steps']} steps (batch {meta['batch_size']}, lr {meta['lr']}, EMA) on audio contexts on a CPU
({meta['train_cpu_seconds']} CPU s); the weights here are the **{meta['selected']}** model. {_decode_note(meta, stem)}{_kept_note(meta)} Command:

```
{meta['command']}
```

## Held-out evaluation (test split, audio contexts, detected grid)

Mean over {ev['songs']} test songs; F1s are onset-only on 16th cells (`stemgen.midi.metrics`, mir_eval's
definition), density ratio = generated / real onsets, in-chord = share of notes whose pitch class
sounds in the other tracks at the onset. `midi_as_is` = the MIDI model applied to audio contexts
unchanged, `midi_recalibrated` = the same with its onset-count calibration redone on the validation
songs' audio contexts, `fine_tuned` = after the audio fine-tuning, `real` = the real part (the ceiling
check: F1 1), `real_shifted` = the real part one 16th late (a check that the scores punish a misplaced
part).

{chr(10).join(lines)}

{_diff_lines(ev)}
Limitations: targets and scores are on the *detected* grid: where beat tracking misplaces the grid,
the real part itself sits off it (see `grid_match` in the data summary). Rendered MIDI is cleaner than
produced recordings; numbers on real recordings will be lower.
"""
    write_card(out, text)


def _data_command(data: dict) -> str:
    """The data build command, with the tracker the contexts were analysed by (the DSP's unless recorded)."""
    from stemgen.analysis import BEAT_TRACKERS

    name = {backend: name for name, backend in BEAT_TRACKERS.items()}[data.get("beat_tracker", "numpy")]
    return DATA_COMMAND.format(out=data.get("cache", "/tmp/arranger_data2")) + f" --beat-tracker {name}"


def _decode_note(meta: dict, stem: str) -> str:
    """The onset calibration: the MIDI model's own for its weights as is, else redone on the valid songs."""
    decode = meta["decode"]
    if meta["selected"] == "midi_as_is":
        return (f"Decoding (`config.json` `decode`): the MIDI model's own onset calibration (`density_scale` "
                f"{decode.get('density_scale')}, onset floor {decode.get('floor', 0.0)}, chosen on MIDI contexts).")
    return (f"Decoding (`config.json` `decode`): onset counts scaled by `density_scale` {decode.get('density_scale')} "
            f"(real / expected onsets on the validation songs' audio contexts), onset floor {decode.get('floor', 0.0)} "
            f"(chosen on the validation songs among {', '.join(f'{f:g}' for f in FLOORS)}: "
            f"{decode.get('floor_valid_' + F1_COLUMN[stem], 'n/a')}).")


def _selection_note(meta: dict, stem: str) -> str:
    """How the weights were chosen: on the validation songs' F1 (the test songs scored once, below)."""
    key = F1_COLUMN[stem]
    valid = meta.get("valid_evaluation")
    if not valid:
        return "the fine-tuned model; no validation songs to choose on" if "valid_evaluation" in meta else \
            f"the best on the held-out songs' {key}"
    scores = ", ".join(f"{n} {row[key]:.3f}" for n, row in valid["table"].items() if n not in ("real", "real_shifted"))
    return f"the best {key} on the {valid['songs']} validation songs: {scores}"


def _kept_note(meta: dict) -> str:
    """Which decoding settings were carried over from an earlier arranger model (``--keep-settings``)."""
    kept = meta.get("settings_kept_from")
    if not kept:
        return ""
    return (f" Kept from `{kept['folder']}` (chosen there on rendered validation songs, not re-chosen for these "
            f"weights): {', '.join(f'`{k}`' for k in kept['keys']) or 'nothing'}.")


def _diff_lines(ev: dict) -> str:
    """Paired differences to the MIDI model as is (mean and 95% bootstrap interval over songs)."""
    lines = [f"- {name} - midi_as_is, {d['metric']}: {d['mean']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}] (paired over songs)"
             for name, d in ev.get("vs_midi_as_is", {}).items()]
    return "\n".join(lines)


def _grid_lines(per_split: dict) -> str:
    """What the data summary says about the detected grid, per split."""
    lines = []
    for split, v in per_split.items():
        if v:
            lines.append(f"- {split}: {v['examples']} examples, {v['refused']} refused (no usable beat); share of the "
                         f"part's onsets on the detected grid: mean {v.get('grid_match_mean')}, median "
                         f"{v.get('grid_match_median')}; on the {v.get('quantised_parts')} parts quantised to their MIDI "
                         f"16ths: mean {v.get('grid_match_mean_quantised')}")
    return "\n".join(lines)
