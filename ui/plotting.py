"""Pictures for the results: mel spectrograms of audio, piano rolls of MIDI files and of the arranger's
new part over the song's beats (PNG).

Before/after pictures share one colour scale (spectrograms) or one pitch range (piano rolls), so
what changed is what looks different.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

PLOT_SR = 22050  # enough for a picture; keeps long songs cheap
N_MELS = 128
HOP = 512
FIGSIZE = (10, 3)
DRUM_MARK_S = 0.06  # width of a drum hit in the new-part picture
ROLL_SIZE = (8, 3.2)  # the new part's roll: 800 px wide, about the width the page shows it at
# Its axes sit at a fixed place (left, bottom, width, height as figure fractions): the page's
# playhead is drawn over the picture at left + width * time / duration.
ROLL_AXES = (0.14, 0.16, 0.84, 0.68)
MAX_BAR_NUMBERS = 32
MAX_LABEL = 22  # characters of a track name in a roll's legend


def _figure():
    import matplotlib

    matplotlib.use("Agg")  # no display on a server
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=100)
    return plt, fig, ax


def mel_db(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mono mel power spectrogram in dB (not normalised), ``(N_MELS, frames)``."""
    import librosa

    from stemgen.audio.io import resample

    mono = np.atleast_2d(audio).mean(axis=0, keepdims=True)
    mono = resample(mono, sample_rate, PLOT_SR)[0]
    mel = librosa.feature.melspectrogram(y=mono, sr=PLOT_SR, n_fft=2048, hop_length=HOP, n_mels=N_MELS)
    return librosa.power_to_db(mel, ref=1.0, amin=1e-10)


def spectrogram_pngs(items: list[tuple[np.ndarray, int, str, Path]], floor_db: float = 80.0) -> list[Path]:
    """One PNG per ``(audio, sample_rate, title, path)``, all on the first item's colour scale."""
    specs = [mel_db(audio, sr) for audio, sr, _, _ in items]
    top = float(max(s.max() for s in specs)) if specs else 0.0
    out = []
    for spec, (audio, sr, title, path) in zip(specs, items, strict=True):
        plt, fig, ax = _figure()
        seconds = np.atleast_2d(audio).shape[-1] / sr
        ax.imshow(
            spec,
            origin="lower",
            aspect="auto",
            cmap="magma",
            vmin=top - floor_db,
            vmax=top,
            extent=(0.0, seconds, 0, N_MELS),
            interpolation="nearest",
        )
        ax.set(title=title, xlabel="time (s)", ylabel="mel bin")
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
        out.append(Path(path))
    return out


def _track_label(track) -> str:
    from stemgen.render.families import FAMILIES, family_index

    if track.is_drum:
        return "drums"
    name = track.name.strip()
    if not name or "\ufffd" in name or not name.isprintable():  # undecodable names say nothing
        return f"{FAMILIES[family_index(track.program, False)]} (program {track.program + 1})"
    return name if len(name) <= MAX_LABEL else name[: MAX_LABEL - 1] + "…"


