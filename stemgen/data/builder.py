"""Build a Subtractive Training dataset: songs → windows → (mix, context, stem) + instruction.

The build runs in two phases:
1. Songs, in parallel worker processes: load or render the stems, cut windows, skip silent ones,
   compute descriptors and a caption, write the three FLACs of each example, and finally write
   ``songs/<song_id>.json`` (the resume marker) atomically. A song killed half-way has no
   marker and is redone; a finished song is never redone. Workers die with the main process
   (``stemgen.workers``), and a run starts by sweeping the ``.part`` files a killed run left.
   On a Ray cluster (``BuildConfig.backend``) each song is one task whose files come back to
   this process, which writes them (marker last) and alone writes the manifests.
2. Instructions, in the main process: one request per example to the instruction writer (LLM
   with a persistent cache, or the offline writer), then the split manifests, atomically.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

from stemgen.audio.io import write_audio
from stemgen.audio.mixing import fit_headroom
from stemgen.codec.config import get_preset
from stemgen.data.manifest import write_json_atomic, write_split_manifests
from stemgen.data.windows import SilencePolicy, cut, plan_windows
from stemgen.errors import MissingDependencyError, StemgenInputError
from stemgen.fileio import ensure_writable_folder, folder_lock, sweep_partial_files
from stemgen.sources.base import Song, SongRef
from stemgen.sources.discover import discover, load_song, with_variant
from stemgen.splits import SPLITS, split_of
from stemgen.workers import LOCAL, Backend, WorkerCrashed, run_jobs

BUILD_VERSION = 2  # 2: descriptors from stemgen.analysis.analyze and the split from stemgen.splits (song file
# name), both issue 21; a v1 folder is not resumed into


@dataclass
class BuildConfig:
    out_dir: Path
    stem: str
    preset: str = "riffusion"
    hop_seconds: float | None = None  # default: the window length (no overlap)
    split_ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)
    split_seed: int = 0
    silence: SilencePolicy = field(default_factory=SilencePolicy)
    variants: int = 1  # augmented renderings per MIDI song
    seed: int = 0
    workers: int = max(1, os.cpu_count() or 1)
    max_songs: int | None = None
    backend: Backend = LOCAL  # where the songs are processed (not a setting: any backend resumes a build)

    def settings(self) -> dict:
        """What must match for a rerun to resume into the same folder."""
        codec = get_preset(self.preset)
        return {
            "version": BUILD_VERSION,
            "stem": self.stem,
            "preset": self.preset,
            "sample_rate": codec.sample_rate,
            "window_samples": codec.window_samples,
            "hop_samples": self.hop_samples,
            "split_ratios": list(self.split_ratios),
            "split_seed": self.split_seed,
            "silence": asdict(self.silence),
            "seed": self.seed,
        }

    @property
    def hop_samples(self) -> int:
        codec = get_preset(self.preset)
        if self.hop_seconds is None:
            return codec.window_samples
        if not 0 < self.hop_seconds < float("inf"):  # 0 or NaN would never end (the CLI checks first)
            raise ValueError(f"hop_seconds must be a positive number (got {self.hop_seconds})")
        return max(1, int(round(self.hop_seconds * codec.sample_rate)))


@dataclass
class SongResult:
    """What one song contributed (also the content of its resume marker)."""

    song_id: str
    source: str
    rows: list[dict] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    audio_seconds: float = 0.0
    skipped_song: str | None = None  # why the whole song gave no examples (e.g. no guitar stem)


@dataclass
class BuildSummary:
    manifest: str  # the dataset folder: {train,valid,test}.jsonl + dataset.json
    manifests: dict[str, str] = field(default_factory=dict)
    items: int = 0
    splits: dict[str, int] = field(default_factory=dict)
    songs: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    skipped_songs: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    worker_crashes: int = 0  # worker processes that died; their songs were retried
    instructions: dict[str, int] = field(default_factory=lambda: {"llm": 0, "cache": 0, "fallback": 0})
    llm_requests: int = 0
    llm_faults: dict = field(default_factory=dict)  # failed LLM requests per kind, circuit breaker state
    licenses: dict[str, int] = field(default_factory=dict)
    hours: float = 0.0
    audio_seconds_processed: float = 0.0
    wall_s: float = 0.0
    realtime_factor: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def build_dataset(
    sources: list[Path],
    config: BuildConfig,
    writer=None,
    progress: Callable[[str, int, int], None] | None = None,
) -> BuildSummary:
    """Build (or resume) the dataset described by ``config`` from ``sources``.

    ``writer`` is an instruction writer (``stemgen.instructions.make_writer()``); ``progress`` is
    called as ``progress(phase, done, total)``.
    """
    out = ensure_writable_folder(config.out_dir)  # before any work: a bad --out fails at once
    with folder_lock(out):
        return _build_locked(sources, config, writer, progress)


def _build_locked(sources: list[Path], config: BuildConfig, writer, progress) -> BuildSummary:
    started = time.perf_counter()
    out = Path(config.out_dir)
    _check_settings(out, config)
    _sweep_partial_files(out)  # left by a killed run; no other build writes here (we hold the lock)
    summary = BuildSummary(manifest=str(out), manifests={s: str(out / f"{s}.jsonl") for s in SPLITS})

    refs, discover_errors = discover([Path(s) for s in sources])
    summary.errors.extend(e.as_record() for e in discover_errors)
    if config.max_songs is not None:
        refs = refs[: config.max_songs]
    jobs = [with_variant(ref, v) for ref in refs for v in range(config.variants if ref.layout == "midi" else 1)]

    results = _process_songs(jobs, config, summary, progress)
    rows = [row for r in results for row in r.rows]
    _write_instructions(rows, config, writer, summary, progress)

    summary.splits = write_split_manifests(out, rows)
    summary.items = len(rows)
    _summarise(results, rows, summary, config)
    summary.wall_s = round(time.perf_counter() - started, 3)
    if summary.audio_seconds_processed and summary.wall_s:
        summary.realtime_factor = round(summary.audio_seconds_processed / summary.wall_s, 2)
    write_json_atomic(out / "dataset.json", {"settings": config.settings(), "summary": summary.to_dict()})
    return summary


def _check_settings(out: Path, config: BuildConfig) -> None:
    meta = out / "dataset.json"
    if meta.is_file():
        previous = json.loads(meta.read_text()).get("settings", {})
        if previous != config.settings():
            changed = sorted(k for k in set(previous) | set(config.settings()) if previous.get(k) != config.settings().get(k))
            raise StemgenInputError(out, f"holds a dataset built with other settings ({', '.join(changed)}); use a new --out folder")
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(meta, {"settings": config.settings(), "summary": None}) if not meta.is_file() else None


def _process_songs(jobs: list[SongRef], config: BuildConfig, summary: BuildSummary, progress) -> list[SongResult]:
    out = Path(config.out_dir)
    results: list[SongResult] = []
    todo: list[SongRef] = []
    for ref in jobs:
        marker = out / "songs" / f"{ref.song_id}.json"
        if marker.is_file():
            results.append(SongResult(**json.loads(marker.read_text())))
        else:
            todo.append(ref)
    summary.songs = {"total": len(jobs), "resumed": len(results), "processed": 0, "failed": 0}
    done = 0
    if progress:
        progress("songs", done, len(todo))

    def record(ref: SongRef, outcome) -> None:
        nonlocal done
        if isinstance(outcome, SongResult):
            results.append(outcome)
            summary.songs["processed"] += 1
            summary.audio_seconds_processed += outcome.audio_seconds
        else:
            summary.songs["failed"] += 1
            summary.errors.append(_error_record(ref, outcome))
        done += 1
        if progress:
            progress("songs", done, len(todo))

    # A worker that dies (a crash in native code, the OOM killer) takes the pool down with it:
    # its songs are retried (see stemgen.workers); a song that crashes its worker alone fails.
    def crashed() -> None:
        summary.worker_crashes += 1
        _sweep_partial_files(out)  # what the dead worker half-wrote

    run_jobs([(ref, config) for ref in todo], _process_job_into, out, lambda job, outcome: record(job[0], outcome),
             config.workers, config.backend, initializer=_init_worker, on_crash=crashed)
    results.sort(key=lambda r: r.song_id)
    return results


def _process_job_into(job: tuple[SongRef, BuildConfig], folder: Path) -> SongResult:
    ref, config = job
    return process_song(ref, config if Path(folder) == Path(config.out_dir) else replace(config, out_dir=Path(folder)))


def _sweep_partial_files(out: Path) -> None:
    """The builder's own files only (not e.g. a training run's ``cache/``)."""
    sweep_partial_files(out, recursive=False)
    for sub in ("audio", "songs"):
        if (out / sub).is_dir():
            sweep_partial_files(out / sub)


def _error_record(ref: SongRef, exc: BaseException) -> dict:
    if isinstance(exc, StemgenInputError):
        return exc.as_record()
    if isinstance(exc, (MissingDependencyError, WorkerCrashed)):
        return {"file": str(ref.path), "reason": str(exc).removeprefix(f"{ref.path}: ")}
    return {"file": str(ref.path), "reason": f"{type(exc).__name__}: {exc}"[:300]}


def _init_worker() -> None:
    """One BLAS thread per worker: the workers already use every core, and small matrix
    products on oversubscribed BLAS threads were measured 10x slower on the 2-core machine."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def process_song(ref: SongRef, config: BuildConfig) -> SongResult:
    """Turn one song into examples on disk; runs in a worker process."""
    from stemgen.data.captions import make_caption
    from stemgen.data.descriptors import analyze_song, describe_window

    codec = get_preset(config.preset)
    out = Path(config.out_dir)
    seed = _song_seed(config.seed, ref.song_id)
    song = load_song(ref, codec.sample_rate, config.stem, seed)
    result = SongResult(song_id=ref.song_id, source=str(ref.path), notes=list(song.notes), audio_seconds=song.duration_s)
    if config.stem in song.missing or config.stem not in song.stems:
        result.skipped_song = song.missing.get(config.stem, f"no {config.stem} stem")
        _write_marker(out, result)
        return result

    split = song_split(ref, config)
    stem_audio = song.stems[config.stem]
    context_audio = song.context(config.stem)
    mix_audio = stem_audio + context_audio
    analysis = analyze_song(mix_audio, codec.sample_rate, tempo_hint_bpm=song.metadata.get("tempo_bpm"))
    tags = _tags(song)
    skipped: Counter = Counter()
    gain_changes = 0
    for win in plan_windows(song.num_samples, codec.window_samples, config.hop_samples):
        stem_w, context_w = cut(stem_audio, win), cut(context_audio, win)
        reason = config.silence.reason_to_skip(stem_w, context_w)
        if reason:
            skipped[reason] += 1
            continue
        mix_w, change = fit_headroom(stem_w + context_w)
        if change is not None:  # scale all three alike so that mix == context + stem still holds
            stem_w, context_w = stem_w * change.gain, context_w * change.gain
            gain_changes += 1
        descriptors = describe_window(analysis, win.start, mix_w, stem_w, context_w, codec.sample_rate, config.stem)
        if change is not None:
            descriptors["gain_db"] = round(change.gain_db, 2)
        rel = Path("audio") / split / ref.song_id
        paths = {kind: rel / f"{win.index:04d}_{kind}.flac" for kind in ("mix", "context", "stem")}
        for kind, audio in (("mix", mix_w), ("context", context_w), ("stem", stem_w)):
            write_audio(out / paths[kind], audio, codec.sample_rate)
        result.rows.append({
            "id": f"{ref.song_id}-{win.index:04d}",
            "song_id": ref.song_id,
            "split": split,
            "stem": config.stem,
            "mix_audio": str(paths["mix"]),
            "context_audio": str(paths["context"]),
            "stem_audio": str(paths["stem"]),
            "start_s": round(win.start / codec.sample_rate, 4),
            "duration_s": round(win.length / codec.sample_rate, 4),
            "sample_rate": codec.sample_rate,
            "caption": make_caption(descriptors, config.stem, tags),
            "instruction": None,
            "instruction_source": None,
            "descriptors": descriptors,
            "tags": list(tags),
            "source": str(ref.path),
            "layout": ref.layout,
            "license": ref.license,
        })
    if gain_changes:
        result.notes.append(f"{gain_changes} windows scaled down to avoid clipping (gain in descriptors.gain_db)")
    result.skipped = dict(skipped)
    _write_marker(out, result)
    return result


