"""``SpectrogramCodec``: audio <-> mel magnitude <-> image, and back to audio.

Pipeline: audio (float, [-1, 1]) -> centered Hann STFT -> |X| (magnitude, power 1, as Riffusion)
-> mel filterbank (HTK, no norm) -> ``magnitude ** power / max_value`` -> inverted, flipped image.

Decoding: image -> mel magnitude -> linear magnitude by a clamped pseudo-inverse plus a few NNLS
multiplicative updates (``stemgen.codec.mel``) -> fast Griffin-Lim with momentum 0.99
(``stemgen.codec.phase``), optionally started from a known phase (``init_phase``).

Frame convention: ``T`` frames cover ``T * hop`` samples, frame ``k`` centred on sample
``k * hop``. A centred STFT of ``T * hop`` samples has ``T + 1`` frames; the last one (centred
on the very last sample) is dropped when encoding, and re-created by repeating the last column
when decoding, so the inverse STFT has exactly ``T * hop`` samples without end effects.

Costs and round-trip quality per preset are measured by ``bench/bench_codec.py``.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from stemgen.codec import image as image_mod
from stemgen.codec.config import CodecConfig
from stemgen.codec.mel import MelBasis
from stemgen.codec.phase import Stft, griffin_lim

GRIFFIN_LIM_MOMENTUM = 0.99


def pad_or_trim(audio: torch.Tensor, n: int) -> torch.Tensor:
    """Zero-pad or cut the last dimension of ``audio`` to exactly ``n`` samples."""
    length = audio.shape[-1]
    if length == n:
        return audio
    if length > n:
        return audio[..., :n]
    return F.pad(audio, (0, n - length))


class SpectrogramCodec:
    """Batched, device-agnostic spectrogram codec for one ``CodecConfig``."""

    def __init__(self, config: CodecConfig, device: str | torch.device = "cpu", nnls_iters: int = 10):
        self.config = config
        self.device = torch.device(device)
        self.stft = Stft(config, self.device)
        self.mel = MelBasis(config, self.device, nnls_iters=nnls_iters)
        # Phase is reconstructed on the un-padded grid when the FFT is a zero-padded multiple of the
        # window (Riffusion: 17640 = 4 x 4410): zero padding only interpolates the spectrum, so
        # every r-th padded bin is exactly the un-padded spectrum, and each Griffin-Lim iteration
        # costs ~4x less with no loss of information.
        r = config.n_fft // config.win_length
        self.decimation = r if r > 1 and config.n_fft == r * config.win_length else 1
        self.synthesis_stft = Stft(config, self.device, n_fft=config.n_fft // self.decimation)

    @property
    def n_freqs(self) -> int:
        """Bins of the analysis STFT (``n_fft // 2 + 1``)."""
        return self.config.n_fft // 2 + 1

    @property
    def phase_bins(self) -> int:
        """Bins of the decoder's phase grid (``init_phase.shape[-2]``); smaller when n_fft is padded."""
        return self.synthesis_stft.n_fft // 2 + 1

    # -- analysis -------------------------------------------------------------------------------
    def audio_to_spectrum(self, audio: torch.Tensor) -> torch.Tensor:
        """``(B, samples)`` -> complex STFT ``(B, n_freqs, samples // hop)``."""
        audio = self._as_batch(audio)
        frames = audio.shape[-1] // self.config.hop_length
        return self.stft.forward(audio)[..., :frames]

    def audio_to_magnitude(self, audio: torch.Tensor) -> torch.Tensor:
        """``(B, samples)`` -> mel magnitude ``(B, n_mels, samples // hop)``."""
        return self.mel.to_mel(self.audio_to_spectrum(audio).abs())

    def audio_to_phase(self, audio: torch.Tensor) -> torch.Tensor:
        """STFT phase of ``audio`` on the decoder's grid, ``(B, phase_bins, samples // hop)``.

        Pass it (or a slice of frames of it) as ``init_phase`` to ``image_to_audio``.
        """
        audio = self._as_batch(audio)
        frames = audio.shape[-1] // self.config.hop_length
        return self.synthesis_stft.forward(audio)[..., :frames].angle()

    def magnitude_to_image(self, mag: torch.Tensor) -> torch.Tensor:
        """``(B, n_mels, T)`` -> image ``(B, 1, n_mels, T)`` in [-1, 1] (see ``stemgen.codec.image``)."""
        return image_mod.magnitude_to_image(mag, self.config)

    def image_to_magnitude(self, image: torch.Tensor) -> torch.Tensor:
        """Image ``(B, 1, n_mels, T)`` in [-1, 1] -> mel magnitude ``(B, n_mels, T)``."""
        return image_mod.image_to_magnitude(image, self.config)

    def audio_to_image(self, audio: torch.Tensor) -> torch.Tensor:
        """Exactly one window ``(B, window_samples)`` -> ``(B, 1, n_mels, num_frames)``."""
        audio = self._as_batch(audio)
        if audio.shape[-1] != self.config.window_samples:
            raise ValueError(
                f"audio_to_image needs exactly {self.config.window_samples} samples for preset "
                f"'{self.config.name}', got {audio.shape[-1]} (use stemgen.codec.pad_or_trim)"
            )
        return self.magnitude_to_image(self.audio_to_magnitude(audio))

    # -- synthesis ------------------------------------------------------------------------------
    def magnitude_to_audio(
        self, mag: torch.Tensor, n_iter: int | None = None, init_phase: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Mel magnitude ``(B, n_mels, T)`` -> audio ``(B, T * hop)``."""
        mag = mag.to(self.device, torch.float32)
        if mag.dim() == 2:
            mag = mag.unsqueeze(0)
        linear = self.mel.to_linear(mag)[..., :: self.decimation, :]
        # One extra (repeated) column makes the centred iSTFT exactly T * hop samples long.
        linear = torch.cat([linear, linear[..., -1:]], dim=-1)
        if init_phase is not None:
            init_phase = self._to_phase_grid(init_phase.to(self.device, torch.float32))
            init_phase = torch.cat([init_phase, init_phase[..., -1:]], dim=-1)
        length = mag.shape[-1] * self.config.hop_length
        iters = self.config.griffin_lim_iters if n_iter is None else n_iter
        return griffin_lim(linear, self.synthesis_stft, length, iters, GRIFFIN_LIM_MOMENTUM, init_phase)

    def image_to_audio(
        self, image: torch.Tensor, n_iter: int | None = None, init_phase: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Image ``(B, 1, n_mels, T)`` -> audio ``(B, T * hop)`` (``window_samples`` for a full image).

        ``n_iter``: Griffin-Lim iterations (default ``config.griffin_lim_iters``).
        ``init_phase``: ``(B, phase_bins, T)`` angles to start from (from ``audio_to_phase``).
        """
        with torch.no_grad():
            return self.magnitude_to_audio(self.image_to_magnitude(image.to(self.device)), n_iter, init_phase)

    def _to_phase_grid(self, phase: torch.Tensor) -> torch.Tensor:
        """Accept a phase on the padded analysis grid too: keep every r-th bin, and undo the
        linear phase of the window's offset inside the padded frame."""
        if self.decimation == 1 or phase.shape[-2] != self.n_freqs:
            return phase
        offset = (self.config.n_fft - self.config.win_length) // 2  # window start inside the padded frame
        k = torch.arange(self.phase_bins, device=phase.device, dtype=phase.dtype)[:, None]
        return phase[..., :: self.decimation, :] + 2 * torch.pi * k * offset / self.config.win_length

    # -- images on disk -------------------------------------------------------------------------
    def image_to_png(self, image: torch.Tensor, path: str | Path) -> Path:
        """Write one ``(1, 1, H, W)`` image as an 8-bit PNG carrying this codec's config."""
        return image_mod.image_to_png(image, path, self.config)

    @staticmethod
    def png_to_image(path: str | Path) -> torch.Tensor:
        """Read an 8-bit spectrogram PNG (ours or Riffusion's) -> ``(1, 1, H, W)`` in [-1, 1]."""
        return image_mod.png_to_image(path)[0]

    # -- helpers --------------------------------------------------------------------------------
    def _as_batch(self, x: torch.Tensor) -> torch.Tensor:
        """Accept one unbatched signal/spectrogram too; float32 on this codec's device."""
        x = torch.as_tensor(x)
        if x.dim() == 1:
            x = x.unsqueeze(0)
        return x.to(self.device, torch.float32)
