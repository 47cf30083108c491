"""Fit the arranger guitar's style rhythm prior from the repository (issue 19): the train songs of
the band MIDI set, each song's first minute rendered without its guitar and analysed as the arranger
analyses a user's song (``arranger_form.guitar_on_steps``, the evaluation's own path), the real
part's onsets put on the analysed steps; then ``midi.style.fit_style_rhythm_contexts`` asks the
arranger's part model in every style's words on each song and stores the prior in its
``config.json`` (``midi.style.store_style_rhythm``).

The analysed songs are cached under ``--cache`` in a folder named after the analysis code's key
(``midi.audio_examples.analysis_key``), one ``.npz`` per song, so a refit after a change of the
decoding settings reuses them and a change of the analysis code analyses again::

    OMP_NUM_THREADS=1 nice -n 10 python -m stemgen.evaluation.arranger_style_fit \\
        /work/shared/data/tegridy_band_midi_nc --cache /tmp/style_cache \\
        --store models/arranger/guitar --strength 0.8 --passes 8

(about 1.5 s a song to render and analyse, 260 train songs; then the passes.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def cache_folder(cache: str | Path, beat_tracker: str | None = None) -> Path:
    """``cache/<analysis key>`` (``<analysis key>-<backend>`` for a tracker other than the default):
    analysed songs of other analysis code or another tracker are never read."""
    from stemgen.analysis import analysis_backend
    from stemgen.midi.audio_examples import analysis_key

    backend = analysis_backend(beat_tracker)
    return Path(cache) / (analysis_key() if backend == analysis_backend(None) else f"{analysis_key()}-{backend}")


def analysed_example(path: Path, folder: Path, backend) -> tuple[str, np.ndarray, np.ndarray] | None:
    """``(style, context, onset steps)`` of one song: its style, the ``(106, T)`` analysed context and
    the real guitar's distinct onset steps on it, read from ``folder`` or analysed and written there
    (``None``, also cached, for a song without a styled guitar part or a usable beat)."""
    from stemgen.fileio import atomic_output

    from .arranger_form import guitar_on_steps

    file = folder / f"{path.stem}.npz"
    if not file.is_file():
        got = guitar_on_steps(path, backend)
        arrays = {}
        if got is not None:
            from stemgen.midi.context import context_from_analysis

            style, real, analysis = got
            arrays = {"style": np.asarray(style), "context": context_from_analysis(analysis).astype(np.float32),
                      "onsets": np.unique(np.asarray([n[0] for n in real], np.int64))}
        with atomic_output(file) as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, **arrays)
    with np.load(file) as z:
        if "style" not in z:
            return None
        return str(z["style"]), z["context"], z["onsets"]


def unstyled_sentences(files: list) -> list[str | None]:
    """Per song, the offline writer's sentence for its guitar part (``midi.evaluate.song_instructions``
    "described": what ``arranger_form --instructions described`` asks, and the kind of sentence
    ``stemgen eval``'s windows carry) when it names no style (``style.has_style_words``), else None."""
    from stemgen.midi.evaluate import load_song, song_instructions
    from stemgen.midi.style import has_style_words

    texts = song_instructions([load_song(f) for f in files], "guitar", "described")
    return [None if has_style_words(t) else t for t in texts]


def train_examples(data: str | Path, cache: str | Path, max_songs: int | None = None,
                   sentences: bool = True, beat_tracker: str | None = None) -> list[tuple]:
    """``(style, context, share, sentence)`` of every train song of ``data`` with a styled guitar part
    of at least ``MIN_NOTES`` onsets (``share``: ``style.beat_position_share`` of its onsets;
    ``sentence``: ``unstyled_sentences``, or None for every song without ``sentences``), analysed songs
    cached under ``cache_folder(cache, beat_tracker)``, analysed with ``beat_tracker`` (None: the default)."""
    from tqdm import tqdm

    from stemgen.analysis import analysis_backend
    from stemgen.midi.evaluate import MIN_NOTES
    from stemgen.midi.splits import files_in_split
    from stemgen.midi.style import beat_position_share, beat_positions

    folder = cache_folder(cache, beat_tracker)
    folder.mkdir(parents=True, exist_ok=True)
    backend = analysis_backend(beat_tracker)
    files = files_in_split(data, "train")[:max_songs]
    texts = unstyled_sentences(files) if sentences else [None] * len(files)
    out = []
    for path, sentence in tqdm(zip(files, texts), total=len(files), desc="train songs", unit="song"):
        got = analysed_example(Path(path), folder, backend)
        if got is None or got[2].size < MIN_NOTES:
            continue
        style, context, onsets = got
        share = beat_position_share([(int(t),) for t in onsets], beat_positions(context))
        out.append((style, context, share, sentence))
    return out


