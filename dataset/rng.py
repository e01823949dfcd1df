"""Per-sample randomness: one seed drives every random draw of a sample (frames, augmentations, scribbles).

A sample's randomness comes from a `SampleRng`, seeded either from (base seed, index) -- reproducible, the same
seed gives the same sample -- or, without a base seed, from torch's global RNG, which the DataLoader seeds per
worker (fresh augmentations every epoch). torchvision v2 transforms draw from torch's global RNG, so `apply` runs
them inside `torch.random.fork_rng` seeded from this sample's generator: image and mask go through one call (same
geometric parameters) and the caller's global RNG state is left untouched.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable, TypeVar

import numpy as np
import torch

T = TypeVar('T')
_SEED_BOUND = 2 ** 63 - 1


class SampleRng:
    """Random source of one sample: a torch.Generator plus a numpy Generator derived from the same seed."""

    def __init__(self, seed: int):
        self.seed = int(seed) & _SEED_BOUND
        self.torch = torch.Generator().manual_seed(self.seed)
        self.np = np.random.default_rng(self.seed)

    @classmethod
    def for_sample(cls, base_seed: int | None, index: int) -> 'SampleRng':
        """Seed from (base_seed, index) if base_seed is given, else from torch's (worker-seeded) global RNG."""
        if base_seed is None:
            return cls(int(torch.randint(0, _SEED_BOUND, ())))
        state = np.random.SeedSequence([int(base_seed), int(index)]).generate_state(2, np.uint32)
        return cls((int(state[0]) << 31) ^ int(state[1]))

    def random(self) -> float:
        """Uniform float in [0, 1)."""
        return float(torch.rand((), generator=self.torch))

    def uniform(self, low: float, high: float) -> float:
        """Uniform float in [low, high)."""
        return low + (high - low) * self.random()

    def randint(self, low: int, high: int) -> int:
        """Uniform integer in [low, high) (numpy/torch convention)."""
        return int(torch.randint(low, high, (), generator=self.torch))

    def choice(self, items: Sequence[T]) -> T:
        """One element of a non-empty sequence."""
        return items[self.randint(0, len(items))]

    def apply(self, transform: Callable[..., Any], *inputs: Any) -> Any:
        """Run a torchvision (v2) transform with randomness taken from this sample's generator."""
        with torch.random.fork_rng(devices=[]):
            # The CPU generator only, which v2 transforms draw from: torch.manual_seed would also queue a lazy
            # seeding of every accelerator, recording a stack trace each time (most of the cost of a sample).
            torch.default_generator.manual_seed(self.randint(0, 2 ** 62))
            return transform(*inputs)
