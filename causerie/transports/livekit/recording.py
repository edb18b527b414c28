"""Recording a LiveKit conversation's metrics, with the collector every transport uses
(:mod:`causerie.metrics.collector`), into the store named by ``metrics.store_url``.

A worker's job process runs one job, so the store is opened for the job and flushed when it
ends. With several worker processes (or machines), point ``metrics.store_url`` at Redis
(``REDIS_URL``): the server's dashboards and ``/metrics`` read from the same store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ...config.loader import LoadedConfig
from .room_session import SessionHook


@asynccontextmanager
async def recording(loaded: LoadedConfig) -> AsyncIterator[SessionHook | None]:
    """A session hook that records each conversation, or None when ``metrics.enabled`` is off.

    It is the same hook the browser server uses (``MetricsRuntime.session_hook``), so both
    transports map end reasons to outcomes the same way."""
    if not loaded.spec.metrics.enabled:
        yield None
        return
    from ...metrics.runtime import MetricsRuntime

    metrics = MetricsRuntime.from_spec(loaded.spec.metrics)
    await metrics.start()
    try:
        yield metrics.session_hook
    finally:
        await metrics.aclose()
