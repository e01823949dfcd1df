"""Tensorboard scalars (averaged over the report interval and over processes) and image grids, rank 0 only."""
from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

import torch

from train.distributed import DistEnv, all_reduce_mean

log = logging.getLogger(__name__)


class TrainLogger:
    """Accumulates per-iteration scalars; every report writes their means; writes image grids on request.

    `log_dir=None` (the original's `--id NULL`) keeps the averaging (all processes must take part in the
    reduction) but writes nothing.
    """

    def __init__(self, log_dir: Path | None, env: DistEnv):
        self.env = env
        self.writer = None
        if log_dir is not None and env.is_main:
            from torch.utils.tensorboard import SummaryWriter
            self.writer = SummaryWriter(str(log_dir))
        self.sums: dict[str, float] = defaultdict(float)
        self.count = 0

    def accumulate(self, scalars: dict[str, float]) -> None:
        for k, v in scalars.items():
            self.sums[k] += float(v)
        self.count += 1

    def report(self, it: int) -> dict[str, float]:
        """Write and return the means since the last report (identical on every process)."""
        names = sorted(self.sums)
        means = torch.tensor([self.sums[k] / max(self.count, 1) for k in names], dtype=torch.float64)
        means = all_reduce_mean(means.to(self.env.device), self.env).cpu()
        result = dict(zip(names, means.tolist()))
        if self.writer is not None:
            for k, v in result.items():
                self.writer.add_scalar(f'train/{k}', v, it)
            self.writer.flush()
        self.sums.clear()
        self.count = 0
        return result

    def images(self, tag: str, grid: torch.Tensor, it: int) -> None:
        """grid: float [3,H,W] in [0,1]."""
        if self.writer is not None:
            self.writer.add_image(tag, grid.clamp(0, 1).cpu(), it)
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
