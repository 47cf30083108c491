"""Song-level train/valid/test split: every window of a song (and of its augmented renderings)
lands in the same split, decided by a hash of the song's base id, so it is stable across runs
and does not depend on which other songs are in the build."""

from __future__ import annotations

import hashlib

SPLITS = ("train", "valid", "test")


def parse_ratios(text: str) -> tuple[float, float, float]:
    """``"0.8,0.1,0.1"`` → normalised (train, valid, test) fractions."""
    try:
        parts = [float(x) for x in text.split(",")]
    except ValueError:
        raise ValueError(f"split ratios must be three numbers like 0.8,0.1,0.1, got '{text}'") from None
    if len(parts) != 3 or any(not 0 <= p < float("inf") for p in parts) or sum(parts) <= 0:  # NaN fails too
        raise ValueError(f"split ratios must be three non-negative numbers like 0.8,0.1,0.1, got '{text}'")
    total = sum(parts)
    return parts[0] / total, parts[1] / total, parts[2] / total


def base_song_id(song_id: str) -> str:
    """Augmented renderings are ``<id>~vN``; they share the split of ``<id>``."""
    return song_id.split("~", 1)[0]


def assign_split(song_id: str, ratios: tuple[float, float, float], seed: int = 0) -> str:
    digest = hashlib.sha256(f"{seed}:{base_song_id(song_id)}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < ratios[0]:
        return "train"
    if u < ratios[0] + ratios[1]:
        return "valid"
    return "test"
