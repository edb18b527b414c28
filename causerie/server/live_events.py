"""``GET /api/events``'s body: server-sent events of the sessions, live."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from ..metrics.feed import LiveFeed, TooManySubscribers
from ..metrics.prometheus import StoreStatus
from ..store.interfaces import RecordReader
from ..store.records import SessionRecord


def summary_dict(s: SessionRecord) -> dict[str, Any]:
    d = s.to_dict()
    d.pop("turns", None)
    d.pop("transcript", None)
    return d


def _sse(event: str, data: Any, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def event_stream(
    store: RecordReader,
    feed: LiveFeed,
    *,
    heartbeat: float,
    stats_interval: float,
    stats: Callable[[], Awaitable[StoreStatus]],
) -> AsyncIterator[str]:
    """A snapshot of the active sessions, then live events; keep-alives and a store-wide
    active count (which sees other worker processes too) in between."""
    try:
        with feed.subscribe() as sub:
            yield "retry: 3000\n\n"
            n = 0
            try:
                active = await store.list_sessions(outcome="active", limit=100)
                yield _sse(
                    "snapshot",
                    {
                        "active": [summary_dict(s) for s in active.items],
                        "active_count": active.total,
                    },
                )
            except asyncio.CancelledError:
                raise
            except Exception as e:
                yield _sse("snapshot", {"active": [], "active_count": None, "store_error": str(e)})
            next_stats = time.monotonic() + stats_interval
            while True:
                wait = max(0.05, min(heartbeat, next_stats - time.monotonic()))
                try:
                    ev = await asyncio.wait_for(sub.get(), wait)
                except TimeoutError:
                    if time.monotonic() >= next_stats:
                        status = await stats()
                        yield _sse(
                            "stats", {"active_count": status.active_sessions, "store_up": status.up}
                        )
                        next_stats = time.monotonic() + stats_interval
                    else:
                        yield ": keep-alive\n\n"
                    continue
                n += 1
                yield _sse(ev["type"], ev, n)
    except TooManySubscribers as e:
        yield _sse("error", {"message": str(e)})
