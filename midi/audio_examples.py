"""Subtractive audio examples for the arranger's part models.

For each band MIDI song and each stem it has (drums, bass, guitar): render the song with the
SoundFont renderer and its seeded augmentation (SoundFont, programs within their GM family,
velocities, stem gains), sum every *other* family into the context mix, analyse that mix with
``stemgen.analysis`` exactly as the arranger analyses a user's song (``analyze`` →
``require_beats`` → ``step_features`` / ``step_times``), and put the removed part's notes on the
*detected* 16th-note grid. The model then learns from the context it will really see at generation
time (tracking errors, analysis noise, SoundFont timbres), not from a clean score.

One render per (song, variant) serves all three stems (the renderer writes one stem per family).
The audio is rendered at 22.05 kHz, the rate the analysis works at anyway (``analysis_params``):
a 44.1 kHz render would be decimated to it first.

Targets use the MIDI models' stored format (``stemgen.midi.features``): drums ``(9, T)`` uint8
velocity per drum class; bass/guitar ``onset (48, T)`` uint8 and ``sustain (48, T)`` bool. A note
starts at the step boundary nearest its onset (seconds from the MIDI tempo map; the renderer maps
tick 0 to sample 0) and ends at the boundary nearest its end (at least one step).

Grid match: the share of the target's onsets within a quarter of the local step length of a step
boundary. On a right grid it is ~1 (the band MIDI is quantised); on a random grid it is 0.5; a grid
at double/half tempo, or shifted by an 8th, shows as a drop. Songs whose context has no usable beat
(``refusal_reason``) are kept out of training and listed with the reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stemgen.midi.context import context_from_features
from stemgen.midi.features import drum_lanes, pitch_lanes
from stemgen.midifile.lanes import track_role
from stemgen.stems import STEMS

SAMPLE_RATE = 22_050
MIN_STEM_NOTES = 8  # as the MIDI examples (midi.examples.MIN_STEM_ONSETS): fewer is not a part
FORMAT_VERSION = "arranger-data-v2"  # v2: contexts carry the 72 pitch channels (106 in all)
GRID_TOLERANCE = 0.25  # of the local step length
LICENSE = "CC-BY-NC-SA-4.0"


@dataclass
class StepTarget:
    """The removed part on the detected grid and how well it fits there."""

    arrays: dict[str, np.ndarray]  # midi.features stored format
    n_notes: int
    grid_match: float  # share of onsets within GRID_TOLERANCE step of a boundary
    outside: int  # onsets before the first or after the last step (clipped onto it)
    collisions: int  # notes merged because they landed on the same step and lane


def stem_notes(song, stem: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(onset_s, end_s, pitch, velocity, onset_ticks)`` of the notes of ``stem``'s tracks in a ``MidiSong``."""
    tracks = [t for t in song.tracks if len(t) and track_role(t.program, t.is_drum) == stem]
    if not tracks:
        z = np.zeros(0)
        return z, z, z.astype(np.int64), z.astype(np.int64), z
    start = np.concatenate([t.start for t in tracks]).astype(np.float64)
    end = start + np.concatenate([t.duration for t in tracks])
    pitch = np.concatenate([t.pitch for t in tracks]).astype(np.int64)
    vel = np.concatenate([t.velocity for t in tracks]).astype(np.int64)
    return song.seconds_at(start), song.seconds_at(end), pitch, vel, start


def midi_grid_match(onset_ticks: np.ndarray, tpq: int) -> float:
    """Share of onsets within ``GRID_TOLERANCE`` step of the MIDI file's own 16th grid: the ceiling
    of ``grid_match`` (a part played off the 16ths, e.g. triplets or swing, cannot match any 16th grid)."""
    if onset_ticks.size == 0:
        return 0.0
    pos = onset_ticks / (tpq / 4.0)
    return float(np.mean(np.abs(pos - np.rint(pos)) <= GRID_TOLERANCE))


