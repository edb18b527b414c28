"""The live feed behind ``GET /api/events``: an observer that fans records out to the
dashboards connected to this process.

Each subscriber has a bounded queue; a dashboard that stops reading loses its oldest events
(and is told how many, so it can reload) instead of growing the server's memory. With
``transcripts=False`` no user or agent text leaves through the feed either.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..store.records import ErrorRecord, Record, SessionEnd, SessionRecord, TurnRecord


class TooManySubscribers(Exception):
    """Every feed slot is taken."""


class Subscription:
    def __init__(self, max_queue: int) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(max_queue)
        self.lost = 0
        """Events dropped because this subscriber fell behind, since the last one it got."""

    def put(self, event: dict[str, Any]) -> None:
        if self.queue.full():
            self.queue.get_nowait()  # drop the oldest: the newest matter most on a live view
            self.lost += 1
        self.queue.put_nowait(event)

    async def get(self) -> dict[str, Any]:
        event = await self.queue.get()
        if self.lost:
            event = {**event, "lost": self.lost}
            self.lost = 0
        return event


class LiveFeed:
    """Call :meth:`publish` (an observer) and :meth:`publish_event` on the event loop's
    thread; subscribers read on the same loop."""

    def __init__(
        self, *, transcripts: bool = True, max_queue: int = 1000, max_subscribers: int = 32
    ) -> None:
        self.transcripts = transcripts
        self.max_queue = max_queue
        self.max_subscribers = max_subscribers
        self._subs: set[Subscription] = set()
        self.published = 0

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    @contextmanager
    def subscribe(self) -> Iterator[Subscription]:
        if len(self._subs) >= self.max_subscribers:
            raise TooManySubscribers(
                f"{self.max_subscribers} live feeds are open; close a dashboard and retry"
            )
        sub = Subscription(self.max_queue)
        self._subs.add(sub)
        try:
            yield sub
        finally:
            self._subs.discard(sub)

    def publish(self, record: Record) -> None:
        """The observer: records become ``session_start``, ``session_end``, ``turn`` and
        ``error`` events."""
        if not self._subs:
            return
        event: dict[str, Any]
        if isinstance(record, TurnRecord):
            turn = record if self.transcripts else _scrub(record)
            event = {"type": "turn", "turn": turn.to_dict()}
        elif isinstance(record, SessionRecord):
            data = record.to_dict()
            data.pop("turns", None)
            data.pop("transcript", None)
            event = {"type": "session_start", "session": data}
        elif isinstance(record, SessionEnd):
            event = {"type": "session_end", **dataclasses.asdict(record)}
        elif isinstance(record, ErrorRecord):
            event = {"type": "error", "error": record.to_dict()}
        else:
            return
        self.publish_event(event)

    def publish_event(self, event: dict[str, Any]) -> None:
        """Any JSON-safe ``{"type": ...}`` dict (e.g. a collector's agent states)."""
        if not self._subs:
            return
        event.setdefault("ts", time.time())
        self.published += 1
        for sub in list(self._subs):
            sub.put(event)


def _scrub(turn: TurnRecord) -> TurnRecord:
    return dataclasses.replace(
        turn,
        user_text=None,
        agent_text=None,
        tool_calls=[dataclasses.replace(t, arguments="{}") for t in turn.tool_calls],
    )
