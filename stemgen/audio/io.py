"""Reading and writing audio files.

Reads wav, flac, ogg and mp3 (libsndfile through ``soundfile``; ``librosa``/audioread as a
fallback for what libsndfile cannot decode) at any sample rate and channel count, and returns
float32 arrays shaped ``(channels, samples)``. Writes WAV/FLAC atomically: a temp name in the
same folder, then a rename, so a killed job never leaves a half-written file behind.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from stemgen.errors import StemgenInputError
from stemgen.fileio import atomic_output

READABLE_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".m4a", ".mp4"}
WRITABLE_FORMATS = {".wav": "WAV", ".flac": "FLAC"}
# Longer than this is almost certainly a mistake (or an attack on memory): 2 hours.
MAX_DURATION_S = 2 * 60 * 60


def audio_info(path: str | Path) -> tuple[int, int, float]:
    """``(sample_rate, channels, duration_s)`` without decoding the samples."""
    path = Path(path)
    if path.is_file() and path.stat().st_size == 0:
        raise StemgenInputError(path, "empty file (0 bytes)")
    try:
        info = sf.info(str(path))
        return info.samplerate, info.channels, info.frames / info.samplerate
    except Exception as sf_exc:  # libsndfile cannot read it: try librosa (audioread / ffmpeg)
        import warnings

        import librosa

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sr = librosa.get_samplerate(str(path))
                return sr, 0, librosa.get_duration(path=str(path))
        except Exception as exc:  # noqa: BLE001 - any decoder failure means unreadable
            raise StemgenInputError(path, f"not readable as audio ({_short(sf_exc)})") from exc


def load_audio(
    path: str | Path,
    sample_rate: int | None = None,
    mono: bool = False,
    offset_s: float = 0.0,
    duration_s: float | None = None,
) -> tuple[np.ndarray, int]:
    """Decode ``path`` into float32 ``(channels, samples)`` and its sample rate.

    ``sample_rate`` resamples (soxr, high quality); ``mono`` averages the channels.
    Raises ``StemgenInputError`` naming the file for anything unreadable, empty or absurdly long.
    """
    path = Path(path)
    if not path.is_file():
        raise StemgenInputError(path, "file not found")
    if path.stat().st_size == 0:
        raise StemgenInputError(path, "empty file (0 bytes)")
    if path.suffix.lower() not in READABLE_SUFFIXES:
        raise StemgenInputError(
            path, f"unsupported audio format '{path.suffix}' (use one of {', '.join(sorted(READABLE_SUFFIXES))})"
        )
    audio, sr = _decode(path, offset_s, duration_s)
    if audio.size == 0 or audio.shape[-1] == 0:
        raise StemgenInputError(path, "audio has no samples")
    if audio.shape[-1] / sr > MAX_DURATION_S:
        raise StemgenInputError(path, f"longer than {MAX_DURATION_S // 60} minutes")
    if not np.all(np.isfinite(audio)):
        raise StemgenInputError(path, "audio contains NaN or infinite samples")
    if mono and audio.shape[0] > 1:
        audio = audio.mean(axis=0, keepdims=True)
    if sample_rate is not None and sr != sample_rate:
        audio = resample(audio, sr, sample_rate)
        sr = sample_rate
    return np.ascontiguousarray(audio, dtype=np.float32), sr


def _decode(path: Path, offset_s: float, duration_s: float | None) -> tuple[np.ndarray, int]:
    try:
        with sf.SoundFile(str(path)) as f:
            sr = f.samplerate
            if f.frames / max(sr, 1) > MAX_DURATION_S:
                raise StemgenInputError(path, f"longer than {MAX_DURATION_S // 60} minutes")
            start = int(round(offset_s * sr))
            if start:
                f.seek(min(start, f.frames))
            frames = -1 if duration_s is None else int(round(duration_s * sr))
            data = f.read(frames=frames, dtype="float32", always_2d=True)
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
        return np.atleast_2d(data), int(sr)


def resample(audio: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample ``(channels, samples)`` audio with soxr's high-quality filter."""
    if orig_sr == target_sr:
        return audio
    import soxr  # direct, rather than through librosa: no numba compilation on first use

    out = soxr.resample(np.ascontiguousarray(audio.T), orig_sr, target_sr, quality="HQ")
    return np.ascontiguousarray(np.atleast_2d(out.T if out.ndim == 2 else out[None, :]), dtype=np.float32)


def write_audio(path: str | Path, audio: np.ndarray, sample_rate: int, subtype: str | None = None) -> Path:
    """Write ``(channels, samples)`` or ``(samples,)`` audio as WAV or FLAC, atomically.

    Samples outside [-1, 1] would clip in 16/24-bit files; callers must have made room with
    ``stemgen.audio.mixing`` first, so here clipping is an error rather than a silent change.
    """
    path = Path(path)
    fmt = WRITABLE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: can only write {', '.join(WRITABLE_FORMATS)} files")
    audio = np.atleast_2d(np.asarray(audio, dtype=np.float32))
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak > 1.0 + 1e-6:
        raise ValueError(f"{path}: peak {peak:.3f} would clip; apply stemgen.audio.mixing.fit_headroom first")
    subtype = subtype or ("PCM_16" if fmt == "FLAC" else "PCM_16")
    with atomic_output(path) as tmp:
        sf.write(tmp, audio.T, sample_rate, format=fmt, subtype=subtype)
    return path


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
