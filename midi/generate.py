"""Generate a missing track for a whole song and write it next to the untouched input tracks.

The part model sees the whole song in one forward pass (its convolutions are length-independent),
so there are no windows to stitch; decoding keeps as many notes as the model expects the real part
to have, drawn at a temperature from the seed (``sampling.decode_take``: another seed, another
take; temperature 0, the most probable notes); drums get a groove per section, fills, crashes and
rests (``drum_form``) and the Groove MIDI drummers' accents, on the grid, swung where the
instruction asks (``feel``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stemgen.errors import StemgenInputError
from stemgen.fileio import atomic_write_bytes
from stemgen.midifile.grid import SongGrid, song_to_grid
from stemgen.midifile.io import MidiSong, append_track_bytes, encode_track, load_midi
from stemgen.render.sounds import program_for
from stemgen.stems import DRUM_CHANNEL, REGISTRY, STEMS

from .context import HEARING_GROUPS, SLICES, context_from_grid
from .priors import decode_part

DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[1] / "models" / "midi"
DEFAULT_MODELS = {s: spec.part_model for s, spec in REGISTRY.items()}


@dataclass
class GenerationResult:
    """What was generated for one song."""

    notes: list[tuple[int, int, int, int]]  # (start_tick, end_tick, pitch, velocity)
    instruction: str
    program: int
    channel: int
    info: dict = field(default_factory=dict)


def resolve_model_dir(stem: str, model: str | Path | None) -> Path:
    """``model`` if given, else the bundled default model for ``stem``."""
    if model:
        return Path(model)
    return DEFAULT_MODEL_DIR / DEFAULT_MODELS[stem]


class MidiGenerator:
    """A loaded part model plus the decoding settings; reusable across songs (one per batch worker).

    ``density`` scales the number of onsets (1 = as the model expects); ``temperature`` how far a
    take may stray from the most probable notes (0: always those).
    """

    def __init__(self, stem: str, model_dir: str | Path | None = None, density: float = 1.0,
                 temperature: float | None = None):
        from .model import load_model
        from .sampling import resolved_temperature

        if stem not in STEMS:
            raise ValueError(f"stem must be one of {STEMS}")
        self.stem = stem
        folder = resolve_model_dir(stem, model_dir)
        self.model, self.meta = load_model(folder)
        if self.model.config.stem != stem:
            raise StemgenInputError(folder, f"model generates {self.model.config.stem}, not {stem}")
        self.model_dir, self.density = folder, density
        self.temperature = resolved_temperature(stem, temperature)
        self._text_cache: dict[str, np.ndarray] = {}
        self.embed(f"Add {stem}.")  # loads the text encoder now (worker start-up), not on the first song

    @property
    def description(self) -> str:
        """One line for evaluation reports."""
        kept = self.meta.get("metrics", {}).get("kept_step")
        steps = f"{self.meta.get('steps', '?')} training steps" + (f", weights of step {kept}" if kept else "")
        settings = ", ".join(f"{k} {v}" for k, v in self.meta.get("decode", {}).items() if k != "density_scale")
        how = f"sampled at temperature {self.temperature:g}" if self.temperature else "deterministic decoding"
        if self.stem == "drums":
            how += ", drums with form (drum_form) and Groove MIDI feel"
        return (f"part model {self.model_dir.name} ({steps}), density x{self.density:g}, {how}"
                + (f" ({settings}, chosen on the valid split)" if settings else ""))

    def embed(self, text: str) -> np.ndarray:
        from .text import embed_texts

        if text not in self._text_cache:
            self._text_cache[text] = embed_texts([text])[0]
        return self._text_cache[text]

    def default_instruction(self, grid: SongGrid, path: str | Path) -> str:
        """Instruction from the song's descriptors via the project's instruction writer."""
        from .descriptors import write_instructions

        return write_instructions([(grid, self.stem, path)])[0]

    def predict(self, context: np.ndarray, instruction: str) -> np.ndarray:
        """Model outputs (logits, C x T) for a (106, T) context: MIDI or audio analysis alike."""
        return model_logits(self.model, context, self.embed(instruction))

    def notes_for(self, grid: SongGrid, instruction: str, seed: int = 0) -> list[tuple[int, int, int, int]]:
        """Notes ``(start_step, end_step, pitch, velocity)`` of the new part (the take of ``seed``)."""
        return self.notes_from_context(context_from_grid(grid, self.stem), instruction, seed)

    def logits_for(self, context: np.ndarray, instruction: str) -> np.ndarray:
        """``predict``, with what the model can use of ``context`` (see ``model_logits``)."""
        return model_logits(self.model, context, self.embed(instruction), self.meta.get("hears_other_parts", True))

    def notes_from_context(self, context: np.ndarray, instruction: str, seed: int = 0,
                           song_start: bool = True) -> list[tuple[int, int, int, int]]:
        """Notes on the steps of a ``(106, T)`` context, from MIDI or from audio analysis alike, decoded
        with the model's own decoding settings: the take of ``seed`` (``sampling.decode_take``), with the
        style, length and register priors of the model's ``config.json`` (``priors.py``, ``register.py``).
        ``song_start``: False when the context is an excerpt cut from inside a song (no opening crash)."""
        heard = heard_context(context, self.meta.get("hears_other_parts", True))  # form from what the model hears
        return decode_part(self.logits_for(context, instruction), context, self.stem, instruction, self.meta,
                           self.density, seed, self.temperature, heard, song_start)

    def generate(self, song: MidiSong, song_bytes: bytes, instruction: str | None = None, seed: int = 0) -> GenerationResult:
        """The new track's notes (ticks), program and channel for ``song``: the take of ``seed``."""
        from .feel import performed_ticks

        grid = song_to_grid(song, self.model.config.steps_per_beat)
        text = instruction or self.default_instruction(grid, song.path)
        st = grid.step_ticks
        steps = self.notes_for(grid, text, seed)
        if self.stem == "drums":
            notes = performed_ticks(steps, grid, text, seed)
        else:
            notes = [(int(round(s * st)), int(round(e * st)), p, v) for s, e, p, v in steps]
        channel = DRUM_CHANNEL if self.stem == "drums" else free_channel(song_bytes)
        return GenerationResult(notes, text, program_for(self.stem, text), channel)


