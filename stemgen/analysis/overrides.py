"""The user's corrections of the beat grid, as every DAW allows: tempo, meter, first downbeat, beats.

    correction = GridCorrection.from_options(bpm=116, meter="4/4", downbeat_s=0.52)  # or beats_file=...
    analysis = apply_correction(analyze(audio, sr), correction)

What each correction does to the detected grid (``apply_correction``, the one entry point the CLI,
the arranger engine and the API go through):

* ``beats_file``: the grid is the file's, exactly (beats past the clip's end dropped). A text file
  of beat times in seconds, one a line (Audacity label exports: ``start<TAB>end<TAB>label``;
  Sonic Visualiser: ``time<TAB|,>label``; a label ``1`` marks a downbeat when the labels count
  beats in the bar), or a ``.mid`` whose tempo map and time signatures are the song's (read by
  ``midifile.io.load_tempo_map``; beats and bar lines by ``midifile.meter.bar_beat_ticks``, as the
  MIDI ground truth's).
* ``bpm`` and ``downbeat_s`` together: a constant grid from that downbeat at that tempo over the
  whole clip (the user has said all a steady grid needs, detection is not consulted).
* ``bpm`` alone: the detected beats when that is their tempo, doubled or halved when it is twice or
  half theirs (the half ``grid_decisions`` scores as the beat), else tracked again at that tempo
  (beat or "&" decided as in detection, ``grid_decisions``).
* ``downbeat_s`` alone: the detected beat nearest it starts a bar; when it is nearer the "&" than
  a beat, the whole grid moves by half a beat first.
* ``meter``: beats a bar, as ``midifile.meter.parse_meter`` reads it: ``3/4``, ``4/4``, a number
  of beats, or compound ``6/8``/``9/8``/``12/8`` (2/3/4 dotted-quarter beats: a detected grid
  faster than ``COMPOUND_BEAT_MAX_BPM`` is the eighths, and every third is kept,
  ``compound_beats``). Without a downbeat, the bar phase is chosen from detection's bar accents
  (``bar_accents``) for that meter.

A grid the user gave (file, or bpm + downbeat) gets beat confidence 1.0 and ``user_grid``: the
refusals of ``reliability`` (``refusal_reason``, ``require_usable``) are for detection, not for the
user's grid.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stemgen.analysis import beats as beatlib
from stemgen.analysis import downbeats as dblib
from stemgen.analysis import grid_decisions as decisions
from stemgen.analysis.beat_grid import subdivide
from stemgen.errors import StemgenInputError
from stemgen.midifile.io import load_tempo_map
from stemgen.midifile.meter import MAX_BEATS_PER_BAR, Meter, bar_beat_ticks, parse_meter

MIN_BPM, MAX_BPM = 20.0, 400.0  # what --bpm accepts (a MIDI reader's readable range)


@dataclass(frozen=True)
class GridCorrection:
    """What the user says about the song's grid; every field optional."""

    bpm: float | None = None
    meter: int | None = None  # beats a bar (6/8 -> 2)
    downbeat_s: float | None = None
    beats_file: Path | None = None
    compound: bool = False  # the meter's beats are dotted quarters (6/8, 9/8, 12/8: midifile.meter)

    @classmethod
    def from_options(cls, bpm: float | None = None, meter: str | int | None = None, downbeat_s: float | None = None,
                     beats_file: str | Path | None = None) -> "GridCorrection":
        """Checked values (a one-line ``StemgenInputError`` naming the option otherwise)."""
        if bpm is not None and not (MIN_BPM <= float(bpm) <= MAX_BPM):
            raise StemgenInputError("--bpm", f"{bpm} is outside {MIN_BPM:.0f}-{MAX_BPM:.0f} beats a minute")
        if downbeat_s is not None and not (np.isfinite(downbeat_s) and downbeat_s >= 0):
            raise StemgenInputError("--downbeat", f"{downbeat_s} is not a time in seconds from the start (>= 0)")
        parsed = None if meter is None else parse_meter(meter)
        return cls(None if bpm is None else float(bpm), None if parsed is None else parsed.beats_per_bar,
                   None if downbeat_s is None else float(downbeat_s),
                   None if beats_file is None else Path(beats_file), bool(parsed and parsed.compound))

    @property
    def empty(self) -> bool:
        return self.bpm is None and self.meter is None and self.downbeat_s is None and self.beats_file is None

    @property
    def gives_grid(self) -> bool:
        """The user gave the whole grid (a beats file, or BPM and a downbeat): detection is not consulted."""
        return self.beats_file is not None or (self.bpm is not None and self.downbeat_s is not None)

    def to_dict(self) -> dict:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(self).items()
                if v is not None and not (k == "compound" and not v)}


