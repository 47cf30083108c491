"""Fréchet distance between two sets of embeddings (as in FID/FAD), with a bootstrap interval.

``FD = |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))`` between Gaussians fitted to the two
sets. With fewer examples than dimensions the covariances are singular; a small ridge (``eps``)
keeps the matrix square root defined. The trace of ``(S_a S_b)^(1/2)`` is the sum of the square
roots of the eigenvalues of ``S_a S_b`` (real and non-negative for covariance matrices, up to
rounding), which is faster and steadier than ``scipy.linalg.sqrtm``.

Small sets bias FD upwards (the covariance estimates are noisy), so compare systems on the same
examples only, never FD values across datasets of different sizes.
"""

from __future__ import annotations

import numpy as np

RIDGE = 1e-6


def gaussian_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (rows = examples); one example gives a zero covariance."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"need a (examples, dims) array, got shape {x.shape}")
    cov = np.cov(x, rowvar=False) if x.shape[0] > 1 else np.zeros((x.shape[1], x.shape[1]))
    return x.mean(axis=0), np.atleast_2d(cov)


def frechet_from_stats(mu_a, cov_a, mu_b, cov_b, eps: float = RIDGE) -> float:
    """Fréchet distance between two Gaussians."""
    d = mu_a.shape[0]
    ridge = eps * np.eye(d)
    a, b = cov_a + ridge, cov_b + ridge
    eig = np.linalg.eigvals(a @ b)
    tr_sqrt = float(np.sum(np.sqrt(np.clip(eig.real, 0.0, None))))
    diff = mu_a - mu_b
    value = float(diff @ diff + np.trace(a) + np.trace(b) - 2.0 * tr_sqrt)
    return max(value, 0.0)  # rounding can give -1e-12 for identical sets


def frechet_distance(a: np.ndarray, b: np.ndarray, eps: float = RIDGE) -> float:
    """Fréchet distance between embedding sets ``a`` and ``b`` (rows = examples)."""
    return frechet_from_stats(*gaussian_stats(a), *gaussian_stats(b), eps=eps)


def frechet_bootstrap(
    generated: np.ndarray, reference: np.ndarray, resamples: int = 200, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float]:
    """``(fd, low, high)``: FD of the full sets and a percentile bootstrap interval.

    Each resample draws the same example indices for both sets (the sets are paired by example),
    so the interval reflects which examples were evaluated.
    """
    generated = np.asarray(generated, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if generated.shape[0] != reference.shape[0]:
        raise ValueError("generated and reference sets must be paired (same number of examples)")
    value = frechet_distance(generated, reference)
    n = generated.shape[0]
    if n < 2 or resamples <= 0:
        return value, value, value
    rng = np.random.default_rng(seed)
    values = [frechet_distance(generated[i], reference[i]) for i in rng.integers(0, n, size=(resamples, n))]
    alpha = (1.0 - level) / 2
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return value, float(low), float(high)
