"""Songs stored as separate stems, in the layouts people have.

- MUSDB18: ``song/{mixture,drums,bass,other,vocals}.wav``, or one ``song.stem.mp4`` (NI stems:
  streams 0=mixture, 1=drums, 2=bass, 3=other, 4=vocals). MUSDB18 has no guitar stem: guitar is
  inside ``other``, so the song reports guitar as missing instead of mislabelling it.
- MoisesDB: ``song/<stem>/*.wav``, several files per stem, summed.
- Slakh2100: ``TrackXXXXX/stems/SXX.{flac,wav}`` + ``metadata.yaml`` (``inst_class`` per stem).
- Generic: ``song/<stem>.{wav,flac,mp3,ogg}``: at least two files named after stems
  (drums, bass, guitar, vocals, other or a synonym); other names count as ``other``.

Every loader returns a ``Song`` of mono stems at the asked sample rate. Stems whose sample rates
differ, or whose lengths differ by more than ``LENGTH_TOLERANCE_S``, are bad input: mixing them
would misalign the example.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

from stemgen.audio.io import READABLE_SUFFIXES, audio_info, load_audio
from stemgen.audio.mixing import match_length
from stemgen.errors import MissingDependencyError, StemgenInputError
from stemgen.sources.base import Song, SongRef
from stemgen.stems import STEMS

LENGTH_TOLERANCE_S = 0.1
MUSDB_STEMS = ("drums", "bass", "other", "vocals")
MUSDB_MP4_STREAMS = {"drums": 1, "bass": 2, "other": 3, "vocals": 4}
GUITAR_IN_OTHER = "this layout has no guitar stem (MUSDB18 keeps guitar inside 'other')"
MIX_NAMES = {"mixture", "mix", "full", "master"}
# Names people give stems, mapped to stemgen's canonical names; anything else is "other".
STEM_ALIASES = {
    "drums": "drums", "drum": "drums", "drumkit": "drums", "kit": "drums",
    "bass": "bass", "bassguitar": "bass", "bass_guitar": "bass",
    "guitar": "guitar", "guitars": "guitar", "gtr": "guitar",
    "vocals": "vocals", "vocal": "vocals", "voice": "vocals", "vox": "vocals",
    "other": "other",
}


def canonical_stem(name: str) -> str:
    """Map a stem folder/file/instrument-class name to a canonical stem."""
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    return STEM_ALIASES.get(key, "other")


def _audio_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in READABLE_SUFFIXES and not p.name.endswith(".stem.mp4")
    )


def detect_layout(folder: Path) -> str | None:
    """The stem layout of ``folder`` if it is one song, else ``None``."""
    if (folder / "metadata.yaml").is_file() and (folder / "stems").is_dir():
        return "slakh"
    names = {p.stem.lower() for p in _audio_files(folder)}
    if "mixture" in names and {"drums", "bass"} <= names:
        return "musdb"
    subdirs = [d for d in folder.iterdir() if d.is_dir()]
    stem_dirs = [d for d in subdirs if d.name.lower() in STEM_ALIASES or _looks_like_moises_stem(d)]
    if len(stem_dirs) >= 2 and any(canonical_stem(d.name) != "other" for d in stem_dirs):
        return "moisesdb"
    stem_named = [n for n in names if n in STEM_ALIASES]
    if len(stem_named) >= 2:
        return "generic"
    return None


def _looks_like_moises_stem(folder: Path) -> bool:
    # MoisesDB folders beyond the canonical ones (piano, wind, bowed_strings...) hold only audio.
    return folder.name.lower() in {
        "piano", "percussion", "bowed_strings", "wind", "other_keys", "other_plucked", "keys", "strings",
    } and any(p.suffix.lower() in READABLE_SUFFIXES for p in folder.iterdir())


def load_stem_folder(ref: SongRef, sample_rate: int) -> Song:
    """Load a song in one of the stem-folder layouts as canonical mono stems."""
    loader = {
        "musdb": _load_musdb,
        "musdb-stem-mp4": _load_stem_mp4,
        "moisesdb": _load_moisesdb,
        "slakh": _load_slakh,
        "generic": _load_generic,
    }[ref.layout]
    return loader(ref, sample_rate)


def _load_musdb(ref: SongRef, sample_rate: int) -> Song:
    files = {name: _find_audio(ref.path, name) for name in MUSDB_STEMS}
    stems = _load_and_align({name: [path] for name, path in files.items()}, sample_rate)
    return Song(ref=ref, sample_rate=sample_rate, stems=stems, missing={"guitar": GUITAR_IN_OTHER})


def _load_generic(ref: SongRef, sample_rate: int) -> Song:
    groups: dict[str, list[Path]] = {}
    for path in _audio_files(ref.path):
        if path.stem.lower() in MIX_NAMES:
            continue
        groups.setdefault(canonical_stem(path.stem), []).append(path)
    return _song_from_groups(ref, groups, sample_rate)


def _load_moisesdb(ref: SongRef, sample_rate: int) -> Song:
    groups: dict[str, list[Path]] = {}
    for folder in sorted(d for d in ref.path.iterdir() if d.is_dir()):
        files = _audio_files(folder)
        if files:
            groups.setdefault(canonical_stem(folder.name), []).extend(files)
    return _song_from_groups(ref, groups, sample_rate)


def _load_slakh(ref: SongRef, sample_rate: int) -> Song:
    import yaml

    meta_path = ref.path / "metadata.yaml"
    try:
        meta = yaml.safe_load(meta_path.read_text()) or {}
    except Exception as exc:  # noqa: BLE001
        raise StemgenInputError(meta_path, f"unreadable metadata.yaml ({exc})") from exc
    groups: dict[str, list[Path]] = {}
    classes: dict[str, str] = {}
    for stem_id, info in sorted((meta.get("stems") or {}).items()):
        path = _find_audio(ref.path / "stems", stem_id, required=False)
        if path is None:  # Slakh lists stems that were never rendered
            continue
        inst_class = str((info or {}).get("inst_class", "other"))
        if (info or {}).get("is_drum"):
            inst_class = "drums"
        classes[stem_id] = inst_class
        groups.setdefault(canonical_stem(inst_class), []).append(path)
    if not groups:
        raise StemgenInputError(ref.path, "Slakh track has no stem audio in stems/")
    song = _song_from_groups(ref, groups, sample_rate)
    song.metadata["inst_classes"] = sorted(set(classes.values()))
    return song


def _song_from_groups(ref: SongRef, groups: dict[str, list[Path]], sample_rate: int) -> Song:
    if not groups:
        raise StemgenInputError(ref.path, "no stem audio files found")
    stems = _load_and_align(groups, sample_rate)
    missing = {s: f"no {s} stem in this song" for s in STEMS if s not in stems}
    return Song(ref=ref, sample_rate=sample_rate, stems=stems, missing=missing)


def _load_and_align(groups: dict[str, list[Path]], sample_rate: int) -> dict[str, np.ndarray]:
    """Load each group's files (summed) after checking all stems share a rate and a length."""
    files = [p for paths in groups.values() for p in paths]
    infos = {p: audio_info(p) for p in files}
    rates = {p: info[0] for p, info in infos.items()}
    first = files[0]
    for path, rate in rates.items():
        if rate != rates[first]:
            raise StemgenInputError(path, f"sample rate {rate} Hz differs from {first.name} ({rates[first]} Hz)")
    lengths = {p: info[2] for p, info in infos.items()}
    longest = max(lengths.values())
    for path, length in lengths.items():
        if longest - length > LENGTH_TOLERANCE_S:
            raise StemgenInputError(path, f"stem is {length:.2f} s long but another stem is {longest:.2f} s")
    n = int(round(longest * sample_rate))
    stems: dict[str, np.ndarray] = {}
    for name, paths in groups.items():
        total = np.zeros((1, n), dtype=np.float32)
        for path in paths:
            audio, _ = load_audio(path, sample_rate=sample_rate, mono=True)
            total += match_length(audio, n)
        stems[name] = total
    return stems


