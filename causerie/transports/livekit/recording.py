"""Recording a LiveKit conversation's metrics, with the collector every transport uses
(:mod:`causerie.metrics.collector`), into the store named by ``metrics.store_url``.

A worker's job process runs one job, so the store is opened for the job and flushed when it
ends. With several worker processes (or machines), point ``metrics.store_url`` at Redis
(``REDIS_URL``): the server's dashboards and ``/metrics`` read from the same store.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ...config.loader import LoadedConfig
from ...metrics.records import Outcome
from .room_session import RoomSession, SessionHook

logger = logging.getLogger(__name__)

OUTCOMES: dict[str, Outcome] = {
    "participant_left": "user_left",
    "room_disconnected": "user_left",
    "no_participant": "completed",
    "cancelled": "completed",
    "error": "error",
}
"""Why a conversation ended -> the session record's outcome. ``session_closed`` is left to
the collector, which reads the close event (an error, or a normal end)."""


@asynccontextmanager
async def recording(loaded: LoadedConfig) -> AsyncIterator[SessionHook | None]:
    """A session hook that records each conversation, or None when ``metrics.enabled`` is off."""
    if not loaded.spec.metrics.enabled:
        yield None
        return
    from ...metrics.collector import attach_metrics
    from ...metrics.runtime import MetricsRuntime

    metrics = MetricsRuntime.from_spec(loaded.spec.metrics)
    await metrics.start()

    def hook(conversation: RoomSession) -> None:
        collector = metrics.collector(
            session_id=conversation.session_id,
            transport="livekit",
            agent_name=conversation.agent_name,
        )
        attach_metrics(
            conversation.session, conversation.userdata, collector, faults=conversation.faults
        )

        def on_end(reason: str) -> None:
            # Before the session closes: our reason (the user left) beats the close event's.
            if reason in OUTCOMES:
                collector.close(OUTCOMES[reason])

        conversation.on_end.append(on_end)

    try:
        yield hook
    finally:
        await metrics.aclose()
