"""Training data: manifest rows -> codec images, computed once and cached on disk.

The STFTs of a window are computed once per (dataset split, codec config), batched on the training
device, and stored as uint8 in a ``.npy`` file that is memory-mapped at training time. The GPU then
never waits on audio decoding or STFTs: a training batch is a slice of a memory map.

uint8 is the Riffusion image convention itself (an 8-bit PNG; ``stemgen.codec.image``), so the
cache loses nothing a Riffusion-style model would have seen. Channel order per example:
``(mix, context, stem)``; the training target picks ``mix`` or ``stem``.

Cache: ``DATA/cache/codec/<split>-<preset>-<key>.npy`` (``key`` hashes the codec config and the
manifest's bytes, so a rebuilt dataset or another preset never reads a stale cache), falling back
to ``MODEL/cache`` when the dataset folder is read-only. Written atomically (temp + rename).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from stemgen.codec.config import CodecConfig
from stemgen.errors import StemgenInputError
from stemgen.fileio import atomic_output

log = logging.getLogger(__name__)

CACHE_VERSION = 1
CHANNELS = ("mix", "context", "stem")
_ENCODE_BATCH = 16


@dataclass
class SplitData:
    """One split: its rows (bad ones removed) and the cached images ``(N, 3, n_mels, frames)`` uint8."""

    split: str
    rows: list[dict]
    images: np.ndarray
    skipped: list[dict] = field(default_factory=list)  # {"file", "reason"} for rows that could not load

    def __len__(self) -> int:
        return len(self.rows)


def check_dataset(data_dir: Path) -> None:
    """Raise a one-line ``StemgenInputError`` unless ``data_dir`` looks like a stemgen dataset."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise StemgenInputError(data_dir, "dataset folder not found")
    if not (data_dir / "train.jsonl").is_file():
        raise StemgenInputError(data_dir, "not a stemgen dataset (no train.jsonl; build one with `stemgen dataset build`)")


def read_rows(data_dir: Path, split: str, stem: str | None = None) -> list[dict]:
    """Manifest rows of ``split`` (absolute audio paths); a clear error when the dataset is not there."""
    from stemgen.data.manifest import read_manifest

    data_dir = Path(data_dir)
    check_dataset(data_dir)
    try:
        rows = read_manifest(data_dir, split)
    except FileNotFoundError:
        return []
    except (json.JSONDecodeError, KeyError) as exc:
        raise StemgenInputError(data_dir / f"{split}.jsonl", f"malformed manifest ({exc})") from exc
    if stem is not None:
        rows = [r for r in rows if r.get("stem") == stem]
    return rows


def cache_key(rows: list[dict], data_dir: Path, split: str, codec: CodecConfig) -> str:
    """Changes whenever the manifest or the codec changes."""
    h = hashlib.sha256()
    h.update(json.dumps({"v": CACHE_VERSION, "codec": codec.to_dict()}, sort_keys=True).encode())
    h.update((Path(data_dir) / f"{split}.jsonl").read_bytes())
    h.update(json.dumps([r["id"] for r in rows]).encode())
    return h.hexdigest()[:16]


def cache_dir_for(data_dir: Path, out_dir: Path, override: Path | None) -> Path:
    """Where the cache lives: ``override``, else ``DATA/cache/codec`` if writable, else ``MODEL/cache``."""
    if override is not None:
        return Path(override)
    preferred = Path(data_dir) / "cache" / "codec"
    if not Path(data_dir).is_dir():  # never create a dataset folder as a side effect
        return Path(out_dir) / "cache"
    try:
        preferred.mkdir(parents=True, exist_ok=True)
        probe = preferred / f".probe-{os.getpid()}"
        probe.touch()
        probe.unlink()
        return preferred
    except OSError:
        return Path(out_dir) / "cache"


def load_window(path: str, codec: CodecConfig) -> np.ndarray:
    """One mono window at the codec's sample rate, cropped or zero-padded to ``window_samples``."""
    from stemgen.audio.io import load_audio

    audio, _ = load_audio(path, sample_rate=codec.sample_rate, mono=True)
    audio = audio[0, : codec.window_samples]
    if audio.shape[0] < codec.window_samples:
        audio = np.pad(audio, (0, codec.window_samples - audio.shape[0]))
    return audio