def nearest_boundary(times: np.ndarray, bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest step boundary to each time, and the distance in local step lengths."""
    i = np.clip(np.searchsorted(bounds, times), 1, bounds.size - 1)
    left, right = bounds[i - 1], bounds[i]
    k = np.where(times - left <= right - times, i - 1, i)
    step_len = np.diff(bounds)
    local = step_len[np.clip(k, 0, step_len.size - 1)]
    return k, np.abs(times - bounds[k]) / local


def step_spans(onset_s, end_s, bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Notes in seconds → ``(start step, end step, distance of the onset to its boundary in local
    steps, onsets outside the grid)``: each note starts at the boundary nearest its onset and ends
    at the one nearest its end (at least one step); notes outside ``bounds`` are clipped onto it."""
    T = bounds.size - 1
    onset_s = np.asarray(onset_s, dtype=np.float64)
    if onset_s.size == 0:
        z = np.zeros(0, np.int64)
        return z, z, np.zeros(0), 0
    k, dist = nearest_boundary(onset_s, bounds)
    e, _ = nearest_boundary(np.asarray(end_s, dtype=np.float64), bounds)
    outside = int(np.sum((onset_s < bounds[0]) | (onset_s >= bounds[-1])))
    on = np.clip(k, 0, T - 1)
    return on, np.clip(np.maximum(e, on + 1), 1, T), dist, outside


def notes_on_steps(onset_s, end_s, pitch, velocity, bounds: np.ndarray) -> list[tuple[int, int, int, int]]:
    """``(start_step, end_step, pitch, velocity)`` notes on the grid ``bounds``."""
    on, off, _, _ = step_spans(onset_s, end_s, bounds)
    return sorted(zip(on.tolist(), off.tolist(), np.asarray(pitch).tolist(), np.asarray(velocity).tolist()))


def target_on_steps(onset_s, end_s, pitch, velocity, bounds: np.ndarray, stem: str) -> StepTarget:
    """Notes (seconds) → the stored target on the grid ``bounds`` ((T + 1,) step boundaries)."""
    T = bounds.size - 1
    on, off, dist, outside = step_spans(onset_s, end_s, bounds)
    pitch, velocity = np.asarray(pitch, dtype=np.int64), np.asarray(velocity, dtype=np.int64)
    onset = np.zeros((T, 128), np.uint8)
    sustain = np.zeros((T, 128), bool)
    order = np.argsort(velocity, kind="stable")  # louder last: its velocity wins a collision
    np.maximum.at(onset, (on[order], pitch[order]), velocity[order].astype(np.uint8))
    collisions = int(on.size - np.count_nonzero(onset))
    if stem == "drums":
        arrays = {"drums": np.ascontiguousarray(drum_lanes(onset).T)}
    else:
        for a, b, p in zip(on.tolist(), off.tolist(), pitch.tolist()):
            sustain[a:b, p] = True
        lanes_on, lanes_sus = pitch_lanes(onset, sustain, stem)
        arrays = {"onset": lanes_on, "sustain": lanes_sus}
    match = float(np.mean(dist <= GRID_TOLERANCE)) if dist.size else 0.0
    return StepTarget(arrays, int(on.size), match, outside, collisions)


@dataclass
class ExampleRecord:
    """What one (song, stem, variant) example holds or why it has none (``refused``)."""

    song: str
    stem: str
    variant: int
    split: str
    file: str = ""  # npz path relative to the cache dir ("" when refused)
    refused: str | None = None
    n_steps: int = 0
    n_notes: int = 0
    grid_match: float = 0.0
    midi_grid_match: float = 0.0  # the same share on the MIDI file's own 16th grid (the ceiling)
    outside: int = 0
    collisions: int = 0
    tempo_bpm: float = 0.0  # detected
    true_tempo_bpm: float = 0.0  # the MIDI file's first tempo (often a lead-in or a nominal 120 of an unquantised file)
    beat_confidence: float = 0.0
    soundfont: str = ""
    programs: dict = field(default_factory=dict)
    instruction: str = ""
    seconds: float = 0.0


def analysis_key() -> str:
    """sha1 of the ``stemgen.analysis`` sources this process runs: examples analysed by other code
    are stale (the arranger must see the analysis it will get at generation time)."""
    import hashlib

    import stemgen.analysis as pkg

    h = hashlib.sha1()
    for f in sorted(Path(pkg.__file__).parent.glob("*.py")):
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:12]


def example_path(cache_dir: Path, split: str, song: str, stem: str, variant: int) -> Path:
    return Path(cache_dir) / split / f"{song}__{stem}__v{variant}.npz"


def record_path(cache_dir: Path, split: str, song: str, variant: int) -> Path:
    """Per (song, variant) JSON with every stem's record: the resume marker, written last."""
    return Path(cache_dir) / split / f"{song}__v{variant}.json"


def song_stems(song) -> list[str]:
    """The stems with at least ``MIN_STEM_NOTES`` notes in a ``MidiSong``."""
    count = {s: 0 for s in STEMS}
    for t in song.tracks:
        role = track_role(t.program, t.is_drum)
        if role in count:
            count[role] += len(t)
    return [s for s in STEMS if count[s] >= MIN_STEM_NOTES]


def _instructions(song, path: Path, stems: list[str]) -> dict[str, str]:
    """One instruction per stem from the MIDI descriptors of the removed part (the MIDI engine's
    writer: offline unless an LLM endpoint is configured)."""
    from stemgen.midi.descriptors import write_instructions
    from stemgen.midifile.grid import song_to_grid

    grid = song_to_grid(song, 4)
    return dict(zip(stems, write_instructions([(grid, s, path) for s in stems])))


