"""Everything a worker process needs to record sessions, built once from ``metrics:`` in
the agent definition and passed explicitly: the buffered store, the observers (Prometheus,
the dashboards' live feed), one collector per session, the retention task.

    runtime = MetricsRuntime.from_spec(loaded.spec)
    await runtime.start()                      # in the server's lifespan
    collector = runtime.collector(session_id=..., transport="websocket", agent_name=...)
    attach_metrics(session, userdata, collector)   # before session.start()
    await runtime.aclose()
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..config.spec import MetricsSpec
from ..store import BufferedStore, Store, open_store, retention_loop
from ..store.observers import Observers
from ..store.records import Outcome
from .collector import SessionCollector, attach_metrics
from .feed import LiveFeed
from .orphans import PROCESS_KEY, end_orphans, process_tag
from .prometheus import PrometheusMetrics
from .providers import describe_providers
from .turns import TurnAssembler

logger = logging.getLogger(__name__)


class MetricsRuntime:
    def __init__(
        self,
        spec: MetricsSpec | None = None,
        *,
        store: Store | None = None,
        prometheus: PrometheusMetrics | None = None,
        max_pending: int = 10_000,
    ) -> None:
        self.spec = spec or MetricsSpec()
        backend = store or open_store(self.spec.store_url, transcripts=self.spec.transcripts)
        self.prometheus = prometheus or PrometheusMetrics()
        self.feed = LiveFeed(transcripts=backend.transcripts)
        self.observers = Observers(self.prometheus.observe, self.feed.publish)
        self.store = BufferedStore(backend, observers=self.observers, max_pending=max_pending)
        self.prometheus.track_store(self.store)
        self._retention: asyncio.Task[None] | None = None

    @classmethod
    def from_spec(cls, spec: MetricsSpec, **kw: Any) -> MetricsRuntime:
        return cls(spec, **kw)

    @property
    def enabled(self) -> bool:
        """Whether sessions are recorded (the API and /metrics work either way)."""
        return self.spec.enabled

    async def start(self) -> None:
        """Open the store (a store that is down does not stop the server: writes buffer and
        retry) and start the retention task."""
        try:
            await self.store.open()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not self.store.is_transient(exc):
                raise  # a schema from a newer Causerie, a bad URL: fail at startup
            logger.warning("store %r unavailable at startup (%s); buffering", self.store, exc)
            self.store.start()
        else:
            try:
                await end_orphans(self.store)
            except Exception as exc:  # the store failing now must not stop the server
                logger.warning("could not end the sessions a stopped server left: %s", exc)
        if self._retention is None and (
            self.spec.retention_days is not None or self.spec.max_sessions is not None
        ):
            self._retention = asyncio.get_running_loop().create_task(
                retention_loop(
                    self.store,
                    max_age_days=self.spec.retention_days,
                    max_sessions=self.spec.max_sessions,
                ),
                name="causerie.metrics.retention",
            )

    async def aclose(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109 - shutdown bound
        task, self._retention = self._retention, None
        if task is not None:
            task.cancel()
            # gather() returns the task's CancelledError but re-raises one aimed at us.
            await asyncio.gather(task, return_exceptions=True)
        await self.store.aclose(timeout)

    def collector(
        self,
        *,
        session_id: str,
        transport: str,
        agent_name: str,
        providers: dict[str, str] | None = None,
    ) -> SessionCollector:
        return SessionCollector(
            self.store,
            session_id=session_id,
            transport=transport,
            agent_name=agent_name,
            providers=providers,
            on_live=self.feed.publish_event,
        )

    def session_hook(self, live: Any) -> None:
        """A session hook for the transports: the browser server's ``SessionManager
        (session_hooks=[...])`` with a :class:`~causerie.transports.bridge.LiveSession`, or
        LiveKit's ``AgentRuntime.session_hooks`` with a ``RoomSession``. Called before the
        session starts, in the task that starts it. Needs ``session_id``, ``transport``,
        ``agent_name``, ``session``, ``userdata``; uses ``faults``, ``on_end`` and the
        session's turn assembler (:func:`session_turns`) if present."""
        if not self.enabled:
            return
        collector = self.collector(
            session_id=live.session_id,
            transport=live.transport,
            agent_name=live.agent_name,
            providers=describe_providers(live.session),
        )
        attach_metrics(
            live.session,
            live.userdata,
            collector,
            faults=getattr(live, "faults", None),
            turns=session_turns(live),
        )
        collector.annotate({PROCESS_KEY: process_tag()})  # for end_orphans after a crash
        on_end = getattr(live, "on_end", None)
        if isinstance(on_end, list):  # the transport knows why it ended before the close event

            def ended(reason: str) -> None:
                collector.close(*END_REASONS.get(reason, ("completed", None)))

            on_end.append(ended)


def session_turns(live: Any) -> TurnAssembler | None:
    """The session's one :class:`~causerie.metrics.turns.TurnAssembler`, where the
    transport's conversation has one (``turns``, or its event mapping's)."""
    conversation = getattr(live, "conversation", live)
    turns = getattr(conversation, "turns", None)
    if turns is None:
        turns = getattr(getattr(conversation, "mapper", None), "turns", None)
    return turns if isinstance(turns, TurnAssembler) else None


END_REASONS: dict[str, tuple[Outcome, str | None]] = {
    "participant_left": ("user_left", None),
    "no_participant": ("user_left", "nobody joined"),
    "room_disconnected": ("error", "room disconnected"),
    "error": ("error", "the session failed"),
}
"""A transport's end reason -> session outcome; others (closed, cancelled) are completed."""
