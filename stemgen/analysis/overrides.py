"""The user's corrections of the beat grid, as every DAW allows: tempo, meter, first downbeat, beats.

    correction = GridCorrection.from_options(bpm=116, meter="4/4", downbeat_s=0.52)  # or beats_file=...
    analysis = apply_correction(analyze(audio, sr), correction)

What each correction does to the detected grid (``apply_correction``, the one entry point the CLI,
the arranger engine and the API go through):

* ``beats_file``: the grid is the file's, exactly (beats past the clip's end dropped). A text file
  of beat times in seconds, one a line (Audacity label exports: ``start<TAB>end<TAB>label``;
  Sonic Visualiser: ``time<TAB|,>label``; a label ``1`` marks a downbeat when the labels count
  beats in the bar), or a ``.mid`` whose tempo map and time signatures are the song's (bar lines
  from the time signatures, beat unit as in ``ground_truth.beat_ticks``).
* ``bpm`` and ``downbeat_s`` together: a constant grid from that downbeat at that tempo over the
  whole clip (the user has said all a steady grid needs, detection is not consulted).
* ``bpm`` alone: the detected beats when that is their tempo, doubled or halved when it is twice or
  half theirs, else tracked again at that tempo (beat or "&" decided as in detection,
  ``grid_decisions``).
* ``downbeat_s`` alone: the detected beat nearest it starts a bar; when it is nearer the "&" than
  a beat, the whole grid moves by half a beat first.
* ``meter``: beats a bar; ``3/4``, ``4/4``, ``6/8`` (2 dotted-quarter beats, compound) or a
  number of beats. Without a downbeat, the bar phase is chosen from the accents for that meter.

A grid the user gave (file, or bpm + downbeat) gets beat confidence 1.0: the refusal of
``reliability.require_beats`` is for detection, not for the user's grid.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stemgen.analysis import beats as beatlib
from stemgen.analysis import downbeats as dblib
from stemgen.errors import StemgenInputError

MIN_BPM, MAX_BPM = 20.0, 400.0  # what --bpm accepts (a MIDI reader's readable range)
MAX_BEATS_PER_BAR = 16
_METER = re.compile(r"^\s*(\d+)\s*(?:/\s*(\d+))?\s*$")


@dataclass(frozen=True)
class GridCorrection:
    """What the user says about the song's grid; every field optional."""

    bpm: float | None = None
    meter: int | None = None  # beats a bar (6/8 -> 2)
    downbeat_s: float | None = None
    beats_file: Path | None = None

    @classmethod
    def from_options(cls, bpm: float | None = None, meter: str | int | None = None, downbeat_s: float | None = None,
                     beats_file: str | Path | None = None) -> "GridCorrection":
        """Checked values (a one-line ``StemgenInputError`` naming the option otherwise)."""
        if bpm is not None and not (MIN_BPM <= float(bpm) <= MAX_BPM):
            raise StemgenInputError("--bpm", f"{bpm} is outside {MIN_BPM:.0f}-{MAX_BPM:.0f} beats a minute")
        if downbeat_s is not None and not (np.isfinite(downbeat_s) and downbeat_s >= 0):
            raise StemgenInputError("--downbeat", f"{downbeat_s} is not a time in seconds from the start (>= 0)")
        return cls(None if bpm is None else float(bpm), None if meter is None else parse_meter(meter),
                   None if downbeat_s is None else float(downbeat_s),
                   None if beats_file is None else Path(beats_file))

    @property
    def empty(self) -> bool:
        return self.bpm is None and self.meter is None and self.downbeat_s is None and self.beats_file is None

    def to_dict(self) -> dict:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(self).items() if v is not None}


def parse_meter(meter: str | int) -> int:
    """Beats a bar from ``"3/4"``, ``"4/4"``, ``"6/8"`` (compound: 2 beats), ``"7/8"`` (7) or ``"3"``."""
    m = _METER.match(str(meter))
    num = int(m.group(1)) if m else 0
    den = int(m.group(2)) if m and m.group(2) else 4
    if not m or not 1 <= num <= 4 * MAX_BEATS_PER_BAR or den not in (1, 2, 4, 8, 16):
        raise StemgenInputError("--meter", f"{meter!r} is not a meter (e.g. 4/4, 3/4, 6/8 or a number of beats)")
    beats = num // 3 if den == 8 and num % 3 == 0 and num > 3 else num
    if not 1 <= beats <= MAX_BEATS_PER_BAR:
        raise StemgenInputError("--meter", f"{meter!r}: {beats} beats a bar is outside 1-{MAX_BEATS_PER_BAR}")
    return beats


@dataclass
class UserBeats:
    """Beats (s) from a file, with downbeats and beats a bar when the file tells them."""

    beat_times: np.ndarray
    downbeat_times: np.ndarray | None = None
    meter: int | None = None