def build_song(path: str | Path, split: str, cache_dir: str | Path, variant: int = 0, seed: int = 0,
               stems: tuple[str, ...] = STEMS, max_seconds: float | None = None,
               beat_tracker: str | None = None) -> list[ExampleRecord]:
    """Render, analyse and save every stem's example of one (song, variant); returns the records.

    ``beat_tracker``: the analysis backend (``None``: the default tracker, as the arranger uses it).
    Raises ``StemgenInputError`` for an unreadable file. Idempotent: an existing record is read back, unless it was made by other analysis code
    (``analysis_key``), another ``max_seconds`` or another tracker.
    """
    import time

    from stemgen.analysis import analysis_backend, analyze, refusal_reason, step_features, step_times
    from stemgen.fileio import atomic_output, atomic_write_text
    from stemgen.midifile.io import load_midi
    from stemgen.render import Augmentation, render_stems

    path, cache_dir = Path(path), Path(cache_dir)
    song_id = path.stem
    marker = record_path(cache_dir, split, song_id, variant)
    key = analysis_key()
    done = finished_records(path, split, cache_dir, variant, max_seconds, key, beat_tracker)
    if done is not None:
        return done
    t0 = time.process_time()
    song = load_midi(path)
    wanted = [s for s in song_stems(song) if s in stems]
    records: list[ExampleRecord] = []
    if wanted:
        aug = Augmentation.draw(seed + variant, song_id)
        r = render_stems(path, None, SAMPLE_RATE, augmentation=aug, song_id=song_id, max_seconds=max_seconds)
        texts = _instructions(song, path, wanted)
        true_bpm = float(song.tempos[0][1]) if song.tempos else 120.0
        for stem in wanted:
            t1 = time.process_time()
            rec = ExampleRecord(song_id, stem, variant, split, soundfont=r.soundfont.name,
                                programs={k: v for k, v in r.programs.items() if k != stem},
                                instruction=texts[stem], true_tempo_bpm=round(true_bpm, 3))
            mix = np.sum([a for f, a in r.stems.items() if f != stem], axis=0, dtype=np.float32)
            analysis = analyze(mix, SAMPLE_RATE, backend=analysis_backend(beat_tracker))
            rec.tempo_bpm, rec.beat_confidence = round(analysis.tempo_bpm, 3), round(analysis.beat_confidence, 3)
            rec.refused = refusal_reason(analysis)
            if rec.refused is None:
                context = context_from_features(step_features(analysis))
                bounds = step_times(analysis)
                onset_s, end_s, pitch, vel, ticks = stem_notes(song, stem)
                if max_seconds is not None:
                    keep = onset_s < max_seconds
                    onset_s, end_s, pitch, vel, ticks = onset_s[keep], end_s[keep], pitch[keep], vel[keep], ticks[keep]
                tgt = target_on_steps(onset_s, end_s, pitch, vel, bounds, stem)
                rec.midi_grid_match = round(midi_grid_match(ticks, song.tpq), 4)
                rec.n_steps, rec.n_notes, rec.grid_match = context.shape[1], tgt.n_notes, round(tgt.grid_match, 4)
                rec.outside, rec.collisions = tgt.outside, tgt.collisions
                out = example_path(cache_dir, split, song_id, stem, variant)
                rec.file = str(out.relative_to(cache_dir))
                with atomic_output(out) as tmp:
                    np.savez_compressed(tmp, context=context.astype(np.float16), step_times=bounds,
                                        **{f"target_{k}": v for k, v in tgt.arrays.items()})
            rec.seconds = round(time.process_time() - t1, 2)
            records.append(rec)
        render_s = round(time.process_time() - t0 - sum(x.seconds for x in records), 2)
    else:
        render_s = 0.0
    atomic_write_text(marker, json.dumps({"version": FORMAT_VERSION, "analysis": key, "max_seconds": max_seconds,
                                          "beat_tracker": analysis_backend(beat_tracker),
                                          "file": path.name, "render_cpu_s": render_s,
                                          "augmentation": aug.to_dict() if wanted else None,
                                          "records": [vars(x) for x in records]}, indent=1))
    return records


