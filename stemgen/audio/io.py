"""Reading and writing audio files.

Reads wav, flac, ogg and mp3 (libsndfile through ``soundfile``; ``librosa``/audioread as a
fallback for what libsndfile cannot decode) at any sample rate and channel count, and returns
float32 arrays shaped ``(channels, samples)``. Writes WAV/FLAC atomically: a temp name in the
same folder, then a rename, so a killed job never leaves a half-written file behind.

Truncated files (an interrupted copy or download: the header announces more audio than the file
holds) are refused rather than read short: libsndfile silently returns what is there, and a
short stem would then be padded with silence and misaligned against the others.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import soundfile as sf

from stemgen.errors import StemgenInputError
from stemgen.fileio import atomic_output, atomic_outputs

READABLE_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".m4a", ".mp4"}
WRITABLE_FORMATS = {".wav": "WAV", ".flac": "FLAC"}
# Longer than this is almost certainly a mistake (or an attack on memory): 2 hours.
MAX_DURATION_S = 2 * 60 * 60
# `stemgen generate` holds the whole song (and its stem and mix) in memory: its default limit.
DEFAULT_MAX_DURATION_S = 10 * 60
# Shorter input has no music to add a stem to (generation refuses it).
MIN_DURATION_S = 0.1
# Below this a file cannot hold music (telephone audio is 8 kHz); above it, it is not audio we know.
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 4_000, 768_000


def audio_info(path: str | Path) -> tuple[int, int, float]:
    """``(sample_rate, channels, duration_s)`` without decoding the samples."""
    path = _check_file(Path(path))
    try:
        info = sf.info(str(path))
        seconds = info.frames / info.samplerate
        if info.format in ("MP3", "MPEG"):  # the header's length may understate the stream's (stemgen.audio.mp3)
            from stemgen.audio.mp3 import understated

            seconds = understated(path, seconds) or seconds
        return info.samplerate, info.channels, seconds
    except Exception as sf_exc:  # libsndfile cannot read it: try librosa (audioread / ffmpeg)
        import warnings

        import librosa

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sr = librosa.get_samplerate(str(path))
                seconds = librosa.get_duration(path=str(path))
        except Exception as exc:  # noqa: BLE001 - any decoder failure means unreadable
            raise StemgenInputError(path, f"not readable as audio ({_short(sf_exc)})") from exc
        if not seconds > 0:
            raise StemgenInputError(path, f"not readable as audio ({_short(sf_exc)})")
        return sr, 0, seconds


def load_audio(
    path: str | Path,
    sample_rate: int | None = None,
    mono: bool = False,
    offset_s: float = 0.0,
    duration_s: float | None = None,
    max_duration_s: float = MAX_DURATION_S,
) -> tuple[np.ndarray, int]:
    """Decode ``path`` into float32 ``(channels, samples)`` and its sample rate.

    ``sample_rate`` resamples (soxr, high quality); ``mono`` averages the channels.
    Raises ``StemgenInputError`` naming the file for anything unreadable, empty, truncated, at an
    impossible sample rate, or longer than ``max_duration_s`` (checked before decoding).
    """
    path = _check_file(Path(path))
    audio, sr = _decode(path, offset_s, duration_s, max_duration_s)
    if audio.size == 0 or audio.shape[-1] == 0:
        raise StemgenInputError(path, "audio has no samples")
    if not MIN_SAMPLE_RATE <= sr <= MAX_SAMPLE_RATE:
        raise StemgenInputError(path, f"sample rate {sr} Hz is outside {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz")
    if audio.shape[-1] / sr > max_duration_s:
        raise StemgenInputError(path, too_long_reason(audio.shape[-1] / sr, max_duration_s))
    if not np.all(np.isfinite(audio)):
        raise StemgenInputError(path, "audio contains NaN or infinite samples")
    if mono and audio.shape[0] > 1:
        audio = audio.mean(axis=0, keepdims=True)
    if sample_rate is not None and sr != sample_rate:
        audio = resample(audio, sr, sample_rate)
        sr = sample_rate
    return np.ascontiguousarray(audio, dtype=np.float32), sr


def _check_file(path: Path) -> Path:
    """Exists, is a file, is not empty, has an audio suffix: else a ``StemgenInputError``."""
    if not path.is_file():
        raise StemgenInputError(path, "file not found" if not path.exists() else "is not a file")
    if path.stat().st_size == 0:
        raise StemgenInputError(path, "empty file (0 bytes)")
    if path.suffix.lower() not in READABLE_SUFFIXES:
        raise StemgenInputError(
            path, f"unsupported audio format '{path.suffix}' (use one of {', '.join(sorted(READABLE_SUFFIXES))})"
        )
    return path


def format_duration(seconds: float) -> str:
    """``"42.0 s"`` or ``"20.5 min"``: how lengths and limits are shown in messages."""
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def too_long_reason(seconds: float, limit: float) -> str:
    return f"{format_duration(seconds)} long; the limit is {format_duration(limit)}"


def _decode(path: Path, offset_s: float, duration_s: float | None, max_duration_s: float) -> tuple[np.ndarray, int]:
    declared = None
    try:
        with sf.SoundFile(str(path)) as f:
            sr = f.samplerate
            if f.frames / max(sr, 1) > max_duration_s:
                raise StemgenInputError(path, too_long_reason(f.frames / max(sr, 1), max_duration_s))
            if f.format in ("MP3", "MPEG"):  # decode what the stream holds, not what its header says
                from stemgen.audio.mp3 import decode_ffmpeg, understated

                real = understated(path, f.frames / max(sr, 1))
                if real is not None:
                    if real > max_duration_s:
                        raise StemgenInputError(path, too_long_reason(real, max_duration_s))
                    data, sr, _ = decode_ffmpeg(path, f.channels, offset_s, duration_s)
                    return data, sr
            # FLAC's STREAMINFO and others: libsndfile reports the header's length; WAV: the
            # length of the data present, so the header is read here.
            declared = _wav_declared_frames(path) if f.format == "WAV" else f.frames
            start = int(round(offset_s * sr))
            if start:
                f.seek(min(start, f.frames))
            frames = -1 if duration_s is None else int(round(duration_s * sr))
            data = f.read(frames=frames, dtype="float32", always_2d=True)
        _check_complete(path, declared, start + data.shape[0], sr, whole=duration_s is None)
        return data.T, sr
    except StemgenInputError:
        raise
    except Exception as sf_exc:  # libsndfile cannot read it: try librosa (audioread / ffmpeg)
        import warnings

        import librosa

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                data, sr = librosa.load(
                    str(path), sr=None, mono=False, offset=offset_s, duration=duration_s, dtype=np.float32
                )
        except Exception as exc:  # noqa: BLE001
            raise StemgenInputError(path, f"not readable as audio ({_short(sf_exc)})") from exc
        data = np.atleast_2d(data)
        if data.size == 0:  # the fallback "decoded" nothing: it was no audio either
            raise StemgenInputError(path, f"not readable as audio ({_short(sf_exc)})")
        if declared:  # libsndfile read the header but lost the stream (a cut FLAC)
            _check_complete(path, declared, int(round(offset_s * sr)) + data.shape[-1], int(sr),
                            whole=duration_s is None)
        return data, int(sr)


def _check_complete(path: Path, declared: int | None, got_to: int, sr: int, whole: bool) -> None:
    """Refuse a file whose header announces more frames than could be decoded."""
    if declared and whole and got_to < declared:
        raise StemgenInputError(path, f"truncated: the header says {declared / sr:.2f} s but the file holds "
                                      f"{got_to / sr:.2f} s (an incomplete copy or download?)")


def _wav_declared_frames(path: Path) -> int | None:
    """Frames the RIFF/WAVE header's ``data`` chunk announces (None when unknown or streamed)."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None  # RF64, W64...: trust libsndfile
            block_align = None
            while True:
                chunk = f.read(8)
                if len(chunk) < 8:
                    return None
                kind, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if kind == b"fmt ":
                    fmt = f.read(size)
                    block_align = struct.unpack("<H", fmt[12:14])[0] if len(fmt) >= 14 else None
                    f.seek(size % 2, 1)
                elif kind == b"data":
                    # 0 and 0xFFFFFFFF are what streaming writers leave before they know the size
                    if not block_align or size in (0, 0xFFFFFFFF):
                        return None
                    return size // block_align
                else:
                    f.seek(size + size % 2, 1)
    except OSError:
        return None


