"""The key/value memory of one propagation pass, preallocated once (as the original does) instead of re-concatenated."""
from __future__ import annotations

import torch


class PassMemory:
    """Interacted ("certain") frames, frames committed every mem_freq frames, and one temporary previous-frame slot.

    keys/values are read as [K, C, n, h, w] views without copying. time_major=True stores them as
    [K, capacity, h, w, C], so that the used prefix is contiguous per object and the memory read needs no copy
    (the transposed operand goes straight to the matrix product); False keeps the original's [K, C, capacity, h, w],
    whose prefix view is copied by every read.
    """

    def __init__(self, certain_k: torch.Tensor, certain_v: torch.Tensor, capacity: int, time_major: bool):
        n = certain_k.shape[2]
        if capacity < n + 1:
            raise ValueError(f'pass memory capacity {capacity} cannot hold the {n} certain frames and a temporary one')
        self.time_major = time_major
        self.keys, self.values = self._allocate(certain_k, capacity), self._allocate(certain_v, capacity)
        self._slots(self.keys, n).copy_(certain_k)
        self._slots(self.values, n).copy_(certain_v)
        self.used, self.has_temp = n, False  # committed slots; whether slot `used` holds the temporary frame

    def _allocate(self, like: torch.Tensor, capacity: int) -> torch.Tensor:
        k, c, _, h, w = like.shape
        shape = (k, capacity, h, w, c) if self.time_major else (k, c, capacity, h, w)
        return like.new_empty(shape)

    def _slots(self, buffer: torch.Tensor, stop: int, start: int = 0) -> torch.Tensor:
        """Slots [start, stop) of buffer as a [K, C, n, h, w] view."""
        if self.time_major:
            return buffer[:, start:stop].permute(0, 4, 1, 2, 3)
        return buffer[:, :, start:stop]

    def read(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(keys [K,Ck,n,h,w], values [K,Cv,n,h,w]) of the certain, committed and temporary frames (views)."""
        n = self.used + self.has_temp
        return self._slots(self.keys, n), self._slots(self.values, n)

    def put(self, key: torch.Tensor, value: torch.Tensor, commit: bool) -> None:
        """Write a frame's [K,C,1,h,w] key/value into the next slot: permanently if commit, else as the temporary one."""
        if self.used >= self.keys.shape[1 if self.time_major else 2]:
            raise RuntimeError(f'pass memory is full ({self.used} slots): the capacity was computed too small')
        self._slots(self.keys, self.used + 1, self.used).copy_(key)
        self._slots(self.values, self.used + 1, self.used).copy_(value)
        self.used += commit
        self.has_temp = not commit