def encode_rows(
    rows: list[dict],
    codec: CodecConfig,
    device: torch.device,
    progress: Callable | None = None,
) -> tuple[np.ndarray, list[dict], list[dict]]:
    """Decode and encode every row's three files; returns ``(images uint8, good rows, skipped)``."""
    from stemgen.codec import SpectrogramCodec

    spec = SpectrogramCodec(codec, device=device)
    images = np.empty((len(rows), len(CHANNELS), codec.n_mels, codec.num_frames), dtype=np.uint8)
    good: list[dict] = []
    skipped: list[dict] = []
    pending: list[np.ndarray] = []

    def flush() -> None:
        if not pending:
            return
        audio = torch.from_numpy(np.stack(pending)).to(device)  # (n*3, samples)
        with torch.no_grad():
            img = spec.audio_to_image(audio)  # (n*3, 1, H, W) in [-1, 1]
        pixels = ((img.float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8).cpu().numpy()
        start = len(good) - len(pending) // len(CHANNELS)
        images[start : len(good)] = pixels.reshape(-1, len(CHANNELS), codec.n_mels, codec.num_frames)
        pending.clear()

    for row in rows:
        try:
            windows = [load_window(row[f"{name}_audio"], codec) for name in CHANNELS]
        except StemgenInputError as exc:
            skipped.append(exc.as_record())
            log.warning("skipping %s: %s", row.get("id"), exc)
            continue
        good.append(row)
        pending.extend(windows)
        if len(pending) >= _ENCODE_BATCH * len(CHANNELS):
            flush()
        if progress is not None:
            progress(1)
    flush()
    return images[: len(good)], good, skipped


def _write_npy_atomic(path: Path, array: np.ndarray) -> None:
    with atomic_output(path, suffix=".npy") as tmp:
        np.save(tmp, array)


def load_split(
    data_dir: Path,
    split: str,
    codec: CodecConfig,
    cache_dir: Path,
    device: torch.device,
    stem: str | None = None,
    build: bool = True,
    progress_factory: Callable[[int, str], Callable | None] | None = None,
) -> SplitData:
    """Rows and cached images of ``split``; encodes and caches them first when ``build``.

    In a multi-process run the main process builds (``build=True``) inside
    ``accelerator.main_process_first()`` and the others only read the finished cache.
    """
    rows = read_rows(data_dir, split, stem)
    if not rows:
        empty = np.empty((0, len(CHANNELS), codec.n_mels, codec.num_frames), dtype=np.uint8)
        return SplitData(split, [], empty)
    key = cache_key(rows, data_dir, split, codec)
    npy = Path(cache_dir) / f"{split}-{codec.name}-{key}.npy"
    index = npy.with_suffix(".json")
    if not (npy.is_file() and index.is_file()):
        if not build:
            raise RuntimeError(f"{npy}: codec cache missing (the main process should have built it)")
        progress = progress_factory(len(rows), f"encoding {split}") if progress_factory else None
        images, good, skipped = encode_rows(rows, codec, device, progress)
        _write_npy_atomic(npy, images)
        from stemgen.data.manifest import write_json_atomic

        write_json_atomic(index, {"ids": [r["id"] for r in good], "skipped": skipped})
    meta = json.loads(index.read_text())
    by_id = {r["id"]: r for r in rows}
    good = [by_id[i] for i in meta["ids"]]
    images = np.load(npy, mmap_mode="r")  # memory-mapped: shared by DataLoader workers, no copy
    return SplitData(split, good, images, meta.get("skipped", []))


class TripletDataset(Dataset):
    """Items ``{"context", "target": (1, H, W) float in [-1, 1], "instruction": str}``."""

    def __init__(self, data: SplitData, target: str):
        self.data = data
        self.target_channel = CHANNELS.index(target)
        self.context_channel = CHANNELS.index("context")

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> dict:
        pixels = torch.from_numpy(np.array(self.data.images[index]))  # copy out of the memory map
        image = pixels.float() / 127.5 - 1.0
        return {
            "context": image[self.context_channel : self.context_channel + 1],
            "target": image[self.target_channel : self.target_channel + 1],
            "instruction": self.data.rows[index].get("instruction") or "",
        }


def target_statistics(data: SplitData, target: str, max_windows: int = 512) -> tuple[float, float]:
    """Mean and standard deviation of the ``target`` images (in [-1, 1]) over up to ``max_windows``
    windows spread over the split: the latent normalization of a VAE-less model trained from scratch."""
    if len(data) == 0:
        return 0.0, 1.0
    index = np.unique(np.linspace(0, len(data) - 1, min(max_windows, len(data))).round().astype(int))
    pixels = np.asarray(data.images[index, CHANNELS.index(target)], dtype=np.float64) / 127.5 - 1.0
    return float(pixels.mean()), float(pixels.std())


def data_summary(data_dir: Path, splits: dict[str, SplitData]) -> dict:
    """What the model was trained on, for its metadata and model card."""
    train = splits["train"]
    settings = {}
    settings_path = Path(data_dir) / "dataset.json"
    if settings_path.is_file():
        try:
            settings = json.loads(settings_path.read_text())
        except json.JSONDecodeError:
            settings = {}
    return {
        "dataset": str(Path(data_dir).resolve()),
        "examples": {name: len(s) for name, s in splits.items()},
        "hours": round(sum(float(r.get("duration_s", 0.0)) for r in train.rows) / 3600.0, 4),
        "songs": len({r.get("song_id") for r in train.rows}),
        "stems": dict(Counter(r.get("stem") for r in train.rows)),
        "licenses": dict(Counter(r.get("license") or "unknown" for r in train.rows)),
        "instruction_sources": dict(Counter(r.get("instruction_source") or "unknown" for r in train.rows)),
        "skipped": sum(len(s.skipped) for s in splits.values()),
        "dataset_preset": (settings.get("settings") or settings).get("preset") if isinstance(settings, dict) else None,
    }