def resample(audio: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample ``(channels, samples)`` audio with soxr's high-quality filter."""
    if orig_sr == target_sr:
        return audio
    import soxr  # direct, rather than through librosa: no numba compilation on first use

    out = soxr.resample(np.ascontiguousarray(audio.T), orig_sr, target_sr, quality="HQ")
    return np.ascontiguousarray(np.atleast_2d(out.T if out.ndim == 2 else out[None, :]), dtype=np.float32)


def write_audio(path: str | Path, audio: np.ndarray, sample_rate: int, subtype: str | None = None,
                name: str | Path | None = None) -> Path:
    """Write ``(channels, samples)`` or ``(samples,)`` audio as WAV or FLAC, atomically.

    Samples outside [-1, 1] would clip in 16/24-bit files; callers must have made room with
    ``stemgen.audio.mixing`` first, so here clipping is an error rather than a silent change.
    NaN or infinite samples (a generator gone wrong) are refused: nothing is written. A write
    that fails (a full disk) raises ``OSError`` naming ``name`` (default: ``path``).
    """
    path = Path(path)
    fmt = WRITABLE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: can only write {', '.join(WRITABLE_FORMATS)} files")
    audio = check_signal(name or path, audio)
    subtype = subtype or ("PCM_16" if fmt == "FLAC" else "PCM_16")
    with atomic_output(path) as tmp:
        try:
            sf.write(tmp, audio.T, sample_rate, format=fmt, subtype=subtype)
        except sf.LibsndfileError as exc:  # libsndfile hides the errno: say what we can find out
            raise write_error(Path(name or path), tmp, exc) from None
    return path


def check_signal(name: str | Path, audio: np.ndarray) -> np.ndarray:
    """``audio`` as float32 2-D, after checking it is finite and within [-1, 1]."""
    audio = np.atleast_2d(np.asarray(audio, dtype=np.float32))
    peak = max(float(audio.max()), -float(audio.min())) if audio.size else 0.0  # no |audio| copy: long songs
    if not np.isfinite(peak):
        raise ValueError(f"{name}: the generated audio has NaN or infinite samples; nothing was written")
    if peak > 1.0 + 1e-6:
        raise ValueError(f"{name}: peak {peak:.3f} would clip; apply stemgen.audio.mixing.fit_headroom first")
    return audio


def write_error(name: Path, tmp: Path, exc: Exception) -> OSError:
    """An ``OSError`` for a failed write: a full disk or a file-size limit when that is what it was."""
    import errno
    import os
    import resource

    try:
        st = os.statvfs(tmp.parent)
        if st.f_bavail * st.f_frsize < 1 << 20:
            return OSError(errno.ENOSPC, "no space left on the device (nothing was written)", str(name))
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if limit != resource.RLIM_INFINITY and tmp.stat().st_size >= limit:
            return OSError(errno.EFBIG, "file too large for this process's size limit (nothing was written)", str(name))
    except OSError:
        pass
    return OSError(errno.EIO, f"could not write the audio ({_short(exc)}; nothing was written)", str(name))


def output_subtype(source: str | Path) -> str:
    """The WAV sample format that keeps ``source``'s resolution: 32-bit float for float input,
    24-bit for 24-bit (and 32-bit integer) input, 16-bit otherwise (compressed input included),
    so that the input inside the mix is not requantised to 16 bits."""
    try:
        subtype = sf.info(str(source)).subtype
    except Exception:  # noqa: BLE001 - decoded by the fallback: no subtype to keep
        return "PCM_16"
    if subtype in ("FLOAT", "DOUBLE"):
        return "FLOAT"
    return "PCM_24" if subtype in ("PCM_24", "PCM_32") else "PCM_16"


def write_audio_files(outputs: list[tuple[str | Path, np.ndarray]], sample_rate: int,
                      subtype: str | None = None) -> list[Path]:
    """Write several files that form one result (a stem and its mix): all of them or none.

    Every signal is checked first; each file is then written in full under a temporary name, and
    only then are they renamed into place (``atomic_outputs``), so a failure while writing (a
    full disk, a SIGTERM) leaves none of them.
    """
    paths = [Path(p) for p, _ in outputs]
    for path, (_, audio) in zip(paths, outputs):
        if path.suffix.lower() not in WRITABLE_FORMATS:
            raise ValueError(f"{path}: can only write {', '.join(WRITABLE_FORMATS)} files")
        check_signal(path, audio)
    with atomic_outputs(paths) as tmps:
        for path, tmp, (_, audio) in zip(paths, tmps, outputs):
            write_audio(tmp, audio, sample_rate, subtype, name=path)  # the temp name keeps the suffix: the format is right
    return paths


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
