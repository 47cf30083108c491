"""A part on the song's beats -> stem audio, new mix and MIDI file (the arranger's last step).

``render_part`` places the notes on the detected beats, humanises them (seeded), picks the kit or
program, renders through FluidSynth at the input's rate, matches the stem's loudness to the input
(the context), gives it the input's channel count and exact length, and adds it to the input with
a limiter that changes nothing unless the sum would clip. ``write_outputs`` writes
``<song>_<stem>.wav``, ``<song>_mix.wav`` and ``<song>_<stem>.mid``, all three or none; the .mid
follows the song's tempo map or has one constant tempo (``midi_tempo``, ``stemgen.arranger.midifile``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from stemgen.arranger.grid import BeatGrid
from stemgen.arranger.humanize import Humanization
from stemgen.arranger.level_model import predicted_level_db
from stemgen.arranger.limiter import mix_with_limiter
from stemgen.arranger.loudness import (
    DEFAULT_LEVEL_DB,
    channel_sum_db,
    loudness_lufs,
    matching_gain_db,
)
from stemgen.arranger.midifile import build_tempo_map, checked_midi_tempo, constant_tempo_map, part_midi
from stemgen.arranger.placement import TimedNotes, place_notes
from stemgen.arranger.synthesis import render_notes, to_block_grid
from stemgen.audio.mixing import fit_headroom
from stemgen.midifile.meter import Meter
from stemgen.render.articulation import articulate_guitar
from stemgen.render.chokes import choke_times
from stemgen.render.mix_placement import place
from stemgen.render.soundfonts import SoundFont
from stemgen.render.sounds import SoundChoice, choose_sound
from stemgen.render.synth import SynthSettings


@dataclass
class RenderedPart:
    stem: str
    sample_rate: int
    stem_audio: np.ndarray  # (channels, samples) float32, the input's shape
    mix_audio: np.ndarray  # input + stem, limited only where the sum would clip
    midi_bytes: bytes
    notes: TimedNotes  # sorted by onset; onset_s/offset_s are the rendered (sample-aligned) times
    sound: SoundChoice  # what was asked for
    info: dict = field(default_factory=dict)
    constant_tempo_midi_bytes: bytes = b""  # the same notes at one tempo, times in seconds from 0

    def midi(self, tempo: str = "map") -> bytes:
        """The part's .mid: ``map`` (the song's beats as the tempo map) or ``constant`` (one tempo)."""
        return self.constant_tempo_midi_bytes if checked_midi_tempo(tempo) == "constant" else self.midi_bytes

    @property
    def note_times(self) -> np.ndarray:
        """Rendered onset of every note in seconds (``notes`` order)."""
        return self.notes.onset_s


def render_part(
    notes: Sequence[Sequence[int]] | np.ndarray,
    beat_times: Sequence[float] | np.ndarray,
    *,
    stem: str,
    context_audio: np.ndarray,
    sample_rate: int,
    sound: str | int | None = None,
    instruction: str = "",
    seed: int = 0,
    meter: int = 4,
    signature: Meter | None = None,
    downbeat_times: Sequence[float] | None = None,
    humanization: Humanization = Humanization(),
    level_db: float | None = None,
    soundfont: str | Path | SoundFont | None = None,
    settings: SynthSettings = SynthSettings(),
    mix_placement: bool = True,
    articulation: bool = True,
    onset_compensation: bool = True,
    step_offsets: Sequence[float] | np.ndarray | None = None,
) -> RenderedPart:
    """Render ``notes`` for ``stem`` against ``context_audio``.

    notes: ``(start_step, end_step, pitch, velocity)`` rows on the 16th-note grid (4 steps a beat,
        step ``k`` of beat ``b`` at beat position ``b + k/4``; GM drum keys for drums).
    beat_times: detected beats in seconds (the grid's beats; at least two).
    context_audio: the input song, ``(channels, samples)`` or ``(samples,)``, at ``sample_rate``;
        never modified. The stem and mix get its channel count, length and rate.
    sound: user's kit/program (a name from ``stemgen.render.sounds`` or a GM number); else
        chosen from ``instruction``; else the stem's default.
    seed: humanisation seed (same seed, same part). ``humanization=Humanization.off()`` for none.
    meter, downbeat_times: beats a bar and where bars start, for the MIDI file's time signature and
        bar lines (the first downbeat's nearest beat is taken as a bar start).
    signature: the time signature the MIDI file writes for a bar of ``meter`` beats (6/8 for 3
        quarter-note beats: ``overrides.quarter_note_view``); default ``meter``/4.
    level_db: stem loudness relative to the context in LU; default: predicted from the context
        (``level_model.predicted_level_db``; ``DEFAULT_LEVEL_DB[stem]`` for a silent context).
    soundfont: name or path; default: the renderer's default SoundFont (a sound with its own
        SoundFont, such as the AVL kits, plays from that one).
    mix_placement: EQ, compression, pan/width and room on the stem (False: the dry render).
    articulation: guitar strums/palm mutes/let-ring and drum cymbal chokes (False: notes as written).
    onset_compensation: send each note early by its sample's onset delay (False: at the note time).
    step_offsets: per-note timing in 16ths (a drummer's push, drag and swing, ``midi.feel``), in
        place of the Gaussian timing jitter; ``None``: the jitter.
    """
    context = np.atleast_2d(np.asarray(context_audio, dtype=np.float32))
    if context.ndim != 2 or context.shape[-1] == 0:
        raise ValueError(f"context audio must be (channels, samples) with samples, got {context.shape}")
    channels, num_samples = context.shape
    grid = BeatGrid.from_times(beat_times)
    choice = choose_sound(stem, instruction, sound)
    timed = place_notes(notes, grid, is_drums=stem == "drums", humanization=humanization, seed=seed,
                        step_offsets=step_offsets)
    performed = None
    if articulation and stem == "guitar":  # strums, palm mutes, let-ring (stemgen.render.articulation)
        performed = articulate_guitar(timed, grid.period_at(timed.onset_s), instruction, choice.sound.name, seed)
    timed = timed.select(to_block_grid(timed.onset_s, sample_rate) < num_samples)  # none after the song's end
    chokes = None
    if articulation and stem == "drums":  # cymbals grabbed where the part stops (stemgen.render.chokes)
        chokes = choke_times(timed.onset_s, timed.pitch, grid.period_at(timed.onset_s))
        performed = {"choked_cymbals": int(np.isfinite(chokes).sum())}

    # Stereo input gets the SoundFont's stereo image; any other channel count, one mono signal.
    synth = render_notes(timed, choice.sound, sample_rate, num_samples, soundfont, settings,
                         channels=2 if channels == 2 else 1, compensate=onset_compensation, choke_s=chokes)
    timed.onset_s = synth.onset_samples / sample_rate
    timed.offset_s = synth.offset_samples / sample_rate
    placement = None
    if mix_placement:  # EQ, compression, pan/width, room (stemgen.render.mix_placement)
        placed, placement = place(synth.audio, sample_rate, stem, instruction, seed, context)
        synth.audio = placed
    if level_db is None:  # the level real parts have against a song like this one (level_model.py)
        level, level_source = predicted_level_db(stem, context, sample_rate, DEFAULT_LEVEL_DB[stem])
    else:
        level, level_source = float(level_db), "given"
    # A mono render is copied to every channel: measured once, in the context's channel count.
    stem_lufs = loudness_lufs(synth.audio, sample_rate)
    if synth.audio.shape[0] != channels:
        stem_lufs += channel_sum_db(channels)
    context_lufs = loudness_lufs(context, sample_rate)
    gain_db, target = matching_gain_db(stem_lufs, context_lufs, level)
    rendered = synth.audio * np.float32(10 ** (gain_db / 20))
    rendered, headroom = fit_headroom(rendered)  # a stem alone must not clip either
    headroom_db = headroom.gain_db if headroom else 0.0
    stem_audio = np.ascontiguousarray(np.broadcast_to(rendered, (channels, num_samples)), dtype=np.float32)
    mix, limiter = mix_with_limiter(context, stem_audio, sample_rate)

    first_downbeat = _first_downbeat_index(grid, downbeat_times, meter)
    tempo_map = build_tempo_map(grid, meter, first_downbeat)
    midi = part_midi(timed.onset_s, timed.offset_s, timed.pitch, timed.velocity, tempo_map, synth.sound, meter,
                     signature=signature)
    one_tempo = constant_tempo_map(grid)
    constant_midi = part_midi(timed.onset_s, timed.offset_s, timed.pitch, timed.velocity, one_tempo, synth.sound, meter,
                              signature=signature)

    info = {
        "sound": choice.to_dict(),
        "played": synth.sound.label,
        "substituted": synth.substituted,
        "soundfont": synth.soundfont.name,
        "notes": len(timed),
        "seed": seed,
        "humanization": humanization.__dict__,
        "articulation": performed,
        "onset_delay_compensated": synth.onset_delay_known,
        "mix_placement": placement,
        "loudness": {"context_lufs": _round(context_lufs), "stem_lufs_rendered": _round(stem_lufs),
                     "level_db": round(level, 2), "level_source": level_source, "target_lufs": _round(target), "gain_db": round(gain_db, 2),
                     "stem_headroom_gain_db": round(headroom_db, 2),
                     "stem_lufs": _round(stem_lufs + gain_db + headroom_db)},
        "limiter": limiter.to_dict(),
        "midi": tempo_map.to_dict(),
        "midi_constant_tempo": one_tempo.to_dict(),
        "synth": settings.to_dict(),
    }
    return RenderedPart(stem, sample_rate, stem_audio, mix, midi, timed, choice, info, constant_midi)


def write_outputs(part: RenderedPart, out_dir: str | Path, song: str, subtype: str | None = None,
                  take: int | None = None, midi_tempo: str = "map") -> dict[str, Path]:
    """Write ``<song>_<stem>.wav``, ``<song>_mix.wav`` and ``<song>_<stem>.mid`` (take N: each name
    ending ``_take<N>``, ``stemgen.output_names``): all three or none.

    Each file is written in full under a temporary name first and renamed only when all three are
    done (as ``stemgen.audio.io.write_audio_files``), so a failure leaves no partial set.
    ``subtype``: soundfile's WAV subtype (default 16-bit PCM). ``midi_tempo``: ``map`` (the song's
    tempo map) or ``constant`` (one tempo, the song's median; ``RenderedPart.midi``).
    """
    from stemgen.audio.io import check_signal, write_audio
    from stemgen.fileio import atomic_outputs

    from stemgen.output_names import output_names

    midi_bytes = part.midi(midi_tempo)  # a bad choice is refused before anything is written
    paths = {key: Path(out_dir) / name for key, name in output_names(song, part.stem, take).items()}
    for key, audio in (("stem", part.stem_audio), ("mix", part.mix_audio)):
        check_signal(paths[key], audio)
    with atomic_outputs(list(paths.values())) as (stem_tmp, mix_tmp, midi_tmp):
        write_audio(stem_tmp, part.stem_audio, part.sample_rate, subtype, name=paths["stem"])
        write_audio(mix_tmp, part.mix_audio, part.sample_rate, subtype, name=paths["mix"])
        try:
            midi_tmp.write_bytes(midi_bytes)
        except OSError as exc:  # name the output, not its temporary file
            raise OSError(exc.errno, exc.strerror, str(paths["midi"])) from None
    return paths


def _first_downbeat_index(grid: BeatGrid, downbeat_times, meter: int) -> int:
    if downbeat_times is None or len(downbeat_times) == 0:
        return 0
    nearest = int(np.argmin(np.abs(grid.beat_times - float(downbeat_times[0]))))
    return nearest % max(1, meter)


def _round(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 2)