def track_colour(plt, index: int):
    """Twenty distinct colours: tab20's strong shades first, then its light ones."""
    return plt.get_cmap("tab20")((2 * index) % 20 + (index // 10) % 2)


def track_colours(songs) -> list[list[int]]:
    """Colour index of each track of each song: one per track identity (name, program, drum flag,
    and its rank among equal ones), numbered in order of first appearance, so a track keeps its
    colour from the "before" file to the "after" one even when tracks before it went (a replaced part)."""
    seen: dict[tuple, int] = {}
    out = []
    for song in songs:
        counts: dict[tuple, int] = {}
        row = []
        for track in song.tracks:
            base = (track.name, track.program, track.is_drum)
            key = (*base, counts.get(base, 0))
            counts[base] = key[-1] + 1
            row.append(seen.setdefault(key, len(seen)))
        out.append(row)
    return out


def piano_roll_pngs(items: list[tuple[Path, str, Path]], highlight_new: bool = True) -> list[Path]:
    """One PNG per ``(midi_path, title, png_path)``: notes as bars, one colour per track, the same
    in every picture of ``items``.

    Pitched tracks share one pitch range; drums get their own lanes below it, one per drum class
    (kick, snare, ...), never drawn inside the bass register. Files are read with
    ``stemgen.midifile.io.load_midi`` (the project's one MIDI reader; times in seconds through its
    tempo map). With ``highlight_new``, tracks that the first file lacks are drawn thicker, so the
    new part stands out in the "after" picture.
    """
    from stemgen.midifile.io import load_midi
    from stemgen.midifile.lanes import DRUM_CLASS_OF_PITCH, DRUM_CLASSES

    songs = [load_midi(p) for p, _, _ in items]
    end = max((s.duration_s for s in songs), default=1.0) or 1.0
    colour_of = track_colours(songs)
    first = set(colour_of[0]) if songs else set()
    pitched = [t.pitch for s in songs for t in s.tracks if not t.is_drum and len(t)]
    has_drums = any(t.is_drum for s in songs for t in s.tracks)
    low, high = (int(min(p.min() for p in pitched)) - 2, int(max(p.max() for p in pitched)) + 2) if pitched else (20, 110)
    out = []
    for song, colours, (_, title, png) in zip(songs, colour_of, items, strict=True):
        plt, fig, ax = _figure()
        if has_drums and pitched:  # two areas, time shared: pitches above, drum lanes below
            fig.set_size_inches(FIGSIZE[0], FIGSIZE[1] + 1.2)
            ax.remove()
            ax, drum_ax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": (3, 2)})
        else:
            drum_ax = ax if has_drums else None
        for track, c in zip(song.tracks, colours, strict=True):
            new = highlight_new and c not in first
            start = song.seconds_at(track.start)
            length = np.maximum(song.seconds_at(track.start + track.duration) - start, 0.02)
            target, rows = (drum_ax, DRUM_CLASS_OF_PITCH[track.pitch]) if track.is_drum else (ax, track.pitch)
            for r in np.unique(rows):
                sel = rows == r
                target.broken_barh(list(zip(start[sel].tolist(), length[sel].tolist())), (r - 0.4, 0.8),
                                   color=track_colour(plt, c), alpha=1.0 if new else 0.75)
            label = _track_label(track) + (" (new)" if new else "")
            ax.plot([], [], color=track_colour(plt, c), linewidth=6 if new else 3, label=label)
        if drum_ax is not None:
            drum_ax.set_yticks(range(len(DRUM_CLASSES)), [c.replace("_", " ") for c in DRUM_CLASSES], fontsize="x-small")
            drum_ax.set(ylim=(-0.6, len(DRUM_CLASSES) - 0.4), ylabel="drums", xlim=(0, end))
        if ax is not drum_ax:
            ax.set(ylabel="MIDI pitch", xlim=(0, end), ylim=(low, high))
        (drum_ax if drum_ax is not None else ax).set_xlabel("time (s)")
        ax.set_title(title)
        if song.tracks:  # beside the notes, not over them
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="x-small", borderaxespad=0)
        # Fixed margins (no tight_layout): the time axis sits at the same place in every picture,
        # whatever the legend holds, so before and after line up.
        height_px = fig.get_size_inches()[1] * fig.dpi
        fig.subplots_adjust(left=0.09, right=0.82, bottom=48 / height_px, top=1 - 28 / height_px, hspace=0.12)
        fig.savefig(png)
        plt.close(fig)
        out.append(Path(png))
    return out


def part_on_beats_png(
    notes,
    beat_times: np.ndarray,
    downbeat_times: np.ndarray,
    duration_s: float,
    is_drums: bool,
    title: str,
    png: Path,
) -> Path:
    """The new part as a piano roll over the song's beats (thin lines) and bar starts (thick lines).

    ``notes``: the rendered part's notes (``onset_s``, ``offset_s``, ``pitch``, ``velocity`` arrays,
    as ``stemgen.arranger.RenderedPart.notes``), so the picture shows what plays. Drums get one row
    per key, named by its drum class (kick, snare, ...), and short marks (a hit has no musical
    length); brighter marks are louder notes.
    """
    plt, fig, ax = _figure()
    fig.set_size_inches(*ROLL_SIZE)
    ax.set_position(ROLL_AXES)
    for t in np.asarray(beat_times, dtype=float):
        ax.axvline(t, color="0.75", linewidth=0.6, zorder=0)
    downbeats = np.asarray(downbeat_times, dtype=float)
    every = max(1, int(np.ceil(downbeats.size / MAX_BAR_NUMBERS)))
    for i, t in enumerate(downbeats):
        ax.axvline(t, color="0.3", linewidth=1.6, zorder=0)
        if i % every == 0 and t <= duration_s:
            ax.text(t, 1.01, str(i + 1), transform=ax.get_xaxis_transform(), fontsize=9, ha="center", va="bottom")
    pitch = np.asarray(notes.pitch, dtype=int)
    start = np.asarray(notes.onset_s, dtype=float)
    velocity = np.asarray(notes.velocity, dtype=float)
    keys = np.unique(pitch)
    if is_drums:
        row = np.searchsorted(keys, pitch)  # rows 0..k-1, one per drum key
        length = np.full(start.shape, DRUM_MARK_S)
    else:
        row = pitch
        length = np.maximum(np.asarray(notes.offset_s, dtype=float) - start, 0.03)
    cmap = plt.get_cmap("viridis")
    for r in np.unique(row):
        sel = row == r
        shade = [cmap(0.2 + 0.75 * v / 127.0) for v in velocity[sel]]
        ax.broken_barh(list(zip(start[sel].tolist(), length[sel].tolist())), (r - 0.4, 0.8), color=shade)
    low, high = (int(row.min()), int(row.max())) if row.size else (0, 1)
    ax.set(xlabel="time (s); numbers: bars, thin lines: beats, thick lines: bar starts",
           xlim=(0, max(duration_s, 1e-3)), ylim=(low - 0.8, high + 0.8))
    fig.suptitle(title, y=0.99, fontsize="medium")
    if is_drums and keys.size:
        from stemgen.midifile.lanes import DRUM_CLASS_OF_PITCH, DRUM_CLASSES

        ax.set_yticks(range(keys.size), [f"{DRUM_CLASSES[DRUM_CLASS_OF_PITCH[k]]} ({k})" for k in keys],
                      fontsize="small")
    else:
        ax.set_ylabel("MIDI pitch")
    fig.savefig(png)  # no tight_layout: the axes stay at ROLL_AXES
    plt.close(fig)
    return Path(png)