def _find_audio(folder: Path, name: str, required: bool = True) -> Path | None:
    for path in sorted(folder.glob(f"{name}.*")):
        if path.suffix.lower() in READABLE_SUFFIXES:
            return path
    if required:
        raise StemgenInputError(folder, f"missing stem file '{name}.wav' (or .flac/.mp3/.ogg)")
    return None


def _load_stem_mp4(ref: SongRef, sample_rate: int) -> Song:
    """Decode an NI ``.stem.mp4`` (MUSDB18's native format) with FFmpeg, one stream per stem."""
    if shutil.which("ffmpeg") is None:
        raise MissingDependencyError("decoding .stem.mp4 needs FFmpeg: apt-get install ffmpeg")
    stems = {name: _ffmpeg_stream(ref.path, index, sample_rate) for name, index in MUSDB_MP4_STREAMS.items()}
    n = max(a.shape[-1] for a in stems.values())
    stems = {name: match_length(a, n) for name, a in stems.items()}
    return Song(ref=ref, sample_rate=sample_rate, stems=stems, missing={"guitar": GUITAR_IN_OTHER})


def _ffmpeg_stream(path: Path, stream: int, sample_rate: int) -> np.ndarray:
    cmd = [
        "ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-map", f"0:a:{stream}",
        "-ac", "2", "-ar", str(sample_rate), "-f", "f32le", "-",
    ]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0 or not proc.stdout:
        reason = proc.stderr.decode(errors="ignore").strip().splitlines()[-1:] or ["no audio"]
        raise StemgenInputError(path, f"cannot decode stem stream {stream} ({reason[0][:120]})")
    # Decode as stereo and average here: FFmpeg's own mono downmix uses another gain (1/sqrt 2)
    # than the channel mean used for every other file.
    stereo = np.frombuffer(proc.stdout, dtype=np.float32).reshape(-1, 2)
    return stereo.mean(axis=1)[None, :].astype(np.float32)
