"""The arranger engine: add drums, bass or guitar to a song's audio as a sampled-instrument stem and
an editable MIDI part.

    song audio -> stemgen.analysis (beats, downbeats, meter, per-16th features)
               -> the shared part-model context (106 channels, stemgen.midi.context; a model
                  trained on the first 34 reads their prefix)
               -> part model (stemgen.midi: the MIDI engine's model family) -> notes on the 16th grid
               -> stemgen.arranger.render_part (humanised, on the detected beats, SoundFont)
               -> stem + mix (input untouched) + .mid whose tempo map follows the detected beats

Structure comes from analysis and a learned part model, sound from real sampled instruments: it
runs on a CPU in a fraction of real time, unlike the spectrogram diffusion engine, which needs GPU
training to sound like instruments. A song without a reliable beat is refused (``BeatTrackingError``)
instead of getting a random part.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from stemgen.arranger.humanize import Humanization
from stemgen.arranger.part import RenderedPart, render_part
from stemgen.errors import StemgenInputError
from stemgen.stems import REGISTRY

ARRANGER_MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "arranger"


def default_model_dir(stem: str) -> Path:
    """The bundled arranger part model for ``stem`` (trained on analysed audio contexts); the MIDI
    engine's bundled model for it when no arranger model is bundled (same family and context)."""
    from stemgen.midi.generate import resolve_model_dir

    own = ARRANGER_MODEL_DIR / REGISTRY[stem].arranger_model
    return own if (own / "config.json").is_file() else resolve_model_dir(stem, None)


@dataclass
class Arrangement:
    """One song's new part: the rendered stem/mix/MIDI, the notes on the step grid and what led to them."""

    part: RenderedPart
    notes: list[tuple[int, int, int, int]]  # (start_step, end_step, pitch, velocity) on step_analysis' steps
    instruction: str
    analysis: object  # stemgen.analysis.Analysis
    timings: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # e.g. the rule-based part was played instead
    written_on: object = None  # the Analysis whose steps ``notes`` are on when not ``analysis`` (a compound song's quarters)

    @property
    def step_analysis(self):
        """The analysis whose ``step_times`` the notes are on: ``analysis``, or its quarter-note view
        for a 6/8 or 12/8 song (``overrides.quarter_note_view``)."""
        return self.analysis if self.written_on is None else self.written_on

    @property
    def stem_audio(self) -> np.ndarray:
        return self.part.stem_audio

    @property
    def mix_audio(self) -> np.ndarray:
        return self.part.mix_audio

    def summary(self) -> dict:
        a = self.analysis
        return {
            "engine": "arranger",
            "instruction": self.instruction,
            "notes": len(self.notes),
            "analysis": {"tempo_bpm": round(float(a.tempo_bpm), 2), "meter": int(a.meter),
                         "beats": int(a.beat_times.size), "beat_confidence": round(float(a.beat_confidence), 3),
                         "grid": a.backend,
                         "key": a.key.name if a.key is not None else None},
            "render": self.part.info,
            "timings": self.timings,
            "warnings": list(self.warnings),
        }


