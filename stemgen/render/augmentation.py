"""Seeded augmentation for MIDI renders: SoundFont, program within its GM family, velocity, gain.

``Augmentation.draw(seed, song_id)`` is a pure function of its arguments and of the SoundFonts
installed, so a dataset rebuilt on the same machine renders the same audio (to float rounding:
FluidSynth sums voices in an order that depends on the songs rendered before, ~1e-7, far below
one 16-bit step); a different seed or song gives different choices. The concrete choices (not the ranges) are what gets recorded in
``Song.metadata["augmentation"]``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from stemgen.render.families import FAMILIES, gm_family_programs


@dataclass(frozen=True)
class AugmentationSpace:
    """The ranges augmentation draws from."""

    soundfonts: tuple[str, ...] | None = None  # names; None = every SoundFont found
    program_swap_prob: float = 0.5  # per GM program: swap for another of its family of eight
    velocity_scale: tuple[float, float] = (0.75, 1.1)
    velocity_jitter: float = 6.0  # standard deviation, in MIDI velocity steps, per note
    gain_db: float = 3.0  # per stem, uniform in [-gain_db, +gain_db]


@dataclass(frozen=True)
class Augmentation:
    """One concrete draw. ``Augmentation(seed=s)`` alone changes nothing but the jitter seed."""

    seed: int
    soundfont: str | None = None
    program_map: tuple[tuple[int, int], ...] = ()  # (from, to), both 0-based GM, same family
    velocity_scale: float = 1.0
    velocity_jitter: float = 0.0
    gains_db: tuple[tuple[str, float], ...] = ()  # (family, dB)

    @classmethod
    def draw(cls, seed: int, song_id: str, space: AugmentationSpace = AugmentationSpace(),
             soundfonts: list[str] | None = None) -> "Augmentation":
        """Draw every choice from a generator seeded by ``(seed, song_id)``."""
        rng = np.random.default_rng(_stable_seed(seed, song_id))
        if soundfonts is None:
            from stemgen.render.soundfonts import find_soundfonts

            soundfonts = [sf.name for sf in find_soundfonts()]
        names = [n for n in soundfonts if space.soundfonts is None or n in space.soundfonts]
        soundfont = names[int(rng.integers(len(names)))] if names else None
        program_map = []
        swaps = rng.random(128) < space.program_swap_prob
        targets = rng.integers(1, 8, size=128)  # offset within the family, never 0 (= no change)
        for program in range(128):
            if swaps[program]:
                family = gm_family_programs(program)
                program_map.append((program, family.start + (program - family.start + int(targets[program])) % 8))
        lo, hi = space.velocity_scale
        return cls(
            seed=int(seed),
            soundfont=soundfont,
            program_map=tuple(program_map),
            velocity_scale=round(float(rng.uniform(lo, hi)), 4),
            velocity_jitter=float(space.velocity_jitter),
            gains_db=tuple((f, round(float(rng.uniform(-space.gain_db, space.gain_db)), 2)) for f in FAMILIES),
        )

    def program(self, program: int) -> int:
        return dict(self.program_map).get(program, program)

    def gain(self, family: str) -> float:
        """Linear gain for a family's stem."""
        return float(10 ** (dict(self.gains_db).get(family, 0.0) / 20))

    def velocities(self, velocities: np.ndarray, song_id: str = "") -> np.ndarray:
        """Scaled and jittered velocities, clipped to 1..127 (a note never disappears)."""
        rng = np.random.default_rng(_stable_seed(self.seed, "velocity:" + song_id))
        v = velocities.astype(np.float64) * self.velocity_scale
        if self.velocity_jitter:
            v += rng.normal(0.0, self.velocity_jitter, size=v.shape)
        return np.clip(np.rint(v), 1, 127).astype(np.int64)

    def to_dict(self, programs_used: list[int] | None = None) -> dict:
        """What was applied; ``program_map`` limited to ``programs_used`` when given."""
        used = None if programs_used is None else set(programs_used)
        return {
            "seed": self.seed,
            "soundfont": self.soundfont,
            "program_map": {str(a): b for a, b in self.program_map if used is None or a in used},
            "velocity_scale": self.velocity_scale,
            "velocity_jitter": self.velocity_jitter,
            "gains_db": dict(self.gains_db),
        }


def _stable_seed(seed: int, key: str) -> int:
    # Python's hash() is salted per process; a digest is the same everywhere.
    return int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:8], "little")