@dataclass
class UserBeats:
    """Beats (s) from a file, with downbeats and beats a bar when the file tells them."""

    beat_times: np.ndarray
    downbeat_times: np.ndarray | None = None
    meter: int | None = None
    compound: bool = False  # the file's meter is 6/8, 9/8 or 12/8: its beats are dotted quarters


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
    song = load_tempo_map(path)
    end_tick = int(song.ticks_at(until_s)) + 2
    b_ticks, d_ticks = bar_beat_ticks(song.tpq, song.time_signatures, end_tick)
    beats, downbeats = song.seconds_at(b_ticks), song.seconds_at(d_ticks)
    meters = {Meter(num, den) for _, num, den in song.time_signatures}
    one = meters.pop() if len(meters) == 1 else None
    return UserBeats(beats[beats <= until_s + 1e-9], downbeats[downbeats <= until_s + 1e-9],
                     one and one.beats_per_bar, bool(one and one.compound))


def apply_correction(analysis, correction: GridCorrection | None):
    """``analysis`` with its grid corrected by ``correction`` (a new ``Analysis``; features untouched).

    Raises ``StemgenInputError`` (naming the option or file) when the correction cannot be used.
    """
    if correction is None or correction.empty:
        return analysis
    duration = analysis.duration_s
    meter = correction.meter
    compound = correction.compound
    downbeats = None
    confidence = analysis.beat_confidence
    if correction.beats_file is not None:
        user = read_beats_file(correction.beats_file, duration)
        beats = user.beat_times[user.beat_times <= duration]
        if beats.size < 2:
            raise StemgenInputError(correction.beats_file, f"--beats: fewer than 2 beats before the clip's end ({duration:.1f} s)")
        downbeats = None if user.downbeat_times is None else user.downbeat_times[user.downbeat_times <= duration]
        if meter is None:
            meter, compound = user.meter, user.compound
        confidence, backend = 1.0, "user beats"
    elif correction.bpm is not None and correction.downbeat_s is not None:
        beats = constant_grid(correction.bpm, correction.downbeat_s, duration)
        confidence, backend = 1.0, "user bpm + downbeat"
    elif correction.bpm is not None:
        beats = retempo(analysis, correction.bpm, correction.downbeat_s)
        backend = f"{analysis.backend}, user bpm"
    else:
        beats = np.asarray(analysis.beat_times, dtype=np.float64)
        if correction.compound:
            beats = compound_beats(analysis, beats, correction.downbeat_s)
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
    return _with_grid(analysis, beats, downbeats, int(meter or 4), confidence, backend, correction.gives_grid, compound)


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
        else:  # the half detection would call the beat (the other is its "&"): grid_decisions' score
            feats = decisions.GridFeatures(analysis)
            phase = int(np.argmax([decisions.grid_evidence(feats, beats[p::2], False) @ decisions.GRID_WEIGHTS
                                   for p in (0, 1)]))
        return beats[phase::2]
    return decisions.choose_grid(decisions.GridFeatures(analysis), bpm, factors=(1.0,))


COMPOUND_BEAT_MAX_BPM = 140.0  # a compound meter's dotted-quarter beat is slower; faster: the eighths


