"""In-process observers: callables that see each record as it is recorded.

An :class:`Observers` is created by whoever owns a worker (server, CLI) and passed
explicitly to what records (``BufferedStore``, collectors). There is no global instance and
nothing is shared between processes: another process reads the store instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from .records import Record

logger = logging.getLogger(__name__)

Observer = Callable[[Record], object]
"""Called on the event loop, synchronously: keep it cheap (a counter, a queue put)."""


class Observers:
    """An ordered list of observers. One that raises is logged, counted and skipped, so a
    faulty dashboard feed never breaks the voice path or the other observers."""

    __slots__ = ("_items", "errors")

    def __init__(self, *observers: Observer) -> None:
        self._items: tuple[Observer, ...] = observers
        self.errors = 0
        """How many observer calls raised."""

    def add(self, observer: Observer) -> Callable[[], None]:
        """Add ``observer``; returns a function that removes it."""
        # A new tuple on each change keeps notify() safe when an observer adds or removes.
        self._items = (*self._items, observer)
        return lambda: self.remove(observer)

    def remove(self, observer: Observer) -> None:
        items = list(self._items)
        if observer in items:
            items.remove(observer)
            self._items = tuple(items)

    def __len__(self) -> int:
        return len(self._items)

    def notify(self, record: Record) -> None:
        for observer in self._items:
            try:
                observer(record)
            except Exception:
                self.errors += 1
                logger.exception(
                    "metrics observer %r failed on %s", observer, type(record).__name__
                )
