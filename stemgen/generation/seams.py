"""How audible are the joins between windows? Spectral flux at the seams vs inside windows.

Spectral flux (the L2 change of the normalised log-magnitude spectrum from one frame to the
next) spikes at a discontinuity. ``seam_report`` compares the mean flux of frames at the edges
of each overlap (where one window's contribution begins or ends) with the mean flux of all other
frames: a ratio near 1 means seams are no more abrupt than the music itself.
"""

from __future__ import annotations

import numpy as np
import torch

from stemgen.generation.windows import WindowPlan


def spectral_flux(audio: np.ndarray, n_fft: int = 1024, hop: int = 256, block_frames: int = 4096) -> np.ndarray:
    """Per-frame flux of mono ``audio`` (``flux[t]`` = change from frame ``t-1`` to ``t``).

    Same frames as ``torch.stft(center=True)``; computed ``block_frames`` at a time (two passes:
    the global peak, then the flux), so a long song never holds its whole spectrogram.
    """
    x = torch.as_tensor(np.asarray(audio, dtype=np.float32).reshape(-1))
    if x.numel() < n_fft:
        return np.zeros(0, dtype=np.float32)
    xp = torch.nn.functional.pad(x[None, None], (n_fft // 2, n_fft // 2), mode="reflect")[0, 0]
    n_frames = 1 + (xp.numel() - n_fft) // hop
    window = torch.hann_window(n_fft)

    def magnitudes(first: int, last: int) -> torch.Tensor:  # frames [first, last)
        seg = xp[first * hop : (last - 1) * hop + n_fft]
        return torch.stft(seg, n_fft, hop, window=window, center=False, return_complex=True).abs()

    blocks = [(a, min(a + block_frames, n_frames)) for a in range(0, n_frames, block_frames)]
    peak = max(float(magnitudes(a, b).max()) for a, b in blocks)
    flux, previous = [torch.zeros(1)], None
    for a, b in blocks:
        logmag = torch.log1p(100.0 * magnitudes(a, b) / (peak + 1e-9))
        if previous is not None:
            logmag = torch.cat([previous, logmag], dim=1)
        flux.append((logmag[:, 1:] - logmag[:, :-1]).norm(dim=0))
        previous = logmag[:, -1:]
    return torch.cat(flux).numpy()


def seam_report(audio: np.ndarray, plan: WindowPlan, n_fft: int = 1024, hop: int = 256) -> dict[str, float | int]:
    """``{"seam_flux", "inside_flux", "seam_ratio", "seams"}`` for stitched mono ``audio``."""
    flux = spectral_flux(audio[..., : plan.n_samples], n_fft, hop)
    edges = []
    for k in range(1, plan.n_windows):
        edges += [plan.start(k), plan.start(k - 1) + plan.window]  # overlap start and end
    edges = [e for e in edges if e < plan.n_samples]
    if flux.size < 4 or not edges:
        return {"seams": 0, "seam_flux": 0.0, "inside_flux": float(flux.mean()) if flux.size else 0.0, "seam_ratio": 1.0}
    seam = np.zeros(flux.size, dtype=bool)
    for e in edges:
        c = int(round(e / hop))
        seam[max(0, c - 1) : min(flux.size, c + 2)] = True  # the frames whose window spans the edge
    seam_flux = float(flux[seam].mean())
    inside = float(flux[~seam].mean()) if (~seam).any() else seam_flux
    return {
        "seams": len(edges),
        "seam_flux": round(seam_flux, 4),
        "inside_flux": round(inside, 4),
        "seam_ratio": round(seam_flux / inside, 4) if inside > 0 else 1.0,
    }
