"""A small time-to-live cache for lookup results, bounded in both time and size."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

Key = tuple[Any, ...]


class TTLCache:
    """Entries expire after `ttl` seconds and at most `max_entries` are kept (least recently used go first).

    Keys come partly from callers (a `page` number, an API key fingerprint), so without both bounds
    a caller asking for ever new pages would grow the process without limit.
    """

    def __init__(self, ttl: float, max_entries: int = 1024, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._items: OrderedDict[Key, tuple[float, Any]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    async def get(self, key: Key, load: Callable[[], Awaitable[Any]], ttl: float | None = None) -> Any:
        now = self._clock()
        hit = self._items.get(key)
        if hit is not None and hit[0] > now:
            self._items.move_to_end(key)
            return hit[1]
        value = await load()
        self.put(key, value, ttl)
        return value

    def peek(self, key: Key) -> Any:
        """The value held for `key` if it has not expired, else None; nothing is loaded."""
        hit = self._items.get(key)
        return hit[1] if hit is not None and hit[0] > self._clock() else None

    def put(self, key: Key, value: Any, ttl: float | None = None) -> None:
        now = self._clock()
        self._items[key] = (now + (self.ttl if ttl is None else ttl), value)
        self._items.move_to_end(key)
        if len(self._items) > self.max_entries:
            self._evict(now)

    def _evict(self, now: float) -> None:
        for key in [k for k, (expires, _) in self._items.items() if expires <= now]:
            del self._items[key]
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)

    def drop(self, prefix: Key) -> None:
        for key in [k for k in self._items if k[: len(prefix)] == prefix]:
            del self._items[key]
