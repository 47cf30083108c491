"""MP3 length from the stream itself, and a full decode when the header understates it.

libsndfile (mpg123) trusts an MP3's Xing/Info header for the number of frames and stops there:
two MP3s joined end to end (24 s) read as the first one (12 s), and a long MP3 whose header
understates its length reads as a short clip. ``stream_seconds`` walks the MPEG frame headers
(no decoding: milliseconds for a song) to find the length the data really holds; when it is
longer than the header says, ``decode_ffmpeg`` decodes the whole stream (ffmpeg decodes frames
until the end of the file).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

from stemgen.errors import StemgenInputError

# bitrates in kbit/s by [version is MPEG-1][layer] and index; sample rates by version and index
_BITRATES = {
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}  # MPEG-1, 2, 2.5
# A stream this much longer than its header says is decoded in full (encoder delay and the
# Xing frame itself make the frame count a little longer than the header's exact length).
TOLERANCE_S = 0.25


def _frame(header: bytes) -> tuple[int, int, int] | None:
    """``(frame bytes, samples, sample rate)`` of a 4-byte MPEG audio frame header, or None."""
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return None
    version, layer_bits = (header[1] >> 3) & 3, (header[1] >> 1) & 3
    rate_index, bitrate_index, padding = (header[2] >> 2) & 3, header[2] >> 4, (header[2] >> 1) & 1
    if version == 1 or layer_bits == 0 or rate_index == 3 or bitrate_index in (0, 15):
        return None
    layer, mpeg1 = 4 - layer_bits, version == 3
    bitrate = _BITRATES[(mpeg1, layer)][bitrate_index] * 1000
    sr = _RATES[version][rate_index]
    if layer == 1:
        return (12 * bitrate // sr + padding) * 4, 384, sr
    samples = 1152 if layer == 2 or mpeg1 else 576
    return samples // 8 * bitrate // sr + padding, samples, sr


def _skip_id3v2(data: bytes, pos: int) -> int:
    if data[pos:pos + 3] == b"ID3" and len(data) >= pos + 10:
        size = (data[pos + 6] << 21) | (data[pos + 7] << 14) | (data[pos + 8] << 7) | data[pos + 9]
        return pos + 10 + size + (10 if data[pos + 5] & 0x10 else 0)
    return pos


def stream_seconds(path: str | Path) -> float | None:
    """Seconds of audio the MPEG frames in ``path`` hold (None when no frame is found).

    Frames are followed header to header; a header counts only if the next frame (or a tag, or
    the end of the file) follows it, and after anything else (an ID3 tag of a second file joined
    on, junk) the walk resynchronises on the next such header.
    """
    data = Path(path).read_bytes()
    pos, samples, rate, end = 0, 0, None, len(data)
    while pos < end - 4:
        pos = _skip_id3v2(data, pos)
        frame = _checked_frame(data, pos)
        if frame is None:
            pos = data.find(b"\xff", pos + 1)
            if pos < 0:
                break
            continue
        size, n, sr = frame
        rate = rate or sr
        if sr == rate:
            samples += n
        pos += size
    return samples / rate if rate else None


def _checked_frame(data: bytes, pos: int) -> tuple[int, int, int] | None:
    frame = _frame(data[pos:pos + 4])
    if frame is None or frame[0] < 4:
        return None
    nxt = pos + frame[0]
    if nxt >= len(data) - 4 or data[nxt:nxt + 3] in (b"TAG", b"ID3") or _frame(data[nxt:nxt + 4]):
        return frame
    return None


def understated(path: str | Path, header_seconds: float) -> float | None:
    """The stream's real length when it is longer than the header's ``header_seconds``, else None."""
    seconds = stream_seconds(path)
    if seconds is not None and seconds > header_seconds + TOLERANCE_S:
        return seconds
    return None


def decode_ffmpeg(path: str | Path, channels: int, offset_s: float = 0.0,
                  duration_s: float | None = None) -> tuple[np.ndarray, int, int]:
    """Decode the whole stream with ffmpeg: ``(float32 (channels, samples), sample rate, channels)``."""
    import soundfile as sf

    path = Path(path)
    if not shutil.which("ffmpeg"):
        raise StemgenInputError(path, "the MP3's header understates its length and ffmpeg, needed to decode all "
                                      "of it, is not installed (apt-get install ffmpeg)")
    sr = sf.info(str(path)).samplerate
    cmd = ["ffmpeg", "-v", "error", "-nostdin", "-i", str(path)]
    if offset_s:
        cmd += ["-ss", f"{offset_s:.6f}"]
    if duration_s is not None:
        cmd += ["-t", f"{duration_s:.6f}"]
    cmd += ["-f", "f32le", "-acodec", "pcm_f32le", "-ac", str(channels), "-ar", str(sr), "-"]
    proc = subprocess.run(cmd, capture_output=True, timeout=600)
    if proc.returncode != 0:
        raise StemgenInputError(path, f"not readable as audio (ffmpeg: {proc.stderr.decode(errors='replace').strip()[:160]})")
    audio = np.frombuffer(proc.stdout, dtype="<f4")
    audio = audio[: audio.size // channels * channels].reshape(-1, channels).T
    return np.ascontiguousarray(audio, dtype=np.float32), sr, channels