def model_logits(model, context: np.ndarray, text_emb: np.ndarray, hears_other_parts: bool = True) -> np.ndarray:
    """A part model's outputs (logits, C x T) for a (106, T) context and an instruction embedding. A model
    trained on fewer channels (the 34 before the pitch group) reads their prefix; one that never heard
    other parts (trained on one instrument) is given the meter only."""
    import torch

    context = heard_context(context[: model.config.context_channels], hears_other_parts)
    with torch.inference_mode():
        ctx = torch.from_numpy(np.ascontiguousarray(context, dtype=np.float32))[None]
        return model(ctx, torch.from_numpy(np.asarray(text_emb, np.float32))[None])[0].numpy()


def heard_context(context: np.ndarray, hears_other_parts: bool = True) -> np.ndarray:
    """``context`` as a model hears it: all of it, or the meter only (a model trained on one instrument)."""
    if hears_other_parts:
        return context
    context = context.copy()
    for group in HEARING_GROUPS:
        context[SLICES[group]] = 0.0
    return context


def free_channel(song_bytes: bytes, program: int | None = None) -> int:
    """A channel no input track uses (never 9, the drum channel).

    When all 15 are taken (a 100-track orchestral file), the channel with the fewest notes,
    preferring one already playing ``program`` (the new part then sounds as asked, and the
    program change it sends does not retune another instrument); ``channel_clash`` says so.
    """
    use = channel_use(song_bytes)
    for ch in range(16):
        if ch != DRUM_CHANNEL and ch not in use:
            return ch
    candidates = [ch for ch in range(16) if ch != DRUM_CHANNEL]
    return min(candidates, key=lambda ch: (program not in use[ch]["programs"], use[ch]["notes"], ch))


def channel_use(song_bytes: bytes) -> dict[int, dict]:
    """Per channel used in the file: ``{"tracks", "notes", "programs"}`` (programs as sets)."""
    from stemgen.midifile.smf import chunks, events

    use: dict[int, dict] = {}
    for track, (kind, body) in enumerate(c for c in chunks(song_bytes) if c[0] == b"MTrk"):
        for _, status, raw in events(body):
            if not 0x80 <= status < 0xF0:
                continue
            entry = use.setdefault(status & 0x0F, {"tracks": set(), "notes": 0, "programs": set()})
            entry["tracks"].add(track)
            if status & 0xF0 == 0x90 and len(raw) > 2 and raw[2] > 0:
                entry["notes"] += 1
            elif status & 0xF0 == 0xC0 and len(raw) > 1:
                entry["programs"].add(raw[1])
    return use