def song_split(ref: SongRef, config: BuildConfig) -> str:
    """The song's split: ``stemgen.splits`` on its file (or stem folder) name, the same split the part
    models give it; its augmented renderings share ``ref.path`` and so the split."""
    return split_of(ref.path, config.split_ratios, config.split_seed)


def _write_marker(out: Path, result: SongResult) -> None:
    write_json_atomic(out / "songs" / f"{result.song_id}.json", asdict(result))


def _song_seed(seed: int, song_id: str) -> int:
    import hashlib

    return int.from_bytes(hashlib.sha256(f"{seed}:{song_id}".encode()).digest()[:4], "big")


def _tags(song: Song) -> tuple[str, ...]:
    tags = list(song.ref.tags) + list(song.metadata.get("tags", []))
    return tuple(dict.fromkeys(t for t in tags if t))


def _write_instructions(rows: list[dict], config: BuildConfig, writer, summary: BuildSummary, progress) -> None:
    from stemgen.instructions import InstructionRequest, make_writer

    if writer is None:
        writer = make_writer(cache_path=Path(config.out_dir) / "instruction_cache.sqlite", seed=config.seed)
    requests = [
        InstructionRequest(stem=r["stem"], caption=r["caption"], descriptors=r["descriptors"], tags=tuple(r["tags"]))
        for r in rows
    ]
    total = len(requests)
    done = 0

    def report(finished: int) -> None:  # the writer reports how many just finished
        nonlocal done
        done += finished
        if progress:
            progress("instructions", done, total)

    results = writer.write(requests, progress=report) if requests else []
    for row, res in zip(rows, results):
        row["instruction"] = res.text
        row["instruction_source"] = res.origin
        summary.instructions[res.origin] = summary.instructions.get(res.origin, 0) + 1
    summary.llm_requests = int(getattr(writer, "request_count", 0))
    summary.llm_faults = dict(getattr(writer, "faults", {}))


def _summarise(results: list[SongResult], rows: list[dict], summary: BuildSummary, config: BuildConfig) -> None:
    skipped: Counter = Counter()
    for r in results:
        skipped.update(r.skipped)
        if r.skipped_song:
            summary.skipped_songs.append({"file": r.source, "reason": r.skipped_song})
        summary.notes.extend(f"{r.song_id}: {n}" for n in r.notes)
    summary.skipped = dict(skipped)
    summary.licenses = dict(Counter(r["license"] for r in rows))
    summary.hours = round(sum(r["duration_s"] for r in rows) / 3600, 4)
