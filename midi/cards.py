"""Model cards (``README.md``) for MIDI model folders, written from their ``config.json`` and the
evaluation tables saved next to it (``eval-valid.md``, ``eval-test.md``: the output of
``stemgen midi eval``, see ``EVAL_COMMAND``)."""

from __future__ import annotations

import json
from pathlib import Path

from stemgen.cards import write_card

DATASETS = {
    "tegridy_band_midi_nc": {
        "name": "Tegridy band MIDI subset (Project Los Angeles / Tegridy Code): songs with drums, bass and guitar",
        "license": "CC BY-NC-SA 4.0",
        "use": "**Non-commercial use only.** These weights are trained on CC BY-NC-SA 4.0 data (fan and karaoke "
               "arrangements of mostly copyrighted songs); they inherit the NonCommercial and ShareAlike terms. "
               "Attribution: Project Los Angeles / Tegridy Code.",
    },
    "groove_midi": {
        "name": "Groove MIDI Dataset v1.0.0 (Magenta; human drummers), drums only",
        "license": "CC BY 4.0",
        "use": "Commercial use allowed under CC BY 4.0 (attribute: Gillick et al., 2019, Groove MIDI Dataset).",
    },
}
EVAL_COMMAND = ("stemgen midi eval {data} --split {split} --stems {stem} --model-dir DIR  "
                "(DIR/{stem} -> this folder)")


def _dataset(root: str) -> dict:
    for key, ds in DATASETS.items():
        if key in root:
            return ds
    return {"name": root, "license": "see the data", "use": ""}


def _decoding_text(meta: dict) -> str:
    """What ``tune.py`` chose on the valid songs, in a sentence ('' when the model was not tuned)."""
    t = meta.get("decode_tuning")
    if not t:
        return ""
    col, chosen, plain = t["metric"], t["chosen"], t["as_calibrated"]
    settings = ", ".join(f"{k} {v}" for k, v in chosen["settings"].items())
    return (f" Decoding settings chosen on {t['songs']} validation songs (`midi/tune.py`): {settings} "
            f"({col} {chosen[col]:.3f}, density {chosen['density_ratio']:.2f}, groove {chosen['groove']:.2f}; "
            f"as calibrated: {plain[col]:.3f}).")


def _prior_text(meta: dict) -> str:
    """The register, length, style-rhythm, bar-groove, rest and velocity priors of ``config.json``
    (``register.py``, ``priors.py``, ``style.py``, ``velocity.py``), in a sentence each."""
    from .style import strength_text

    out = ""
    reg = meta.get("register")
    if reg and "intercept" in reg:
        out += (f" Octaves: each note's octave is chosen by the model's register logit plus a Gaussian prior (width "
                f"{reg['width']:g} semitones) around {reg['intercept']:g} + {reg['slope']:g} x the context's median pitch, "
                f"fitted on {reg['fitted_on']} (`midi/register.py`; width chosen on the {reg.get('width_chosen', 'valid split')}).")
    modes = (reg or {}).get("modes")
    if modes:
        c = modes["centers"]
        out += (f" Register words: an instruction that says \"deep\", \"low\", \"sub\" centres the octave prior (width "
                f"{reg['width']:g} semitones) on MIDI {c['low']:g}, \"mid-range\"/\"middle register\" on {c['mid']:g}, "
                f"\"high\", \"octave up\", \"up the neck\" on {c['high']:g} (the median pitch of the training "
                f"parts whose mean pitch is below {modes['bounds'][0]:g}, between, above {modes['bounds'][1]:g}; "
                f"fitted on "
                f"{modes['fitted_on']}; `midi/register.py`"
                + (f"; {modes['chosen']}" if modes.get("chosen") else "")
                + (f"; width chosen on the {reg['width_chosen']}" if "intercept" not in reg else "")
                + "); without such words "
                + ("the centre above." if "intercept" in reg else "the model's own octaves."))
    length = meta.get("length")
    if length:
        out += (f" Note length: the sustain logits are lowered by {length['sustain_bias']:g} (notes end sooner; "
                f"`midi/priors.py`; chosen on the {length.get('chosen', 'valid split')}).")
    sty = meta.get("style_rhythm")
    if sty:
        out += (f" Rhythm per style: the onset logits get strength ({strength_text(sty['strength'])}) x log(real share / "
                f"model share) of each 16th of the beat for the style the instruction names ({', '.join(sty['log_ratio'])}; "
                f"`midi/style.py`; {sty.get('provenance', '')}).")
    groove = meta.get("bar_groove")
    if groove:
        out += (f" One rhythm through the song: each bar's onset-logit shape is moved {groove['share']:g} of the way to the "
                f"song's common bar shape, each bar keeping its level (`midi/priors.py` with_bar_groove; chosen on the "
                f"{groove.get('chosen', 'valid split')}).")
    rests = meta.get("rests")
    if rests:
        out += (f" Rests: notes of a bar whose mean onset probability is under {rests['quiet_bar']:g} x the song's median "
                f"bar's are dropped (`midi/priors.py`; chosen on the {rests.get('chosen', 'valid split')}).")
    vel = meta.get("velocity")
    if vel:
        spread = (f"{vel['intercept']:g} + {vel['slope']:g} x the context's onset-velocity spread" if vel.get("slope")
                  else f"{vel['intercept']:g} in every song")
        out += (f" Velocities: redrawn around the part's own level with the real players' accents by metric "
                f"position and chord/single note, a strum step of {vel['strum']:g}, and a 10th-90th percentile spread "
                f"of {spread}, "
                f"fitted on {vel['fitted_on']} (`midi/velocity.py`).")
    return out


