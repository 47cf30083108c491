"""Spectrogram codec parameters and presets.

A ``CodecConfig`` fully describes how audio becomes a spectrogram image and back; it is saved
with every model (``to_dict``/``from_dict``) so a model always decodes with the parameters it
was trained on. The dataset builder takes its window length and sample rate from here too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


# Riffusion v1 (riffusion-inference) computed magnitudes of int16-scaled samples (pydub) and
# mapped magnitude ** 0.25 to 8 bit with max_volume = 50. For float audio in [-1, 1] the same
# image needs max_value = 50 / 32768 ** 0.25 (about 3.716).
RIFFUSION_MAX_VALUE = 50.0 / 32768.0**0.25


@dataclass(frozen=True)
class CodecConfig:
    name: str
    sample_rate: int
    n_fft: int  # FFT size (zero-padded window)
    win_length: int  # analysis window in samples
    hop_length: int
    n_mels: int  # image height
    num_frames: int  # image width: one window of audio
    f_min: float = 0.0
    f_max: float = 10_000.0
    mel_scale: str = "htk"
    # image level = (magnitude ** power) / max_value clipped to [0, 1], magnitude of float audio in
    # [-1, 1]; stored inverted and flipped as in Riffusion (see stemgen.codec.image).
    power: float = 0.25
    max_value: float = RIFFUSION_MAX_VALUE
    griffin_lim_iters: int = 32

    @property
    def window_samples(self) -> int:
        """Samples in one window of audio (one image)."""
        return self.num_frames * self.hop_length

    @property
    def window_seconds(self) -> float:
        return self.window_samples / self.sample_rate

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "CodecConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


# Riffusion v1: 44.1 kHz mono, 100 ms window, 10 ms hop, FFT padded to 400 ms, 512 HTK mel bins
# over 0-10 kHz, 512 frames = 5.12 s -> a 512x512 image.
RIFFUSION = CodecConfig(
    name="riffusion",
    sample_rate=44_100,
    n_fft=17_640,
    win_length=4_410,
    hop_length=441,
    n_mels=512,
    num_frames=512,
)

# From-scratch models on one GPU, fast on CPU. 22.05 kHz (content to 11 kHz, like Riffusion's
# 10 kHz), 20 ms hop, 128 HTK mel bands x 256 frames = 5.12 s: a 128x256 image is 8x fewer pixels
# than Riffusion's 512x512, which is what makes 25 diffusion steps fit in real time on a CPU.
# Measured (bench/bench_codec.py, 4 real stems, 16 fast Griffin-Lim iterations): a 70 ms window
# (1536) beats 93 ms (2048) on both quality (spectral convergence 0.282 vs 0.312, LSD 4.8 vs
# 5.1 dB) and cost (more overlap helps Griffin-Lim; shorter FFTs are cheaper); 46 ms (1024) is
# faster still (177 vs 240 ms CPU) with a lower LSD (4.6 dB) but a higher SC (0.290).
# 192 bands would reach Riffusion's 0.234 but cost the model 1.5x. With momentum, 16 iterations
# are as good as 32 or 64 (0.312 / 0.299 / 0.296 at 2048) at half the decode time.
COMPACT = CodecConfig(
    name="compact",
    sample_rate=22_050,
    n_fft=1_536,
    win_length=1_536,
    hop_length=441,
    n_mels=128,
    num_frames=256,
    f_max=11_025.0,
    griffin_lim_iters=16,
)

# For tests: the same code path, very small.
TINY = CodecConfig(
    name="tiny",
    sample_rate=16_000,
    n_fft=512,
    win_length=512,
    hop_length=320,
    n_mels=32,
    num_frames=64,
    f_max=8_000.0,
    griffin_lim_iters=8,
)

PRESETS: dict[str, CodecConfig] = {c.name: c for c in (RIFFUSION, COMPACT, TINY)}


def get_preset(name: str) -> CodecConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown codec preset '{name}' (choose from {', '.join(PRESETS)})") from None
