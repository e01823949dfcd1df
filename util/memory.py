"""Peak memory of a process or a block of code (benchmark and evaluation reports)."""
from __future__ import annotations

import contextlib
import os
import resource
import threading
from collections.abc import Iterator

import torch


def max_rss_mb() -> float:
    """Peak resident memory of this process since it started (the kernel's high-water mark), MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PeakMemory:
    """Peak process memory during a block: RSS sampled every 2 ms on CPU, max allocated bytes on CUDA."""

    def __init__(self, device: torch.device):
        self.device = device
        self.peak = self.start = 0

    @staticmethod
    def rss() -> int:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')

    def current(self) -> int:
        return torch.cuda.memory_allocated(self.device) if self.device.type == 'cuda' else self.rss()

    @contextlib.contextmanager
    def track(self) -> Iterator[PeakMemory]:
        self.start = self.peak = self.current()
        if self.device.type == 'cuda':
            torch.cuda.reset_peak_memory_stats(self.device)
            yield self
            torch.cuda.synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device)
            return
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.002):
                self.peak = max(self.peak, self.rss())
        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join()
            self.peak = max(self.peak, self.rss())
