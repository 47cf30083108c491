"""Audio and spectrograms of a few examples for the report: listen and look before trusting numbers."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from stemgen.audio.io import write_audio
from stemgen.audio.mixing import fit_headroom
from stemgen.evaluation import signals
from stemgen.evaluation.examples import EvalExample
from stemgen.evaluation.report.plots import image_grid


class ExampleMedia:
    """Collects the first ``limit`` examples' audio, writes FLACs and a spectrogram grid."""

    def __init__(self, out_dir: Path, limit: int = 3):
        self.out_dir = Path(out_dir)
        self.limit = limit
        self.grid_rows: list[tuple[str, list[tuple[str, np.ndarray]]]] = []
        self.links: list[dict] = []
        self._current: dict[str, np.ndarray] = {}

    def wants(self, index: int) -> bool:
        return index < self.limit

    def add(self, example: EvalExample, outputs: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        """Write ``context``/``real`` and each system's ``mix``/``stem``; add a grid row.

        Files are scaled down only when they would clip (``fit_headroom``), since an untrained
        model can produce anything.
        """
        folder = self.out_dir / "audio" / _safe(example.id)
        sr = example.sample_rate
        tracks = {"context": example.context, "real_mix": example.mix, "real_stem": example.stem}
        for system, (stem, mix) in outputs.items():
            tracks[f"{system}_mix"] = mix
            tracks[f"{system}_stem"] = stem
        for label, audio in tracks.items():
            path = folder / f"{label}.flac"
            write_audio(path, fit_headroom(np.asarray(audio, dtype=np.float32))[0], sr)
            self.links.append({"example": example.id, "label": label, "path": str(path.relative_to(self.out_dir))})
        cells = [("before (context)", signals.log_mel(example.context, sr))]
        cells += [(f"after: {s}", signals.log_mel(mix, sr)) for s, (_, mix) in outputs.items() if s != "oracle"]
        cells.append(("real mix", signals.log_mel(example.mix, sr)))
        self.grid_rows.append((example.id[-24:], cells))

    def write_grid(self) -> Path | None:
        if not self.grid_rows:
            return None
        return image_grid(self.grid_rows, self.out_dir / "spectrograms.png")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:100]
