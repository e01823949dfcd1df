"""Bounded LRU cache of per-frame query features (queries never change, so each frame is encoded once)."""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar('V')


class LRUCache(Generic[V]):
    """Keeps at most `capacity` entries (None = unbounded, 0 = no caching), evicting the least recently used."""

    def __init__(self, capacity: int | None):
        if capacity is not None and capacity < 0:
            raise ValueError(f'cache capacity must be >= 0 or None, got {capacity}')
        self.capacity = capacity
        self._items: OrderedDict[int, V] = OrderedDict()
        self.hits = self.misses = 0

    def get(self, key: int, compute: Callable[[], V]) -> V:
        """Cached value of key, computing (and possibly evicting) on a miss."""
        if key in self._items:
            self.hits += 1
            self._items.move_to_end(key)
            return self._items[key]
        self.misses += 1
        value = compute()
        if self.capacity != 0:
            self._items[key] = value
            if self.capacity is not None and len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()