def main(argv: list[str] | None = None) -> None:
    """``python -m stemgen.evaluation.arranger_style_fit DATA --cache DIR --store MODEL_DIR --strength S
    [--passes N] [--max-songs N] [--unstyled-figures clean|fitted]``: fit the arranger guitar's style rhythm prior on DATA's train songs
    and store it in MODEL_DIR/config.json (``--strength``: one number, or ``style=value,...`` per
    style, ``plain`` and ``unstyled``, chosen on the valid split with ``arranger_form --styles``,
    ``--instructions none|described`` and ``stemgen eval``'s windows)."""
    import argparse
    import json

    from stemgen.errors import StemgenError
    from stemgen.midi.evaluate import MIN_NOTES
    from stemgen.midi.generate import MidiGenerator
    from stemgen.midi.style import UNSTYLED, fit_style_rhythm_contexts, store_style_rhythm

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("data")
    ap.add_argument("--cache", type=Path, required=True, help="folder of the analysed train songs (reused)")
    ap.add_argument("--store", type=Path, required=True, help="the arranger's guitar model folder")
    ap.add_argument("--strength", required=True,
                    help="0.8, or acoustic=1,clean=0.8,... (every style, plain and unstyled: the "
                    "offline writer's sentences without style words)")
    ap.add_argument("--passes", type=int, default=8, help="fitting passes (midi.style.fit_style_rhythm_contexts)")
    ap.add_argument("--max-songs", type=int, default=None, help="the first N train songs (a quick check)")
    ap.add_argument("--chosen", default="", help="what the strength was chosen on (stored as provenance)")
    ap.add_argument("--unstyled-figures", choices=("clean", "fitted"), default="clean",
                    help="sentences without style words: the clean figures at the unstyled strength (default), "
                    "or figures fitted on the offline writer's sentences (docs/EVALUATION.md: they cost "
                    "the valid windows' onset F)")
    ap.add_argument("--beat-tracker", default=None, choices=("dsp", "learned", "learned-cc"),
                    help="the analysis the prior is fitted on (default: the arranger's default tracker)")
    args = ap.parse_args(argv)
    try:
        strength = parse_strength(args.strength)
    except ValueError as exc:
        ap.error(str(exc))
    try:
        generator = MidiGenerator("guitar", args.store)
    except StemgenError as exc:
        ap.error(str(exc))
    generator.meta.pop("style_rhythm", None)  # the fit starts from the model's own parts
    examples = train_examples(args.data, args.cache, args.max_songs, sentences=args.unstyled_figures == "fitted",
                              beat_tracker=args.beat_tracker)
    if not examples:
        ap.error(f"{args.data}: no train song with a styled guitar part of at least {MIN_NOTES} onsets; nothing stored")
    fitted = fit_style_rhythm_contexts(examples, generator, args.passes)
    keys = set(fitted["log_ratio"])
    if isinstance(strength, dict) and (not keys <= set(strength) or set(strength) - keys - {UNSTYLED}):
        ap.error(f"--strength names {sorted(strength)}; the fit has {sorted(keys)}")
    unstyled = sum(ex[3] is not None for ex in examples)
    asked = (f"and in the offline writer's sentence for the part on the {unstyled} songs whose sentence names no "
             f"style ({UNSTYLED})" if unstyled else "(sentences without style words: the clean figures)")
    source = (f"the first minute of each of the {len(examples)} train songs of {args.data} with a styled guitar part, "
              f"rendered without its guitar and analysed (analysis {cache_folder(args.cache, args.beat_tracker).name}; "
              f"python -m stemgen.evaluation.arranger_style_fit), the model asked in each style's words and "
              f"\"Add guitar\" on each {asked}, {args.passes} passes")
    print(json.dumps(store_style_rhythm(args.store, strength, fitted, source, args.chosen)))


def parse_strength(text: str) -> float | dict[str, float]:
    """``"0.8"`` -> 0.8; ``"acoustic=1,clean=0.8"`` -> a dict; ``ValueError`` naming the option otherwise."""
    try:
        if "=" not in text:
            return float(text)
        return {k.strip(): float(v) for k, v in (part.split("=") for part in text.split(","))}
    except ValueError:
        raise ValueError(f"--strength must be a number or style=number,... , got {text!r}") from None


if __name__ == "__main__":
    main()