def compound_beats(analysis, beats: np.ndarray, downbeat_s: float | None = None) -> np.ndarray:
    """The dotted-quarter beats of a compound meter (6/8, 9/8, 12/8) from detected ``beats``: kept
    when their tempo is a dotted quarter's (up to ``COMPOUND_BEAT_MAX_BPM``), else they are the
    eighths and every third is a beat: the third through ``downbeat_s``, or the one whose beats carry
    the bar accents (``grid_decisions``' accent evidence)."""
    if beatlib.tempo_from_beats(beats) <= COMPOUND_BEAT_MAX_BPM or beats.size < 6:
        return beats
    if downbeat_s is not None:
        phase = int(np.argmin(np.abs(beats - downbeat_s))) % 3
    else:
        accents = bar_accents(analysis, beats)
        phase = int(np.argmax([dblib.bar_contrast(accents, 3, p) for p in range(3)]))
    return beats[phase::3]


def quarter_note_view(analysis):
    """``(analysis on quarter-note beats, the song's Meter)`` for a compound 6/8 or 12/8 grid, else
    ``(analysis, None)``.

    A listener counts a 6/8 song's dotted quarters (``Analysis.compound``), but the part models
    learned compound songs from band MIDI files whose steps are 16ths of quarter notes: a 6/8 bar is
    3 quarters (12 steps), its eighths on every other step. Each dotted quarter is cut into three
    eighths and every second eighth, counted from the first downbeat, is a quarter-note beat, so the
    parts' eighths fall on the grid (4 steps of a dotted quarter cannot hold them; a quarter that
    straddles a dotted beat is cut evenly, so where the tempo moves its middle 16th is off by a sixth
    of the change). 9/8 (4.5 quarters a bar) keeps its dotted quarters."""
    if not analysis.compound or analysis.meter % 2 or analysis.beat_times.size < 2:
        return analysis, None
    beats = np.asarray(analysis.beat_times, dtype=np.float64)
    eighths = subdivide(beats, 3)
    downbeats = np.asarray(analysis.downbeat_times, dtype=np.float64)
    first = 3 * int(np.argmin(np.abs(beats - downbeats[0]))) if downbeats.size else 0
    quarters = eighths[first % 2::2]
    on_quarters = quarters[np.argmin(np.abs(quarters[None, :] - downbeats[:, None]), axis=1)] if downbeats.size else downbeats
    view = _with_grid(analysis, quarters, np.unique(on_quarters), 3 * analysis.meter // 2, analysis.beat_confidence,
                      analysis.backend, analysis.user_grid, compound=False)
    return view, Meter(3 * analysis.meter, 8)


def bar_accents(analysis, beats: np.ndarray) -> np.ndarray:
    """Per-beat evidence that a beat starts a bar, as detection weighs it (``grid_decisions.bar_accents``)."""
    return decisions.bar_accents(decisions.GridFeatures(analysis), beats)


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
    accents = None
    if meter is None:
        same = beats.size == analysis.beat_times.size and np.allclose(beats, analysis.beat_times)
        if same and downbeat_s is None:
            return int(analysis.meter), np.asarray(analysis.downbeat_times, dtype=np.float64)
        accents = bar_accents(analysis, beats)
        meter, phase, _ = dblib.meter_and_phase(accents)
    if downbeat_s is not None:
        phase = int(np.argmin(np.abs(beats - downbeat_s))) % meter
    else:
        accents = bar_accents(analysis, beats) if accents is None else accents
        scores = [dblib.bar_contrast(accents, meter, p) for p in range(meter)] if accents.size >= 2 * meter else [0.0]
        phase = int(np.argmax(scores))
    return int(meter), beats[dblib.downbeat_indices(beats.size, meter, phase)]


def _with_grid(analysis, beats: np.ndarray, downbeats: np.ndarray, meter: int, confidence: float, backend: str,
               user_grid: bool, compound: bool):
    from stemgen.analysis.core import beat_chords

    beats = np.asarray(beats, dtype=np.float64)
    return dataclasses.replace(
        analysis, beat_times=beats, downbeat_times=np.asarray(downbeats, dtype=np.float64),
        tempo_bpm=beatlib.tempo_from_beats(beats), tempo_curve=beatlib.tempo_curve(beats), meter=meter,
        chords=beat_chords(analysis.chroma, analysis.bass_chroma, analysis.frame_rate, beats, analysis.duration_s),
        beat_confidence=float(confidence), backend=backend, user_grid=user_grid, compound=bool(compound),
        bar_start_margin=None, bar_start_alternative=0, tempo_octave_margin=None)  # the user has looked