class Arranger:
    """A loaded part model plus rendering settings; reusable across songs.

    Args:
        stem: drums, bass or guitar.
        model: a part-model folder (``stemgen midi train`` or the arranger's training); default: bundled.
        sound: kit or program name / GM number (``stemgen.arranger.SOUNDS``); default: from the instruction.
        density: scales how many notes the part plays (1 = as many as the model expects).
        level_db: stem loudness relative to the context in LU (default: predicted from the song,
            ``stemgen.arranger.level_model``).
        soundfont: SoundFont name or path (default: the renderer's).
    """

    def __init__(self, stem: str, model: str | Path | None = None, sound: str | int | None = None,
                 density: float = 1.0, level_db: float | None = None, soundfont: str | Path | None = None,
                 temperature: float | None = None, beat_tracker: str | None = None):
        from stemgen.analysis import analysis_backend
        from stemgen.midi.generate import MidiGenerator
        from stemgen.render.sounds import choose_sound

        choose_sound(stem, "", sound)  # an unknown kit/program fails here, before any work
        self.analysis_backend = analysis_backend(beat_tracker)  # an unknown tracker too
        self.stem, self.sound, self.level_db, self.soundfont = stem, sound, level_db, soundfont
        self.model_dir = Path(model) if model else default_model_dir(stem)
        self.generator = MidiGenerator(stem, self.model_dir, density=density, temperature=temperature)

    def notes_for(self, analysis, instruction: str, seed: int = 0) -> list[tuple[int, int, int, int]]:
        """The part's notes on ``step_times(analysis)``'s steps (the take of ``seed``)."""
        from stemgen.midi.context import context_from_analysis

        return self.generator.notes_from_context(context_from_analysis(analysis), instruction, seed)

    def __call__(self, audio: np.ndarray, sample_rate: int, instruction: str | None = None, seed: int = 0,
                 source: str | Path | None = None, correction=None, humanization=None, analysis=None,
                 song_start: bool = True) -> Arrangement:
        """Arrange a part for ``audio`` (``(channels, n)`` or ``(n,)``, the song without the stem).

        ``correction``: the user's grid (``stemgen.analysis.overrides.GridCorrection``: bpm, meter,
        first downbeat, beats file); the part follows it. ``humanization``: ``render_part``'s
        (default: ``default_humanization``; ``Humanization.off()`` puts every note exactly on the grid). ``analysis``:
        the song's ``Analysis`` with the correction already applied (``api.analyse_song``), reused across
        takes; ``None``: analysed here (``correction`` is then applied; with ``analysis`` it is ignored).
        ``song_start``: the audio is a song from its beginning (the drums' entry gets its crash);
        False: an excerpt cut from inside a song, whose drums play on into it without one.
        Raises ``BeatTrackingError`` (naming ``source``) when the song has no reliable beat.
        """
        from stemgen.analysis import analyze
        from stemgen.analysis.features import step_beats
        from stemgen.analysis.grid_doubts import grid_warnings
        from stemgen.analysis.overrides import apply_correction, quarter_note_view
        from stemgen.analysis.reliability import require_usable

        text = instruction or f"Add {self.stem}"
        t0 = time.perf_counter()
        if analysis is None:
            analysis = apply_correction(analyze(audio, sample_rate, self.analysis_backend), correction)
        require_usable(analysis, audio, sample_rate, source)  # no beat, or a drone; never the user's grid
        on_steps, signature = quarter_note_view(analysis)  # 6/8, 12/8: written on quarter notes
        t1 = time.perf_counter()
        notes, warnings, timing = self._notes_or_rule(on_steps, text, seed, song_start)
        if not notes:
            raise StemgenInputError(source, f"the part model wrote no {self.stem} notes for this song; nothing written")
        t2 = time.perf_counter()
        beats, offset = step_beats(on_steps)
        on_beats = [(s + offset, e + offset, p, v) for s, e, p, v in notes]
        if humanization is None:
            humanization = self.default_humanization(from_model=not warnings)
        part = render_part(on_beats, beats, stem=self.stem, context_audio=audio, sample_rate=sample_rate,
                           sound=self.sound, instruction=text, seed=seed, meter=int(on_steps.meter),
                           signature=signature, downbeat_times=on_steps.downbeat_times, level_db=self.level_db, soundfont=self.soundfont,
                           step_offsets=timing, humanization=humanization)
        t3 = time.perf_counter()
        duration = analysis.duration_s
        total = t3 - t0
        timings = {"analysis_s": round(t1 - t0, 3), "part_model_s": round(t2 - t1, 3), "render_s": round(t3 - t2, 3),
                   "total_s": round(total, 3), "audio_s": round(duration, 3),
                   "realtime_factor": round(duration / total, 2) if total > 0 else None}
        warnings = warnings + grid_warnings(analysis)  # when to check the bar start (after humanization's choice)
        return Arrangement(part, notes, text, analysis, timings, warnings, None if on_steps is analysis else on_steps)

    def default_humanization(self, from_model: bool = True) -> Humanization:
        """``render_part``'s humanisation, without its velocity jitter where the part model's velocities
        are already drawn from real players' (``from_model`` and a ``"velocity"`` setting,
        ``midi.velocity``: the guitar); the rule-based fallback part keeps the jitter."""
        if from_model and self.generator.meta.get("velocity"):
            return replace(Humanization(), velocity_sd=0.0, tight_velocity_sd=0.0)
        return Humanization()

    def _notes_or_rule(self, analysis, text: str, seed: int = 0, song_start: bool = True):
        """``(notes, warnings, drum timing)``: the model's notes (the take of ``seed``); the rule-based
        part (``fallback``) when the model wrote almost none for a song whose beat the analysis found,
        with a warning saying so. Drums get the Groove MIDI drummers' timing in 16ths
        (``midi.feel.step_offsets``) instead of the Gaussian jitter; other stems ``None``."""
        from stemgen.arranger.fallback import rule_notes, too_sparse
        from stemgen.midi.context import context_from_analysis
        from stemgen.midi.feel import step_offsets

        context = context_from_analysis(analysis)
        notes = self.generator.notes_from_context(context, text, seed, song_start)
        warnings = []
        if too_sparse(notes, context):
            rule = rule_notes(context, self.stem, self.generator.density)
            if rule:
                warnings = [f"the part model wrote {len(notes)} {self.stem} notes for the whole song; "
                            f"played the rule-based {self.stem} part instead ({len(rule)} notes)"]
                notes = rule
        timing = step_offsets(notes, context, text, seed) if self.stem == "drums" and notes else None
        return notes, warnings, timing