def finished_records(path: str | Path, split: str, cache_dir: str | Path, variant: int, max_seconds: float | None,
                     key: str | None = None, beat_tracker: str | None = None) -> list[ExampleRecord] | None:
    """The records of a (song, variant) already in the cache, or None when it must be built (no
    marker, or one made by other analysis code, another ``max_seconds`` or another tracker; markers
    written before the tracker was recorded were made by the DSP tracker)."""
    marker = record_path(Path(cache_dir), split, Path(path).stem, variant)
    if not marker.is_file():
        return None
    done = json.loads(marker.read_text())
    if done.get("analysis") != (key or analysis_key()) or done.get("max_seconds") != max_seconds:
        return None
    from stemgen.analysis import analysis_backend

    if done.get("beat_tracker", "numpy") != analysis_backend(beat_tracker):
        return None
    return [ExampleRecord(**r) for r in done["records"]]


@dataclass(frozen=True)
class SongJob:
    """One (song, variant) of a training-data build: the unit of work of a worker or a Ray task."""

    path: str
    split: str
    variant: int = 0
    seed: int = 0
    stems: tuple[str, ...] = STEMS
    max_seconds: float | None = None
    beat_tracker: str | None = None


def build_job_into(job: SongJob, folder: Path) -> list[dict]:
    """``build_song`` for ``job`` with ``folder`` as the cache; the records as dicts (for
    ``stemgen.workers.run_jobs``)."""
    return [vars(r) for r in build_song(job.path, job.split, folder, job.variant, job.seed, job.stems, job.max_seconds,
                                        job.beat_tracker)]


@dataclass
class AudioExample:
    """One saved example, loaded for training or evaluation."""

    record: ExampleRecord
    context: np.ndarray  # (channels, T) float32: the part-model context of the analysed mix
    step_times: np.ndarray  # (T + 1,)
    target: dict[str, np.ndarray]
    text_emb: np.ndarray | None = None  # (384,) instruction embedding, filled in by the trainer

    @property
    def n_steps(self) -> int:
        return self.context.shape[1]


def load_examples(cache_dir: str | Path, split: str, stem: str, min_grid_match: float = 0.0,
                  min_notes: int = MIN_STEM_NOTES) -> list[AudioExample]:
    """Every usable example of ``stem`` in ``split``: refused ones, those below ``min_grid_match``
    and those with fewer than ``min_notes`` target notes in the rendered excerpt are left out."""
    cache_dir = Path(cache_dir)
    out = []
    for marker in sorted((cache_dir / split).glob("*__v*.json")):
        for r in json.loads(marker.read_text())["records"]:
            rec = ExampleRecord(**r)
            if (rec.stem != stem or rec.refused or rec.split != split or rec.grid_match < min_grid_match
                    or rec.n_notes < min_notes):
                continue
            z = np.load(cache_dir / rec.file)
            target = {k[len("target_"):]: z[k] for k in z.files if k.startswith("target_")}
            out.append(AudioExample(rec, z["context"].astype(np.float32), z["step_times"], target))
    return out


def read_records(cache_dir: str | Path) -> list[ExampleRecord]:
    """Every record in the cache (all splits and variants)."""
    return [ExampleRecord(**r) for marker in sorted(Path(cache_dir).glob("*/*__v*.json"))
            for r in json.loads(marker.read_text())["records"]]


def summarize(records: list[ExampleRecord]) -> dict:
    """Counts, refusals and grid-match statistics per split and stem."""
    out: dict = {}
    for rec in records:
        s = out.setdefault(rec.split, {}).setdefault(rec.stem, {"examples": 0, "refused": 0, "grid_match": [],
                                                                  "cpu_s": 0.0, "refusals": []})
        s["cpu_s"] += rec.seconds
        if rec.refused:
            s["refused"] += 1
            s["refusals"].append({"song": rec.song, "reason": rec.refused})
            continue
        s["examples"] += 1
        s["grid_match"].append(rec.grid_match)
        s.setdefault("midi_grid_match", []).append(rec.midi_grid_match)
    for stems in out.values():
        for s in stems.values():
            g = np.array(s.pop("grid_match"))
            ceiling = np.array(s.pop("midi_grid_match", []))
            s["cpu_s"] = round(s["cpu_s"], 1)
            if g.size:
                s["grid_match_mean"] = round(float(g.mean()), 4)
                s["grid_match_median"] = round(float(np.median(g)), 4)
                s["grid_match_below_0.9"] = int(np.sum(g < 0.9))
                s["midi_grid_match_mean"] = round(float(ceiling.mean()), 4)
                s["grid_match_below_midi_by_0.1"] = int(np.sum(g < ceiling - 0.1))
                # Quantised parts (on their MIDI 16th grid): there the detected grid alone decides.
                quantised = ceiling >= 0.9
                s["quantised_parts"] = int(quantised.sum())
                if quantised.any():
                    s["grid_match_mean_quantised"] = round(float(g[quantised].mean()), 4)
                    s["grid_match_below_0.9_quantised"] = int(np.sum(g[quantised] < 0.9))
    return out
