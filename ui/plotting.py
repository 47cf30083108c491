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
    return track.name.strip() or f"{FAMILIES[family_index(track.program, False)]} (program {track.program + 1})"


def piano_roll_pngs(items: list[tuple[Path, str, Path]], highlight_new: bool = True) -> list[Path]:
    """One PNG per ``(midi_path, title, png_path)``: notes as bars, one colour per track.

    Files are read with ``stemgen.midifile.io.load_midi`` (the project's one MIDI reader; times in
    seconds through its tempo map). With ``highlight_new``, tracks that only the later files have
    are drawn thicker, so the new part stands out in the "after" picture.
    """
    from stemgen.midifile.io import load_midi

    songs = [load_midi(p) for p, _, _ in items]
    end = max((s.duration_s for s in songs), default=1.0) or 1.0
    first_tracks = len(songs[0].tracks) if songs else 0
    out = []
    for song, (_, title, png) in zip(songs, items, strict=True):
        plt, fig, ax = _figure()
        colors = plt.get_cmap("tab10")
        for i, track in enumerate(song.tracks):
            new = highlight_new and i >= first_tracks
            start = song.seconds_at(track.start)
            length = np.maximum(song.seconds_at(track.start + track.duration) - start, 0.02)
            for pitch in np.unique(track.pitch):
                sel = track.pitch == pitch
                ax.broken_barh(list(zip(start[sel].tolist(), length[sel].tolist())), (pitch - 0.4, 0.8),
                               color=colors(i % 10), alpha=1.0 if new else 0.75)
            label = _track_label(track) + (" (new)" if new else "")
            ax.plot([], [], color=colors(i % 10), linewidth=6 if new else 3, label=label)
        ax.set(title=title, xlabel="time (s)", ylabel="MIDI pitch", xlim=(0, end), ylim=(20, 110))
        if song.tracks:
            ax.legend(loc="upper right", fontsize="small", ncol=min(4, len(song.tracks)))
        fig.tight_layout()
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
