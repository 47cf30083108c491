"""STFT helpers and phase reconstruction (fast Griffin-Lim).

Phase choice: the *fast Griffin-Lim algorithm* of Perraudin, Balazs & Søndergaard (2013), i.e.
Griffin-Lim with an accelerating momentum term ``alpha`` (0.99): each iteration projects onto
consistent spectrograms (iSTFT then STFT), imposes the target magnitude, and extrapolates along
the last step. It converges far faster than plain Griffin-Lim for the same cost per iteration,
which matters because every iteration is one STFT and one iSTFT of the whole window.

Differences from ``torchaudio.transforms.GriffinLim`` (which Riffusion used, momentum 0.99):
- ``init_phase`` lets a caller start from a known phase (e.g. the STFT phase of the previous
  window's audio in an overlap, or of a reference), instead of random phase;
- the random start uses a fixed seed, so the same image always decodes to the same audio;
- it is batched over ``(B, n_freqs, frames)`` and runs on whatever device the input is on.

Measured on 4 real stems (bench/bench_codec.py --compare, 1 CPU thread, compact preset with a
2048 window): the same quality as torchaudio's GriffinLim at equal iterations (spectral
convergence 0.299 vs 0.301) and the same cost (~15 ms per iteration per 5.12 s window); with
momentum, 16 iterations are as good as 32 or 64, so ``compact`` decodes in ~250 ms of CPU per
5.12 s window (~5% of real time). Starting from the true phase with no iterations gives 0.209:
most of the error is the 128-band mel inversion, not the phase.
"""

from __future__ import annotations

import torch

from stemgen.codec.config import CodecConfig

_EPS = 1e-16


class Stft:
    """Centered Hann STFT with Riffusion's conventions (reflect padding, window padded to n_fft).

    ``n_fft`` overrides the config's, e.g. ``win_length`` for the un-padded synthesis grid.
    """

    def __init__(self, config: CodecConfig, device: str | torch.device = "cpu", n_fft: int | None = None):
        self.n_fft = n_fft or config.n_fft
        self.hop = config.hop_length
        self.win_length = config.win_length
        self.window = torch.hann_window(config.win_length, device=device)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """``(B, samples)`` -> complex ``(B, n_freqs, 1 + samples // hop)``."""
        window = self.window.to(audio.device, audio.dtype)
        return torch.stft(audio, self.n_fft, self.hop, self.win_length, window, center=True,
                          pad_mode="reflect", normalized=False, onesided=True, return_complex=True)

    def inverse(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        """Complex ``(B, n_freqs, frames)`` -> ``(B, length)`` by weighted overlap-add."""
        window = self.window.to(spec.device, spec.real.dtype)
        return torch.istft(spec, self.n_fft, self.hop, self.win_length, window, center=True,
                           normalized=False, onesided=True, length=length)


def random_phase(shape: torch.Size | tuple, device: torch.device, seed: int = 0) -> torch.Tensor:
    """Uniform random phase angles, reproducible (a private generator, not the global RNG).

    Every batch item gets the same draw, so decoding a batch equals decoding its items one by one.
    """
    gen = torch.Generator(device="cpu").manual_seed(seed)
    one = torch.rand((1, *shape[-2:]), generator=gen) * 2 * torch.pi
    return one.to(device).expand(shape)


def griffin_lim(
    magnitude: torch.Tensor,
    stft: Stft,
    length: int,
    n_iter: int,
    momentum: float = 0.99,
    init_phase: torch.Tensor | None = None,
    seed: int = 0,
) -> torch.Tensor:
    """Audio ``(B, length)`` whose STFT magnitude approximates ``magnitude`` ``(B, n_freqs, frames)``.

    ``init_phase``: angles (radians) broadcastable to ``magnitude``; random when ``None``.
    ``n_iter=0`` returns the initial estimate (useful with a good ``init_phase``).
    """
    magnitude = magnitude.clamp_min(0)
    phase = random_phase(magnitude.shape, magnitude.device, seed) if init_phase is None else init_phase
    coeffs = torch.polar(magnitude, phase.to(magnitude.dtype).expand_as(magnitude))
    previous = coeffs
    for _ in range(n_iter):
        # Project onto consistent spectrograms, then impose the target magnitude.
        rebuilt = stft.forward(stft.inverse(coeffs, length))
        rebuilt = rebuilt[..., : magnitude.shape[-1]]
        projected = magnitude * rebuilt / (rebuilt.abs() + _EPS)
        # FGLA: extrapolate along the last step (momentum), then continue from there.
        coeffs = projected + momentum * (projected - previous)
        previous = projected
    final = previous if n_iter > 0 else coeffs
    return stft.inverse(final, length)
