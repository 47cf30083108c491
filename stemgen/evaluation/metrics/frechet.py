"""Fréchet distance between two sets of embeddings (as in FID/FAD), with a bootstrap interval.

``FD = |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))`` between Gaussians fitted to the two
sets. ``tr((S_a S_b)^(1/2))`` is computed exactly without a matrix square root: with centred data
``X_a``, ``X_b`` (rows = examples), ``S_a S_b`` has the same non-zero eigenvalues as
``M M^T`` with ``M = X_b X_a^T / sqrt((n_a - 1)(n_b - 1))``, so the trace is the sum of the singular
values of ``M`` (an ``n_b x n_a`` matrix: cheap for the small sets evaluation uses, exact even
with fewer examples than dimensions, where the covariances are singular). Large sets use the
``d x d`` form ``eigvalsh(S_a^(1/2) S_b S_a^(1/2))`` instead.

Small sets bias FD upwards (the covariance estimates are noisy), so compare systems on the same
examples only, never FD values across datasets of different sizes.
"""

from __future__ import annotations

import numpy as np


def _centred(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"need a (examples, dims) array, got shape {x.shape}")
    mu = x.mean(axis=0)
    return mu, x - mu


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between embedding sets ``a`` and ``b`` (rows = examples); one example = zero covariance."""
    mu_a, xa = _centred(a)
    mu_b, xb = _centred(b)
    if xa.shape[1] != xb.shape[1]:
        raise ValueError(f"embedding sizes differ: {xa.shape[1]} vs {xb.shape[1]}")
    da, db = max(xa.shape[0] - 1, 1), max(xb.shape[0] - 1, 1)
    tr_a = float(np.sum(xa * xa)) / da
    tr_b = float(np.sum(xb * xb)) / db
    if min(xa.shape[0], xb.shape[0]) <= xa.shape[1]:
        tr_sqrt = float(np.linalg.svd(xb @ xa.T, compute_uv=False).sum()) / np.sqrt(da * db)
    else:
        tr_sqrt = _trace_sqrt_product(xa.T @ xa / da, xb.T @ xb / db)
    diff = mu_a - mu_b
    return max(float(diff @ diff) + tr_a + tr_b - 2.0 * tr_sqrt, 0.0)  # rounding can give -1e-12


def _trace_sqrt_product(cov_a: np.ndarray, cov_b: np.ndarray) -> float:
    """``tr((S_a S_b)^(1/2))`` through the symmetric ``S_a^(1/2) S_b S_a^(1/2)``."""
    w, v = np.linalg.eigh(cov_a)
    root = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    return float(np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(root @ cov_b @ root), 0.0, None))))


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