def read_beats_file(path: str | Path, until_s: float) -> UserBeats:
    """Beats from a label/text file or a ``.mid`` tempo map, up to ``until_s`` seconds."""
    path = Path(path)
    if not path.is_file():
        raise StemgenInputError(path, "--beats: no such file")
    if path.suffix.lower() in (".mid", ".midi", ".smf"):
        beats = _midi_beats(path, until_s)
    else:
        beats = _text_beats(path)
    b = beats.beat_times
    if b.size < 2:
        raise StemgenInputError(path, f"--beats: {b.size} beat time(s) found, at least 2 are needed")
    d = np.diff(b)
    if np.any(d <= 0):
        i = int(np.flatnonzero(d <= 0)[0])
        raise StemgenInputError(path, f"--beats: beat times must increase ({b[i]:.3f} s is followed by {b[i + 1]:.3f} s)")
    if np.any(d > 60.0 / MIN_BPM) or np.any(d < 60.0 / MAX_BPM):
        bad = float(d[(d > 60.0 / MIN_BPM) | (d < 60.0 / MAX_BPM)][0])
        raise StemgenInputError(path, f"--beats: a beat interval of {bad:.3f} s is outside {MIN_BPM:.0f}-{MAX_BPM:.0f} "
                                      "beats a minute (are the times in seconds?)")
    return beats


def _text_beats(path: Path) -> UserBeats:
    """Times from the first column; a label column of beat-in-bar numbers gives the downbeats."""
    try:
        text = path.read_text(encoding="utf-8-sig", errors="strict")
    except (OSError, UnicodeDecodeError) as exc:
        raise StemgenInputError(path, f"--beats: cannot read as a text file of beat times ({exc})") from None
    times, labels = [], []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith(("#", "\\")):  # comments; Audacity's spectral-selection lines
            continue
        fields = [f for f in re.split(r"[\t,;]+|\s+", line) if f]
        try:
            t = float(fields[0])
        except ValueError:
            if not times and n == 1:  # a CSV header line
                continue
            raise StemgenInputError(path, f"--beats: line {n}: {fields[0]!r} is not a time in seconds") from None
        if not np.isfinite(t) or t < 0:
            raise StemgenInputError(path, f"--beats: line {n}: {fields[0]!r} is not a time in seconds from the start")
        times.append(t)
        labels.append(fields[-1] if len(fields) > 1 else "")
    beats = np.array(times, dtype=np.float64)
    downbeats, meter = _downbeats_from_labels(beats, labels)
    return UserBeats(beats, downbeats, meter)


def _downbeats_from_labels(beats: np.ndarray, labels: list[str]) -> tuple[np.ndarray | None, int | None]:
    """Downbeats where labels count beats in the bar (1 2 3 4 1 2 ...; Sonic Visualiser's bar-and-beat
    tracker writes them so; ``1.1``/``bar.beat`` too); none when the labels are anything else."""
    nums = []
    for lab in labels:
        m = re.fullmatch(r"(?:\d+\.)?(\d+)", lab)
        if not m:
            return None, None
        nums.append(int(m.group(1)))
    nums_a = np.array(nums)
    ones = np.flatnonzero(nums_a == 1)
    if ones.size < 2 or nums_a.max() > MAX_BEATS_PER_BAR:
        return None, None
    # Counting: each label is 1 or the previous one plus 1.
    if not np.all((nums_a[1:] == 1) | (nums_a[1:] == nums_a[:-1] + 1)):
        return None, None
    meter = int(np.bincount(np.diff(ones)).argmax())
    return beats[ones], meter


