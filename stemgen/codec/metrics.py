"""Round-trip quality measures for reconstructed audio (used by tests and the benchmark).

All compare a reference and an estimate of the same length, per batch item, on a common
STFT (``n_fft``/``hop`` in samples; callers pick ~46 ms / ~11.6 ms at the evaluation rate).
- spectral convergence ``||S - S^||_F / ||S||_F`` on linear magnitudes (0 is perfect, and
  about 1 or more means "no better than silence"): insensitive to phase, the usual GL measure;
- log-spectral distance (dB, RMS over bins of the dB difference, averaged over frames), with a
  floor at -80 dB re the reference peak so inaudible bins do not dominate;
- SNR (dB) on the waveform: honest but near or below 0 dB for *any* phase reconstruction,
  since Griffin-Lim's phase is not the original one.
"""

from __future__ import annotations

import torch


def _mag(audio: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    window = torch.hann_window(n_fft, device=audio.device, dtype=audio.dtype)
    return torch.stft(audio, n_fft, hop, window=window, center=True, return_complex=True).abs()


def spectral_convergence(ref: torch.Tensor, est: torch.Tensor, n_fft: int = 1024, hop: int = 256) -> torch.Tensor:
    s, s_hat = _mag(ref, n_fft, hop), _mag(est, n_fft, hop)
    return torch.linalg.norm((s - s_hat).flatten(1), dim=1) / torch.linalg.norm(s.flatten(1), dim=1).clamp_min(1e-12)


def log_spectral_distance(ref: torch.Tensor, est: torch.Tensor, n_fft: int = 1024, hop: int = 256,
                          floor_db: float = -80.0) -> torch.Tensor:
    s, s_hat = _mag(ref, n_fft, hop), _mag(est, n_fft, hop)
    floor = s.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-12) * 10 ** (floor_db / 20)
    diff = 20 * torch.log10(s.clamp_min(floor)) - 20 * torch.log10(s_hat.clamp_min(floor))
    return diff.pow(2).mean(dim=-2).sqrt().mean(dim=-1)


def snr_db(ref: torch.Tensor, est: torch.Tensor) -> torch.Tensor:
    noise = (ref - est).pow(2).sum(-1)
    return 10 * torch.log10(ref.pow(2).sum(-1).clamp_min(1e-20) / noise.clamp_min(1e-20))
