"""``make demo``: the main job on the bundled example input, offline.

Builds a small drums dataset from the bundled Slakh stems and MIDI (rendered with the SoundFont
synthesizer), then prints where everything is. Later stages (stem generation with the bundled
default model) are added here as they ship.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
OUT = Path.cwd() / "demo_out"


def build_demo_dataset(out_dir: Path) -> dict:
    from stemgen.data.builder import BuildConfig, build_dataset

    config = BuildConfig(out_dir=out_dir, stem="drums", preset="riffusion")
    summary = build_dataset([EXAMPLES / "stems", EXAMPLES / "midi"], config)
    return summary.to_dict()


def main() -> int:
    print(f"stemgen demo: building a drums dataset from {EXAMPLES.relative_to(REPO)}/ ...", flush=True)
    summary = build_demo_dataset(OUT / "dataset")
    print(json.dumps({k: summary[k] for k in ("manifest", "items", "splits", "skipped", "instructions", "errors")}, indent=1))
    first = _first_row(OUT / "dataset")
    if first:
        print(f"\nexample: {first['id']}\n  caption: {first['caption']}\n  instruction: {first['instruction']}")
        print(f"  audio: {OUT / 'dataset' / first['mix_audio']} (+ _context, _stem)")
    print(f"\ndataset written to {OUT / 'dataset'}")
    return 0 if summary["items"] else 1


def _first_row(dataset: Path) -> dict | None:
    for split in ("train", "valid", "test"):
        path = dataset / f"{split}.jsonl"
        if path.is_file() and path.stat().st_size:
            return json.loads(path.read_text().splitlines()[0])
    return None


if __name__ == "__main__":
    sys.exit(main())
