"""Model cards (``README.md``) for MIDI model folders, written from their ``config.json``."""

from __future__ import annotations

import json
from pathlib import Path

DATASETS = {
    "band": {
        "name": "Tegridy band MIDI subset (Project Los Angeles / Tegridy Code), 320 songs with drums, bass and guitar",
        "license": "CC BY-NC-SA 4.0",
        "use": "**Non-commercial use only.** These weights are trained on CC BY-NC-SA 4.0 data (fan and karaoke "
               "arrangements of mostly copyrighted songs); they inherit the NonCommercial and ShareAlike terms. "
               "Attribution: Project Los Angeles / Tegridy Code.",
    },
    "groove": {
        "name": "Groove MIDI Dataset v1.0.0 (Magenta; human drummers), drums only",
        "license": "CC BY 4.0",
        "use": "Commercial use allowed under CC BY 4.0 (attribute: Gillick et al., 2019, Groove MIDI Dataset). "
               "The data has drums only, so this model learned drum patterns, the bar grid and the instruction, "
               "not how to follow the other instruments of a song: use it where the band-data license does not fit.",
    },
}


def write_model_card(folder: str | Path) -> Path:
    """Write ``folder/README.md`` describing the model, its data, license and validation figures."""
    folder = Path(folder)
    meta = json.loads((folder / "config.json").read_text())
    cfg, data = meta["config"], meta.get("data", {})
    ds = DATASETS.get(data.get("note", ""), {"name": data.get("root", "?"), "license": "see the data", "use": ""})
    size_mb = (folder / "model.safetensors").stat().st_size / 1e6
    prior = meta.get("continued_from_steps") or 0
    cont = f" (continued from a {prior}-step run of ~80 CPU s; figures below are the continuation's)" if prior else ""
    metrics = "\n".join(f"| {k} | {v} |" for k, v in meta.get("metrics", {}).items())
    text = f"""# stemgen MIDI model: {folder.name} (adds {cfg['stem']})

A small diffusion model over the {cfg['stem']} lanes of a quantised multitrack grid
({cfg['steps_per_beat']} steps a beat, windows of {cfg['window']} steps), conditioned on the other
tracks and on an instruction embedded with all-MiniLM-L6-v2; classifier-free guidance on the text.
See `midi/model.py`. Use: `stemgen midi generate SONG.mid --stem {cfg['stem']} --model models/midi/{folder.name} --out OUT.mid`.

## License and intended use
- Training data: {ds['name']}. Data license: {ds['license']}.
- {ds['use']}

## Training
- Split: {data.get('split', 'song-level')}.
- Songs: {meta.get('train_songs')} train, {meta.get('valid_songs')} valid (held out; the test split is never used in training).
- Steps: {meta.get('steps')} of batch {meta.get('batch_size')} windows{cont}; {meta.get('train_cpu_seconds')} CPU seconds
  ({meta.get('train_seconds')} s wall) on a shared 2-core CPU, one thread, AdamW, cosine schedule, EMA weights.
- Parameters: {meta.get('parameters')}; weights stored as float16 safetensors ({size_mb:.2f} MB).

## Validation (held-out songs, 48 windows, 8 DDIM steps, guidance 1.5)
| metric | value |
|---|---|
{metrics}

`valid_onset_f1`: F1 of generated vs real onset cells; `valid_density_ratio`: generated/real onsets.

## Limitations
Trained for minutes on a CPU: patterns are simple and often repetitive; micro-timing (swing) and
triplets are quantised to sixteenths; velocities are coarse.
"""
    out = folder / "README.md"
    out.write_text(text)
    return out
