"""Deterministic, resumable data order: per-epoch shuffles split over processes, and per-sample seeds.

Resuming in the middle of an epoch must see exactly the samples (and augmentations) the interrupted run would
have seen. The sampler therefore starts an epoch at any batch, and with `sample_seeding` every sample reseeds
random / numpy / torch from (seed, epoch, position in the epoch) so that its augmentation depends neither on
which worker loads it nor on what that worker loaded before.
"""
from __future__ import annotations

import random
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from train.distributed import DistEnv, WorkerSeeder


class EpochSampler(Sampler):
    """DistributedSampler(shuffle=True, drop_last) semantics with a start position; yields (index, sample_seed).

    Epoch e shuffles with a generator seeded by seed + e (as torch's DistributedSampler); process r takes
    positions r, r + W, r + 2W, ... of the shuffled order.
    """

    def __init__(self, num_samples: int, env: DistEnv, seed: int):
        self.n, self.env, self.seed = num_samples, env, seed
        self.per_rank = num_samples // env.world_size
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Next iteration yields epoch `epoch` from this process's `start`-th sample on."""
        self.epoch, self.start = epoch, start

    def __len__(self) -> int:
        return self.per_rank - self.start

    def __iter__(self) -> Iterator[tuple[int, int]]:
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(self.n, generator=g)[:self.per_rank * self.env.world_size].tolist()
        for i in range(self.start, self.per_rank):
            position = i * self.env.world_size + self.env.rank  # position in the global order of this epoch
            yield order[position], sample_seed(self.seed, self.epoch, position)


def sample_seed(seed: int, epoch: int, position: int) -> int:
    """A 32-bit seed that is a pure function of the run seed, the epoch and the global position."""
    return int(np.random.SeedSequence([seed, epoch, position]).generate_state(1)[0])


class SeededSamples(Dataset):
    """Wraps a dataset for EpochSampler: item (index, seed) -> dataset[index], optionally under that seed.

    The global random states are restored afterwards so that loading in the main process (num_workers=0)
    leaves the training process's own random streams untouched.
    """

    def __init__(self, dataset: Dataset, reseed: bool):
        self.dataset, self.reseed = dataset, reseed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, item: tuple[int, int]):
        index, seed = item
        if not self.reseed:
            return self.dataset[index]
        py_state, np_state = random.getstate(), np.random.get_state()
        with torch.random.fork_rng(devices=[]):
            random.seed(seed)
            np.random.seed(seed)
            torch.manual_seed(seed)
            try:
                return self.dataset[index]
            finally:
                random.setstate(py_state)
                np.random.set_state(np_state)


def make_loader(dataset: Dataset, env: DistEnv, batch_per_process: int, num_workers: int, seed: int,
                sample_seeding: bool) -> tuple[DataLoader, EpochSampler]:
    """DataLoader over this process's share, drop_last and pin_memory as the original; returns the sampler too."""
    if len(dataset) < batch_per_process * env.world_size:
        raise ValueError(f'the training set has {len(dataset)} samples, fewer than one global batch of '
                         f'{batch_per_process * env.world_size}; add data or lower train.batch_size')
    sampler = EpochSampler(len(dataset), env, seed)
    loader = DataLoader(SeededSamples(dataset, sample_seeding), batch_size=batch_per_process, sampler=sampler,
                        num_workers=num_workers, drop_last=True, pin_memory=env.device.type == 'cuda',
                        worker_init_fn=WorkerSeeder(env.rank),
                        generator=torch.Generator())
    return loader, sampler


def start_epoch(loader: DataLoader, sampler: EpochSampler, epoch: int, start_batch: int = 0) -> None:
    """Point the loader at epoch `epoch` from batch `start_batch`; worker base seeds also follow the epoch."""
    sampler.set_epoch(epoch, start_batch * loader.batch_size)
    loader.generator.manual_seed(sampler.seed + 1000 * epoch + sampler.env.rank)


def batches_per_epoch(sampler: EpochSampler, batch_per_process: int) -> int:
    """Full batches per epoch for each process (drop_last)."""
    return sampler.per_rank // batch_per_process
