"""Generate a missing track for a whole song and write it next to the untouched input tracks.

Windows with continuity, in two batched passes (fast on a CPU: every window of a pass is one
batch): pass A generates non-overlapping windows of ``window`` steps; pass B regenerates the
``seam`` steps around every boundary between two A windows, with ``seam // 2`` steps on each side
given as known lanes (inpainting), so each boundary is bridged by a window that saw both sides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stemgen.errors import StemgenInputError
from stemgen.fileio import atomic_write_bytes

from .features import context_features, decode_target, role_slices
from .grid import SongGrid, song_to_grid
from .io import MidiSong, append_track_bytes, encode_track, load_midi
from .lanes import DRUM_CHANNEL, STEMS, program_for

SEAM = 64  # steps regenerated around a boundary; the outer quarters on each side are known
MAX_POLY = {"bass": 1, "guitar": 6}
DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[1] / "models" / "midi"
DEFAULT_MODELS = {"drums": "band-drums", "bass": "band-bass", "guitar": "band-guitar"}


@dataclass
class GenerationResult:
    """What was generated for one song."""

    notes: list[tuple[int, int, int, int]]  # (start_tick, end_tick, pitch, velocity)
    instruction: str
    program: int
    channel: int
    n_windows: int
    info: dict = field(default_factory=dict)


def resolve_model_dir(stem: str, model: str | Path | None) -> Path:
    """``model`` if given, else the bundled default model for ``stem``."""
    if model:
        return Path(model)
    return DEFAULT_MODEL_DIR / DEFAULT_MODELS[stem]


class MidiGenerator:
    """A loaded model plus the sampling settings; reusable across songs (one per batch worker)."""

    def __init__(self, stem: str, model_dir: str | Path | None = None, steps: int = 8, guidance: float = 1.5):
        from .model import load_model

        if stem not in STEMS:
            raise ValueError(f"stem must be one of {STEMS}")
        self.stem = stem
        self.model, self.meta = load_model(resolve_model_dir(stem, model_dir))
        if self.model.config.stem != stem:
            raise StemgenInputError(model_dir, f"model generates {self.model.config.stem}, not {stem}")
        self.steps, self.guidance = steps, guidance
        self._text_cache: dict[str, np.ndarray] = {}

    def embed(self, text: str) -> np.ndarray:
        from .text import embed_texts

        if text not in self._text_cache:
            self._text_cache[text] = embed_texts([text])[0]
        return self._text_cache[text]

    def default_instruction(self, grid: SongGrid, path: str | Path) -> str:
        """Instruction from the song's descriptors via the project's instruction writer."""
        from .descriptors import write_instructions

        return write_instructions([(grid, self.stem, path)])[0]

    def lanes_for(self, grid: SongGrid, instruction: str, seed: int = 0) -> np.ndarray:
        """Generated lanes (Ct, n_steps) for the whole song."""
        import torch

        from .sampling import sample_lanes

        cfg = self.model.config
        w, n = cfg.window, grid.n_steps
        n_a = max(1, -(-n // w))
        total = n_a * w
        ctx = np.zeros((cfg.context_channels, total), np.float32)
        ctx[:, :n] = context_features(grid, self.stem)
        if total > n:  # after the end: silence, but the bar positions go on
            ctx[role_slices()["other"].stop :, n:] = _position_tail(grid, total)[:, n:]
        text = torch.from_numpy(self.embed(instruction))
        gen = torch.Generator().manual_seed(int(seed))

        # Pass A: non-overlapping windows.
        ctx_a = torch.from_numpy(ctx.reshape(cfg.context_channels, n_a, w).transpose(1, 0, 2).copy())
        lanes = sample_lanes(self.model, ctx_a, text.expand(n_a, -1), steps=self.steps,
                             guidance=self.guidance, generator=gen)
        out = lanes.permute(1, 0, 2).reshape(cfg.target_channels, total).clone()

        # Pass B: bridge each boundary; the outer halves of each seam window are known.
        seam = min(SEAM, w)
        starts = [k * w - seam // 2 for k in range(1, n_a)]
        if starts:
            idx = torch.tensor(starts)[:, None] + torch.arange(seam)[None]
            ctx_b = torch.from_numpy(ctx)[:, idx].permute(1, 0, 2)
            known = out[:, idx].permute(1, 0, 2)
            mask = torch.zeros(len(starts), 1, seam)
            mask[:, :, : seam // 4] = 1
            mask[:, :, -seam // 4 :] = 1
            bridged = sample_lanes(self.model, ctx_b, text.expand(len(starts), -1), known, mask,
                                   steps=self.steps, guidance=self.guidance, generator=gen)
            for j, s in enumerate(starts):
                out[:, s : s + seam] = bridged[j]
        return out[:, :n].numpy()

    def generate(self, song: MidiSong, song_bytes: bytes, instruction: str | None = None, seed: int = 0) -> GenerationResult:
        """The new track's notes (ticks), program and channel for ``song``."""
        cfg = self.model.config
        grid = song_to_grid(song, cfg.steps_per_beat)
        text = instruction or self.default_instruction(grid, song.path)
        lanes = self.lanes_for(grid, text, seed)
        steps = decode_target(lanes, self.stem, MAX_POLY.get(self.stem))
        st = grid.step_ticks
        # Drums ring out a sixteenth; pitched notes keep their generated length.
        notes = [(int(round(s * st)), int(round(e * st)), p, v) for s, e, p, v in steps]
        channel = DRUM_CHANNEL if self.stem == "drums" else free_channel(song_bytes)
        return GenerationResult(notes, text, program_for(self.stem, text), channel, -(-grid.n_steps // cfg.window))


def _position_tail(grid: SongGrid, total: int) -> np.ndarray:
    """Position channels continued past the song's end (same bar length as the last bar)."""
    from .features import position_channels

    bar = int(grid.bar_steps[-1]) or 4 * grid.steps_per_beat
    extra = total - grid.n_steps
    ext = SongGrid(grid.steps_per_beat, grid.tpq, total, [],
                   np.concatenate([grid.bar_start, np.zeros(extra, bool)]),
                   np.concatenate([grid.pos_in_bar, (grid.pos_in_bar[-1] + 1 + np.arange(extra)) % bar]),
                   np.concatenate([grid.bar_steps, np.full(extra, bar)]))
    ext.bar_start[grid.n_steps:] = ext.pos_in_bar[grid.n_steps:] == 0
    return position_channels(ext).T


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
    from .smf import chunks, events

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
    if entry is None:
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
) -> GenerationResult:
    """Read ``path``, generate ``generator.stem``, write ``out`` atomically (never over the input)."""
    path, out = Path(path), Path(out)
    if out.exists() and out.resolve() == path.resolve():
        raise StemgenInputError(out, "output would overwrite the input")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StemgenInputError(path, f"cannot read: {exc.strerror or exc}") from None
    song = read_song(path, data)
    result = generator.generate(song, data, instruction, seed)
    if not result.notes:
        raise StemgenInputError(path, f"the model generated no {generator.stem} notes for this song; nothing written")
    if generator.stem != "drums" and result.channel in channel_use(data):
        result.channel = free_channel(data, result.program)
    warning = channel_clash(data, result.channel, result.program)
    if warning:
        result.info.setdefault("warnings", []).append(warning)
    atomic_write_bytes(out, new_track_bytes(data, result, generator.stem))
    return result


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