def channel_clash(song_bytes: bytes, channel: int, program: int | None) -> str | None:
    """A one-line warning when the new part's ``channel`` is shared with input tracks."""
    entry = channel_use(song_bytes).get(channel)
    if entry is None or not entry["notes"]:  # controllers alone: no note of theirs to retune
        return None
    n = len(entry["tracks"])
    same = program is not None and entry["programs"] <= {program}
    what = "the same program" if same else f"programs {sorted(entry['programs']) or [0]}"
    return (f"no free MIDI channel: the new part shares channel {channel + 1} with {n} input track"
            f"{'s' if n != 1 else ''} ({what}); a program change on it "
            + ("changes nothing for them" if same else "may change how they sound"))


def new_track_bytes(song_bytes: bytes, result: GenerationResult, stem: str) -> bytes:
    """The output file: the input's bytes plus one track."""
    chunk = encode_track(result.notes, result.channel, result.program, f"stemgen {stem}")
    return append_track_bytes(song_bytes, chunk)


def generate_file(
    path: str | Path,
    out: str | Path,
    generator: MidiGenerator,
    instruction: str | None = None,
    seed: int = 0,
    replace: bool = False,
    program: int | None = None,
) -> GenerationResult:
    """Read ``path``, generate ``generator.stem``, write ``out`` atomically (never over the input).

    A song that already has the part is refused, naming its track: a second drum part would
    switch the existing drums' kit with its program change, a second bass would double the
    first. ``replace`` removes the existing part first (``subtract.strip_role``) and writes the
    new one in its place; no other track changes. ``program``: the track's GM program (the kit's
    for drums) instead of the one the instruction picks.
    """
    path, out = Path(path), Path(out)
    if out.exists() and out.resolve() == path.resolve():
        raise StemgenInputError(out, "output would overwrite the input")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StemgenInputError(path, f"cannot read: {exc.strerror or exc}") from None
    song = read_song(path, data)
    present = existing_part(song, generator.stem)
    if present and not replace:
        raise StemgenInputError(path, f"already has a {generator.stem} part ({present}); use --replace to "
                                      f"write a new one in its place, or choose another stem")
    if present:  # its notes and program changes go; every other event stays where it was
        from stemgen.midifile.subtract import strip_role

        data = strip_role(data, generator.stem)
        try:
            song = read_song(path, data)
        except StemgenInputError:
            raise StemgenInputError(path, f"has only a {generator.stem} part ({present}): nothing left to accompany "
                                          "once it is replaced") from None
    result = generator.generate(song, data, instruction, seed)
    if program is not None:
        result.program = int(program)
    if not result.notes:
        raise StemgenInputError(path, f"the model generated no {generator.stem} notes for this song; nothing written")
    if generator.stem != "drums" and result.channel in channel_use(data):
        result.channel = free_channel(data, result.program)
    warning = channel_clash(data, result.channel, result.program)
    if warning:
        result.info.setdefault("warnings", []).append(warning)
    atomic_write_bytes(out, new_track_bytes(data, result, generator.stem))
    return result


def existing_part(song: MidiSong, stem: str) -> str | None:
    """Which tracks of ``song`` already play ``stem`` (``"track 2 'Bass', 120 notes"``), or None."""
    from stemgen.midifile.lanes import track_role

    found = [f"track {i + 1}" + (f" {t.name!r}" if t.name else "") + f", {len(t)} notes"
             for i, t in enumerate(song.tracks) if len(t) and track_role(t.program, t.is_drum) == stem]
    return "; ".join(found) or None


def read_song(path: str | Path, data: bytes | None = None) -> MidiSong:
    """``load_midi`` plus what generation needs: at least one bar of music.

    A song shorter than one bar has nothing to accompany; usually the header's ticks per beat is
    wrong (notes written for 480 ticks a beat, read at 32767, all fall into the first beat).
    """
    song = load_midi(path, data)
    _, num, den = song.time_signatures[0] if song.time_signatures else (0, 4, 4)
    beats, bar = song.end_tick / song.tpq, num * 4 / den
    if beats < bar:
        raise StemgenInputError(song.path, f"lasts {beats:.2f} beats ({song.end_tick} ticks at {song.tpq} ticks per beat), "
                                           f"less than one bar: nothing to accompany (is the header's ticks per beat right?)")
    return song
