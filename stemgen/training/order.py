"""Data order and per-step randomness as pure functions of (seed, micro-step, rank).

This is what makes resume exact: nothing about *which* examples a step sees, or which noise,
timesteps and dropout masks it draws, depends on state carried from earlier steps. Step ``k`` of a
resumed run therefore sees exactly what step ``k`` of an uninterrupted run saw, without replaying
the data loader or restoring generator states.

Order: an endless sequence of shuffled epochs (permutation ``e`` seeded by ``(seed, e)``); global
micro-batch ``i`` is positions ``[i*G, (i+1)*G)`` of that sequence, where ``G`` = per-process batch
x number of processes; process ``r`` takes its ``r``-th slice. Epoch boundaries may fall inside a
batch; every example is still seen once per epoch.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

import numpy as np
import torch
from torch.utils.data import Sampler


def derive_seed(*parts: int) -> int:
    """A 63-bit seed mixing ``parts`` (SeedSequence hashing: nearby inputs give unrelated seeds)."""
    state = np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts]).generate_state(2, dtype=np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1


@lru_cache(maxsize=4)
def _epoch_permutation(num_examples: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng(derive_seed(seed, 0x0DA7A, epoch)).permutation(num_examples)


def global_positions(num_examples: int, seed: int, start: int, count: int) -> list[int]:
    """Example indices at positions ``[start, start+count)`` of the endless shuffled sequence."""
    out: list[int] = []
    pos = start
    while len(out) < count:
        epoch, offset = divmod(pos, num_examples)
        perm = _epoch_permutation(num_examples, seed, epoch)
        take = min(count - len(out), num_examples - offset)
        out.extend(int(i) for i in perm[offset : offset + take])
        pos += take
    return out


class ResumableBatchSampler(Sampler[list[int]]):
    """Yields this process's batches for micro-steps ``start_micro .. end_micro - 1``."""

    def __init__(
        self,
        num_examples: int,
        batch_size: int,
        seed: int,
        start_micro: int,
        end_micro: int,
        rank: int = 0,
        world_size: int = 1,
    ):
        if num_examples < 1:
            raise ValueError("no examples to sample from")
        self.num_examples = num_examples
        self.batch_size = batch_size
        self.seed = seed
        self.start_micro = start_micro
        self.end_micro = end_micro
        self.rank = rank
        self.world_size = world_size

    def batch_for(self, micro: int) -> list[int]:
        global_batch = self.batch_size * self.world_size
        start = micro * global_batch + self.rank * self.batch_size
        return global_positions(self.num_examples, self.seed, start, self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        for micro in range(self.start_micro, self.end_micro):
            yield self.batch_for(micro)

    def __len__(self) -> int:
        return max(0, self.end_micro - self.start_micro)


def step_generator(seed: int, micro: int, rank: int, device: torch.device) -> torch.Generator:
    """The generator for one micro-step's noise, timesteps and conditioning dropout."""
    gen = torch.Generator(device=device)
    gen.manual_seed(derive_seed(seed, 0x5EED, micro, rank))
    return gen
