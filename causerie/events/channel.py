"""A per-session fan-out of events to whoever listens (a transport, the metrics recorder).

Events are plain JSON-able dicts ``{"type": ..., ...}``; their schema lives in
:mod:`causerie.events.schema`. Emitting never blocks and a failing listener is logged and
skipped, so tools and the voice path can emit freely.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

Listener = Callable[[dict[str, Any]], None]


class EventChannel:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def emit(self, type: str, **payload: Any) -> dict[str, Any]:
        event = {"type": type, "ts": time.time(), **payload}
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                logger.exception("event listener failed for %s", type)
        return event