def _midi_beats(path: Path, until_s: float) -> UserBeats:
    """Beats and bar lines of a MIDI file's tempo map (no notes needed: a DAW's tempo-map export)."""
    import symusic

    from stemgen.midifile.io import MAX_QPM, MIN_QPM, check_smf_header

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StemgenInputError(path, f"--beats: cannot read: {exc.strerror or exc}") from None
    check_smf_header(data, path)
    try:
        score = symusic.Score.from_midi(data, ttype="tick")
    except Exception as exc:  # noqa: BLE001 - symusic raises plain RuntimeErrors on corrupt data
        raise StemgenInputError(path, f"corrupt MIDI: {str(exc).splitlines()[0][:120]}") from None
    tpq = int(score.ticks_per_quarter)
    tempos = sorted((int(t.time), float(t.qpm)) for t in score.tempos) or [(0, 120.0)]
    bad = [q for _, q in tempos if not MIN_QPM <= q <= MAX_QPM]
    if bad:
        raise StemgenInputError(path, f"--beats: absurd tempo {bad[0]:.1f} BPM in the tempo map")
    if tempos[0][0] > 0:
        tempos.insert(0, (0, tempos[0][1]))
    sigs = sorted((int(s.time), int(s.numerator), int(s.denominator)) for s in score.time_signatures)
    sigs = [s for s in sigs if s[1] > 0 and s[2] > 0]
    starts = np.array([t for t, _ in tempos], dtype=np.float64)
    spt = np.array([60.0 / (q * tpq) for _, q in tempos])
    seg = np.concatenate([[0.0], np.cumsum(np.diff(starts) * spt[:-1])])
    # Ticks reaching until_s: past the last tempo event time runs at its tempo.
    last = int(np.searchsorted(seg, until_s, side="right") - 1)
    end_tick = int(starts[last] + (until_s - seg[last]) / spt[last]) + 2
    b_ticks, d_ticks = bar_beat_ticks(tpq, sigs, end_tick)

    def seconds(ticks):
        idx = np.clip(np.searchsorted(starts, ticks, side="right") - 1, 0, starts.size - 1)
        return seg[idx] + (ticks - starts[idx]) * spt[idx]

    beats, downbeats = seconds(b_ticks), seconds(d_ticks)
    keep = beats <= until_s + 1e-9
    meters = {num // 3 if den == 8 and num % 3 == 0 and num > 3 else num for _, num, den in sigs or [(0, 4, 4)]}
    return UserBeats(beats[keep], downbeats[downbeats <= until_s + 1e-9], meters.pop() if len(meters) == 1 else None)


def bar_beat_ticks(tpq: int, time_signatures: list[tuple[int, int, int]], end_tick: int) -> tuple[np.ndarray, np.ndarray]:
    """(beat ticks, downbeat ticks) before ``end_tick`` from ``(tick, num, den)`` time signatures (4/4
    before the first). Beat unit: the denominator, a dotted quarter in compound meters (6/8, 9/8, 12/8)."""
    sigs = list(time_signatures) or [(0, 4, 4)]
    if sigs[0][0] > 0:
        sigs.insert(0, (0, 4, 4))
    end = max(int(end_tick), 1)
    beats, downbeats = [], []
    for i, (tick, num, den) in enumerate(sigs):
        stop = sigs[i + 1][0] if i + 1 < len(sigs) else end
        unit = tpq * 4.0 / den
        per_bar = num
        if den == 8 and num % 3 == 0 and num > 3:  # compound meter: dotted-quarter beats
            unit, per_bar = unit * 3, num // 3
        beats.extend(np.arange(tick, stop, unit))
        downbeats.extend(np.arange(tick, stop, unit * per_bar))
    return np.array(beats), np.array(downbeats)


def apply_correction(analysis, correction: GridCorrection | None):
    """``analysis`` with its grid corrected by ``correction`` (a new ``Analysis``; features untouched).

    Raises ``StemgenInputError`` (naming the option or file) when the correction cannot be used.
    """
    if correction is None or correction.empty:
        return analysis
    duration = analysis.duration_s
    meter = correction.meter
    downbeats = None
    confidence = analysis.beat_confidence
    if correction.beats_file is not None:
        user = read_beats_file(correction.beats_file, duration)
        beats = user.beat_times[user.beat_times <= duration]
        if beats.size < 2:
            raise StemgenInputError(correction.beats_file, f"--beats: fewer than 2 beats before the clip's end ({duration:.1f} s)")
        downbeats = None if user.downbeat_times is None else user.downbeat_times[user.downbeat_times <= duration]
        meter = meter or user.meter
        confidence, backend = 1.0, "user beats"
    elif correction.bpm is not None and correction.downbeat_s is not None:
        beats = constant_grid(correction.bpm, correction.downbeat_s, duration)
        confidence, backend = 1.0, "user bpm + downbeat"
    elif correction.bpm is not None:
        beats = retempo(analysis, correction.bpm, correction.downbeat_s)
        backend = f"{analysis.backend}, user bpm"
    else:
        beats = np.asarray(analysis.beat_times, dtype=np.float64)
        backend = f"{analysis.backend}, user-corrected"
    if correction.downbeat_s is not None and correction.beats_file is None and correction.bpm is None:
        beats = _phase_to(beats, correction.downbeat_s, duration)
    if beats.size < 2:
        raise StemgenInputError("--bpm", "no beats could be tracked at that tempo; give --downbeat too for a fixed grid")
    if downbeats is None:
        meter, downbeats = _bars(analysis, beats, meter, correction.downbeat_s)
    elif meter is None:  # labelled downbeats without a meter: the commonest bar length in beats
        gaps = np.diff(np.searchsorted(beats, downbeats - 1e-6))
        meter = int(np.bincount(gaps).argmax()) if gaps.size else 4
    return _with_grid(analysis, beats, downbeats, int(meter or 4), confidence, backend)


OCTAVE_TOLERANCE = 0.08  # a --bpm within 8 % of the detected tempo (or its double/half) keeps its beats


def retempo(analysis, bpm: float, downbeat_s: float | None = None) -> np.ndarray:
    """The detected beats at ``bpm``: kept when it is their tempo, halved or doubled when it is half or
    double it (the usual tempo-octave error), else tracked again at ``bpm``."""
    beats = np.asarray(analysis.beat_times, dtype=np.float64)
    ratio = bpm / analysis.tempo_bpm if analysis.tempo_bpm > 0 and beats.size >= 4 else 0.0
    if abs(ratio - 1.0) <= OCTAVE_TOLERANCE:
        return beats
    if abs(ratio - 2.0) <= 2 * OCTAVE_TOLERANCE:
        return np.sort(np.concatenate([beats, beats[:-1] + np.diff(beats) / 2]))
    if abs(ratio - 0.5) <= OCTAVE_TOLERANCE / 2:
        if downbeat_s is not None:
            phase = int(np.argmin(np.abs(beats - downbeat_s))) % 2
        else:  # the half that carries the bass / chord-change accents
            frames = np.rint(beats * analysis.frame_rate).astype(int)
            accents = dblib.beat_accents(frames, analysis.band_onsets[0], analysis.chroma)
            phase = int(np.argmax([dblib.bar_contrast(accents, 2, p) for p in (0, 1)]))
        return beats[phase::2]
    from stemgen.analysis import grid_decisions

    return grid_decisions.choose_grid(grid_decisions.GridFeatures(analysis), bpm, factors=(1.0,))


def constant_grid(bpm: float, downbeat_s: float, duration: float) -> np.ndarray:
    """Beats every 60/bpm s through ``downbeat_s``, from the first at or after 0 to the clip's end."""
    period = 60.0 / bpm
    first = downbeat_s - np.floor(downbeat_s / period + 1e-9) * period
    return first + period * np.arange(int(np.floor((duration - first) / period + 1e-9)) + 1)


def _phase_to(beats: np.ndarray, downbeat_s: float, duration: float) -> np.ndarray:
    """Beats moved by half a beat when ``downbeat_s`` is nearer the "&" than a beat."""
    if beats.size < 2:
        return beats
    i = int(np.argmin(np.abs(beats - downbeat_s)))
    period = float(np.median(np.diff(beats)))
    if abs(beats[i] - downbeat_s) <= period / 4:
        return beats
    mid = beats[:-1] + np.diff(beats) / 2
    shifted = np.concatenate([[beats[0] - period / 2] if beats[0] - period / 2 >= 0 else [], mid,
                              [beats[-1] + period / 2] if beats[-1] + period / 2 <= duration else []])
    return shifted


def _bars(analysis, beats: np.ndarray, meter: int | None, downbeat_s: float | None) -> tuple[int, np.ndarray]:
    """(meter, downbeat times): from the user's downbeat when given, else the accents' best phase."""
    frames = np.rint(beats * analysis.frame_rate).astype(int)
    if meter is None:
        same = beats.size == analysis.beat_times.size and np.allclose(beats, analysis.beat_times)
        if same and downbeat_s is None:
            return int(analysis.meter), np.asarray(analysis.downbeat_times, dtype=np.float64)
        accents = dblib.beat_accents(frames, analysis.band_onsets[0], analysis.chroma)
        meter, phase, _ = dblib.meter_and_phase(accents)
    if downbeat_s is not None:
        phase = int(np.argmin(np.abs(beats - downbeat_s))) % meter
    else:
        accents = dblib.beat_accents(frames, analysis.band_onsets[0], analysis.chroma)
        scores = [dblib.bar_contrast(accents, meter, p) for p in range(meter)] if accents.size >= 2 * meter else [0.0]
        phase = int(np.argmax(scores))
    return int(meter), beats[dblib.downbeat_indices(beats.size, meter, phase)]


def _with_grid(analysis, beats: np.ndarray, downbeats: np.ndarray, meter: int, confidence: float, backend: str):
    from stemgen.analysis.core import beat_chords

    beats = np.asarray(beats, dtype=np.float64)
    return dataclasses.replace(
        analysis, beat_times=beats, downbeat_times=np.asarray(downbeats, dtype=np.float64),
        tempo_bpm=beatlib.tempo_from_beats(beats), tempo_curve=beatlib.tempo_curve(beats), meter=meter,
        chords=beat_chords(analysis.chroma, analysis.bass_chroma, analysis.frame_rate, beats, analysis.duration_s),
        beat_confidence=float(confidence), backend=backend)
