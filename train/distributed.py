"""Process setup for one process (CPU / one GPU) or `torchrun` (NCCL on CUDA, gloo on CPU), and seeding."""
from __future__ import annotations

import logging
import os
import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from util.config import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistEnv:
    """Where this process runs: its rank among world_size processes and its device."""
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def pick_device(preference: str, local_rank: int) -> torch.device:
    """'auto' -> cuda:<local_rank> when CUDA is available, else cpu; 'cpu' / 'cuda' force one."""
    if preference not in ('auto', 'cpu', 'cuda'):
        raise ConfigError(f"train.device must be 'auto', 'cpu' or 'cuda', got {preference!r}")
    if preference == 'cuda' and not torch.cuda.is_available():
        raise ConfigError('train.device=cuda (--device cuda) but CUDA is not available on this machine; use '
                          '--device cpu or auto')
    if preference == 'cpu' or not torch.cuda.is_available():
        return torch.device('cpu')
    return torch.device('cuda', local_rank)


def init_distributed(device_preference: str = 'auto') -> DistEnv:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1); otherwise a single process."""
    world_size = int(os.environ.get('WORLD_SIZE', '1'))
    rank = int(os.environ.get('RANK', '0'))
    local_rank = int(os.environ.get('LOCAL_RANK', '0'))
    device = pick_device(device_preference, local_rank)
    if world_size > 1 and not dist.is_initialized():
        backend = 'nccl' if device.type == 'cuda' else 'gloo'
        if device.type == 'cuda':
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
        log.info('process %d/%d joined the %s group on %s', rank, world_size, backend, device)
    return DistEnv(rank, world_size, local_rank, device)


def shutdown_distributed() -> None:
    """Leave the process group if one was joined."""
    if dist.is_initialized():
        dist.destroy_process_group()


def seed_everything(seed: int) -> None:
    """Seed torch, numpy and random (the original seeds all three with 14159265)."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


class WorkerSeeder:
    """DataLoader worker_init_fn of the original: seed = torch.initial_seed() % 2^31 + worker_id + 100 * rank.

    A class rather than a closure so that it pickles for spawn-started workers.
    """

    def __init__(self, rank: int):
        self.rank = rank

    def __call__(self, worker_id: int) -> None:
        seed = torch.initial_seed() % 2**31 + worker_id + 100 * self.rank
        np.random.seed(seed)
        random.seed(seed)


def all_reduce_mean(values: torch.Tensor, env: DistEnv) -> torch.Tensor:
    """Mean of a tensor over all processes (identity for one process)."""
    if env.distributed:
        values = values.clone()
        dist.all_reduce(values)
        values /= env.world_size
    return values
