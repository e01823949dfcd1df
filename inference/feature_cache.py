"""Bounded LRU cache of per-frame query features (queries never change, so each frame is encoded once)."""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

import torch

V = TypeVar('V')


def tensor_bytes(value: object) -> int:
    """Bytes held by the tensors in a (nested) tuple/list of tensors."""
    if isinstance(value, torch.Tensor):
        return value.nelement() * value.element_size()
    if isinstance(value, (tuple, list)):
        return sum(tensor_bytes(v) for v in value)
    return 0


class LRUCache(Generic[V]):
    """Keeps at most `capacity` entries (None = unbounded, 0 = no caching) and at most `max_bytes` bytes of
    tensors (None = no byte limit), evicting the least recently used."""

    def __init__(self, capacity: int | None, max_bytes: int | None = None):
        if capacity is not None and capacity < 0:
            raise ValueError(f'cache capacity must be >= 0 or None, got {capacity}')
        if max_bytes is not None and max_bytes < 0:
            raise ValueError(f'cache max_bytes must be >= 0 or None, got {max_bytes}')
        self.capacity, self.max_bytes = capacity, max_bytes
        self._items: OrderedDict[int, V] = OrderedDict()
        self._sizes: dict[int, int] = {}
        self.nbytes = 0
        self.hits = self.misses = 0

    def get(self, key: int, compute: Callable[[], V]) -> V:
        """Cached value of key, computing (and possibly evicting) on a miss."""
        if key in self._items:
            self.hits += 1
            self._items.move_to_end(key)
            return self._items[key]
        self.misses += 1
        value = compute()
        size = tensor_bytes(value)
        if self.capacity != 0 and (self.max_bytes is None or size <= self.max_bytes):
            self._items[key], self._sizes[key] = value, size
            self.nbytes += size
            while ((self.capacity is not None and len(self._items) > self.capacity)
                   or (self.max_bytes is not None and self.nbytes > self.max_bytes)):
                old, _ = self._items.popitem(last=False)
                self.nbytes -= self._sizes.pop(old)
        return value

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()
        self._sizes.clear()
        self.nbytes = 0
