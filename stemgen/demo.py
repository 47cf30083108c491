"""``make demo``: the main job on the bundled example input, offline.

Builds a small drums dataset from the bundled Slakh stems and MIDI (rendered with the SoundFont
synthesizer), then adds drums to the opening of a bundled CC BY mix with no drums (Tchaikovsky's
Dance of the Sugar Plum Fairy, Kevin MacLeod) with the default engine for drums
(``DEFAULT_ENGINE``: the arranger, which also writes the part as a .mid whose tempo map follows
the detected beats; ``--engine diffusion`` uses the bundled spectrogram model, with fewer sampler
steps than ``stemgen generate``'s default so the demo stays within a few minutes on a 2-core CPU),
and writes the stem, the new mix and a before/after spectrogram PNG.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
OUT = Path.cwd() / "demo_out"
DEMO_MIX = EXAMPLES / "mixes" / "Kevin_MacLeod_-_P_I_Tchaikovsky_Dance_of_the_Sugar_Plum_Fairy.ogg"
DEMO_SECONDS = 20.0  # the opening of the piece: four windows of the compact codec
DEMO_STEPS = 12  # sampler steps (the CLI default is 25)
DEMO_INSTRUCTION = "Add soft drums with a steady groove"


def build_demo_dataset(out_dir: Path) -> dict:
    from stemgen.data.builder import BuildConfig, build_dataset

    config = BuildConfig(out_dir=out_dir, stem="drums", preset="riffusion")
    summary = build_dataset([EXAMPLES / "stems", EXAMPLES / "midi"], config)
    return summary.to_dict()


def main(argv: list[str] | None = None) -> int:
    import argparse

    from stemgen.generation.defaults import DEFAULT_ENGINE, ENGINES

    ap = argparse.ArgumentParser(description="make demo: build a small dataset, then add drums to a bundled mix")
    ap.add_argument("--engine", choices=ENGINES, default=DEFAULT_ENGINE["drums"])
    args = ap.parse_args(argv)
    print(f"stemgen demo: building a drums dataset from {EXAMPLES.relative_to(REPO)}/ ...", flush=True)
    summary = build_demo_dataset(OUT / "dataset")
    print(json.dumps({k: summary[k] for k in ("manifest", "items", "splits", "skipped", "instructions", "errors")}, indent=1))
    first = _first_row(OUT / "dataset")
    if first:
        print(f"\nexample: {first['id']}\n  caption: {first['caption']}\n  instruction: {first['instruction']}")
        print(f"  audio: {OUT / 'dataset' / first['mix_audio']} (+ _context, _stem)")
    print(f"\ndataset written to {OUT / 'dataset'}")
    if not summary["items"]:
        return 1
    print(f"\nstemgen demo: adding drums to {DEMO_MIX.relative_to(REPO)} (first {DEMO_SECONDS:.0f} s) "
          f"with the {args.engine} engine ...", flush=True)
    outputs = insert_drums(DEMO_MIX, OUT / "generate", engine=args.engine)
    for label, path in outputs.items():
        print(f"  {label}: {path}")
    return 0


def insert_drums(mix_path: Path, out_dir: Path, seconds: float = DEMO_SECONDS, steps: int = DEMO_STEPS,
                 engine: str = "arranger") -> dict:
    """Add drums to the first ``seconds`` of ``mix_path`` with ``engine``; returns the written paths."""
    import time

    from stemgen.audio.io import load_audio, write_audio

    audio, sr = load_audio(mix_path)
    audio = audio[:, : int(seconds * sr)]
    out_dir.mkdir(parents=True, exist_ok=True)
    name = mix_path.stem
    paths = {"input": out_dir / f"{name}_input.wav"}
    t0 = time.perf_counter()
    if engine == "arranger":
        from stemgen.arranger import write_outputs
        from stemgen.arranger.engine import Arranger

        arranger = Arranger("drums")
        result = arranger(audio, sr, DEMO_INSTRUCTION, seed=0, source=mix_path)
        paths |= write_outputs(result.part, out_dir, name)
        stem_audio, mix_audio, what = result.stem_audio, result.mix_audio, (
            f"part model {_shown(arranger.model_dir)}, {result.part.info['played']}, "
            f"{result.analysis.tempo_bpm:.0f} BPM, {len(result.notes)} notes")
    else:
        from stemgen.generation import generate_stem
        from stemgen.generation.defaults import find_default_model
        from stemgen.pipelines import load_pipeline

        model_dir = find_default_model("drums")
        pipe = load_pipeline(model_dir)
        result = generate_stem(pipe, audio, "drums", DEMO_INSTRUCTION, sample_rate=sr, num_inference_steps=steps,
                               seed=0, source=str(mix_path))
        paths |= {"stem": out_dir / f"{name}_drums.wav", "mix": out_dir / f"{name}_mix.wav"}
        write_audio(paths["stem"], result.stem_audio, result.sample_rate)
        write_audio(paths["mix"], result.mix_audio, result.sample_rate)
        stem_audio, mix_audio, what = result.stem_audio, result.mix_audio, f"model {_shown(model_dir)}, {steps} steps"
    write_audio(paths["input"], audio, sr)
    paths["spectrogram"] = before_after_png(audio, sr, stem_audio, mix_audio, out_dir / f"{name}_before_after.png")
    print(f"  {engine} engine: {what}; {seconds:.0f} s of audio in {time.perf_counter() - t0:.0f} s; "
          f"instruction: {DEMO_INSTRUCTION!r}")
    return paths


def _shown(path: Path) -> Path:
    return path.relative_to(REPO) if path.is_relative_to(REPO) else path


def before_after_png(audio, sr: int, stem_audio, mix_audio, png: Path) -> Path:
    """Log-mel spectrograms (the compact codec's) of the input, the generated stem and the new mix."""
    import numpy as np
    import torch

    from stemgen.audio.io import resample
    from stemgen.codec import SpectrogramCodec
    from stemgen.evaluation.report import image_grid

    from stemgen.codec.config import get_preset

    config = get_preset("compact")
    codec = SpectrogramCodec(config)
    rate = config.sample_rate

    def mel_db(x: np.ndarray, x_sr: int) -> np.ndarray:
        x = resample(np.atleast_2d(np.asarray(x, dtype=np.float32)), x_sr, rate)
        mono = torch.from_numpy(np.ascontiguousarray(x.mean(axis=0), dtype=np.float32))
        mag = codec.audio_to_magnitude(mono[None])[0].numpy()
        return 20 * np.log10(np.maximum(mag, 1e-4))

    cells = [("before (input)", mel_db(audio, sr)), ("generated drums", mel_db(stem_audio, sr)),
             ("after (mix)", mel_db(mix_audio, sr))]
    return image_grid([("log-mel", cells)], png)


def _first_row(dataset: Path) -> dict | None:
    for split in ("train", "valid", "test"):
        path = dataset / f"{split}.jsonl"
        if path.is_file() and path.stat().st_size:
            return json.loads(path.read_text().splitlines()[0])
    return None


if __name__ == "__main__":
    sys.exit(main())