def write_model_card(folder: str | Path, command: str | None = None) -> Path:
    """Write ``folder/README.md`` describing the model, its data, license, training and figures."""
    folder = Path(folder)
    meta = json.loads((folder / "config.json").read_text())
    cfg, data = meta["config"], meta.get("data", {})
    roots = data.get("roots", [])
    datasets = [_dataset(r) for r in roots] or [_dataset("?")]
    if any(d["license"].startswith("CC BY-NC") for d in datasets):
        use = next(d["use"] for d in datasets if d["license"].startswith("CC BY-NC"))
    else:
        use = " ".join(d["use"] for d in datasets)
    if roots == ["groove_midi"] or (roots and all("groove" in r for r in roots)):
        use += (" The data has drums only, so this model learned drum patterns, the bar grid and the "
                "instruction, not how to follow the other instruments of a song.")
    size_mb = (folder / "model.safetensors").stat().st_size / 1e6
    metrics = "\n".join(f"| {k} | {v} |" for k, v in meta.get("metrics", {}).items() if k not in ("valid_f1_curve", "check_every"))
    scale = meta.get("decode", {}).get("density_scale")
    kept, every = (meta.get("metrics", {}).get(k) for k in ("kept_step", "check_every"))
    kept_text = (f"; the weights kept are the EMA at step {kept}, the best validation F1 of checks every "
                 f"{every} steps" if kept else "")
    st = meta.get("settings", {})
    cmd = command or meta.get("command") or f"stemgen midi train DATA --stem {cfg['stem']} --out {folder.name}"
    evals = ""
    for split in ("valid", "test"):
        table = folder / f"eval-{split}.md"
        if table.is_file():
            evals += f"\n### {split} split\n\n{table.read_text().strip()}\n"
    text = f"""# stemgen MIDI model: {folder.name} (adds {cfg['stem']})

A per-step part model (`midi/model.py`): a dilated 1-D convolution stack ({cfg['n_blocks']} blocks,
{cfg['width']} channels) over the shared context of 16th-note steps (`midi/context.py`: harmony, bass
note, band onsets, loudness, beat and bar position{", pitch salience" if cfg.get("context_channels", 34) > 34 else ""}; the same channels can be computed from audio),
FiLM-conditioned on the instruction (all-MiniLM-L6-v2). Trained with cross-entropy; decoding keeps the
expected number of onsets (calibrated on the validation songs: density scale {scale}) and the most
probable pitches.{_decoding_text(meta)}{_prior_text(meta)} Use: `stemgen midi generate SONG.mid --stem {cfg['stem']} --model models/midi/{folder.name} --out OUT.mid`.

## License and intended use
- Training data: {'; '.join(f"{d['name']} ({d['license']})" for d in datasets)}.
- {use}

## Training
- Command: `{cmd}`{(chr(10) + "- " + meta["note"]) if meta.get("note") else ""}
- Split: {data.get('split', 'song-level')}. Songs: {meta.get('train_songs')} train, {meta.get('valid_songs')} valid
  (the test split is never used in training).
- Augmentation: random transposition (±{st.get('transpose', '?')} semitones, context and target together),
  each other role dropped with p={st.get('role_drop', '?')}, all of them with p={st.get('solo_prob', '?')},
  instruction dropped with p={st.get('text_drop', '?')}.
- Steps: {meta.get('steps')} of batch {meta.get('batch_size')} windows of {cfg['window']} steps; {meta.get('train_cpu_seconds')} CPU seconds
  ({meta.get('train_seconds')} s wall) on a shared 2-core CPU, one thread, AdamW, cosine schedule, EMA weights{kept_text};
  dropout {cfg.get('dropout', 0.0)}.
- Parameters: {meta.get('parameters')}; weights stored as float16 safetensors ({size_mb:.2f} MB).

## Validation losses (held-out windows)
| metric | value |
|---|---|
{metrics}

## Evaluation (whole held-out songs, mean [95 % bootstrap interval over songs])
Command: `{EVAL_COMMAND.format(data='DATA', split='test', stem=cfg['stem'])}`; columns as in docs/EVALUATION.md.
{evals or "(not evaluated yet)"}

## Limitations
Trained for minutes on a CPU. The seed picks a take (`midi/sampling.py`: drawn at a temperature, drums
0.5, bass 0.3, guitar 0.1 by default; `--temperature 0` gives the most probable part); drums are decoded
with form (`midi/drum_form.py`: a groove per section, fills, crashes, rests) and Groove MIDI accents
(`midi/feel.py`), and the figures above are of the previous, step-by-step decoding (docs/EVALUATION.md,
"Drums with form, feel and takes", has the current ones). The model itself sees 16th steps, not bars:
triplets are quantised to sixteenths (swing is added back where the instruction asks); one velocity per step.
"""
    return write_card(folder, text)
