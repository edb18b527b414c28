"""A wrapper around a store backend that the voice path can call without ever waiting on it.

:class:`BufferedStore` is not a backend: it holds one (``backend``) and offers the same
interfaces (:mod:`causerie.store.interfaces`), with the writes buffered.

Writes go into a bounded in-memory buffer (a deque append: about a microsecond) and one
background task replays them on the backend in order. When the backend fails with an error
it may recover from (Redis down, SQLite locked or unreachable), the write stays at the head
of the buffer and is retried with exponential backoff while new writes queue behind it. Past
``max_pending`` new writes are dropped and counted. A write the backend refuses for good
(a bad record) is dropped at once, so it cannot block the ones behind it.

When a write is durable: **not** when ``add_turn`` (or ``add_turn_nowait``...) returns; that
only means it was buffered (``False`` from a ``*_nowait``: dropped). It is durable once the
drain task has written it to the backend: after ``await flush()`` returned ``True``, or once
``written`` counts it. ``aclose()`` flushes for a bounded time, then drops (and counts) what
is left; a process that dies loses its buffer.

Reads go straight to the backend (a write still buffered is not seen yet), and so do the
writes a person waits for: ``delete_session``, ``forget`` (after a flush) and the agent
versions.

Counters for the server's /metrics: ``pending``, ``written``, ``failures`` (failed
attempts), ``dropped``, ``healthy`` and ``last_error``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

from .base import (
    AgentVersion,
    MemoryRecord,
    SessionPage,
    Store,
    check_memory_args,
    check_outcome,
)
from .interfaces import DEFAULT_KEEP
from .observers import Observers
from .records import (
    ErrorRecord,
    Outcome,
    Percentiles,
    SessionEnd,
    SessionRecord,
    TranscriptEntry,
    TurnRecord,
)
from .write_queue import WriteQueue


class BufferedStore:
    """Buffered writes to ``backend``. Call the ``*_nowait`` methods from sync callbacks on
    the event loop's thread; the async write methods do the same thing for async callers
    (they return once the record is buffered, not stored). Records handed over belong to
    the store: do not change them afterwards."""

    def __init__(
        self,
        backend: Store,
        *,
        max_pending: int = 10_000,
        retry_initial: float = 0.1,
        retry_max: float = 5.0,
        write_timeout: float = 10.0,
        observers: Observers | None = None,
    ) -> None:
        self.backend = backend
        self.transcripts = backend.transcripts
        self.observers = observers
        self._write_timeout = write_timeout
        self.queue = WriteQueue(
            name=repr(backend),
            is_transient=backend.is_transient,
            max_pending=max_pending,
            retry_initial=retry_initial,
            retry_max=retry_max,
            write_timeout=write_timeout,
        )

    def __repr__(self) -> str:
        return f"BufferedStore({self.backend!r})"

    # The queue's counters, for /metrics and tests.
    max_pending = property(lambda self: self.queue.max_pending)
    pending = property(lambda self: self.queue.pending)
    written = property(lambda self: self.queue.written)
    failures = property(lambda self: self.queue.failures)
    dropped = property(lambda self: self.queue.dropped)
    healthy = property(lambda self: self.queue.healthy)
    last_error = property(lambda self: self.queue.last_error)

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Start the drain task (done by the first write otherwise). Needs a running loop."""
        self.queue.start()

    async def open(self) -> None:
        await self.backend.open()
        self.start()

    async def __aenter__(self) -> BufferedStore:
        await self.open()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # A bounded wait is the point of these two (shutdown hooks), hence the parameter.
    async def flush(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Wait until every buffered write reached the backend (durable); ``False`` on
        timeout."""
        return await self.queue.flush(timeout)

    async def aclose(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Stop taking writes, flush for up to ``timeout`` seconds, drop what is left,
        close the backend."""
        if self.queue.closing:
            return
        await self.queue.stop(timeout)
        await self.backend.close()

    async def close(self) -> None:
        await self.aclose()

    def _put(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> bool:
        return self.queue.put(fn, *args)

    def _notify(self, record: Any) -> None:
        if self.observers is not None:
            self.observers.notify(record)

    # -- writes: *_nowait for sync callers, async ones for the interface ----------------

    def start_session_nowait(self, session: SessionRecord) -> bool:
        self._notify(session)
        return self._put(self.backend.start_session, session)

    def end_session_nowait(
        self,
        session_id: str,
        outcome: Outcome = "completed",
        error: str | None = None,
        *,
        ended_at: float | None = None,
    ) -> bool:
        check_outcome(outcome)
        # The time it ended is now, not when the buffer gets to it.
        at = time.time() if ended_at is None else ended_at
        self._notify(SessionEnd(session_id, at, outcome, error))
        return self._put(self._end, session_id, outcome, error, at)

    async def _end(self, session_id: str, outcome: Outcome, error: str | None, at: float) -> None:
        await self.backend.end_session(session_id, outcome, error, ended_at=at)

    def add_turn_nowait(self, turn: TurnRecord) -> bool:
        self._notify(turn)
        return self._put(self.backend.add_turn, turn)

    def add_transcript_entry_nowait(self, session_id: str, entry: TranscriptEntry) -> bool:
        if not self.transcripts:
            return True
        return self._put(self.backend.add_transcript_entry, session_id, entry)

    def annotate_session_nowait(self, session_id: str, annotations: Mapping[str, Any]) -> bool:
        return self._put(self.backend.annotate_session, session_id, dict(annotations))

    def add_error_nowait(self, error: ErrorRecord) -> bool:
        self._notify(error)
        return self._put(self.backend.add_error, error)

    def remember_nowait(
        self,
        identity: str,
        *,
        facts: Mapping[str, Any] | None = None,
        exchanges: Sequence[TranscriptEntry] | None = None,
        keep: int = DEFAULT_KEEP,
        at: float | None = None,
    ) -> bool:
        """:meth:`Store.remember`, buffered; ``updated_at`` is now, not when it is written."""
        check_memory_args(identity, keep)
        return self._put(
            self._remember,
            identity,
            dict(facts or {}),
            list(exchanges or []),
            keep,
            time.time() if at is None else at,
        )

    async def _remember(
        self,
        identity: str,
        facts: dict[str, Any],
        exchanges: list[TranscriptEntry],
        keep: int,
        at: float,
    ) -> None:
        await self.backend.remember(identity, facts=facts, exchanges=exchanges, keep=keep, at=at)

    async def start_session(self, session: SessionRecord) -> None:
        self.start_session_nowait(session)

    async def end_session(
        self,
        session_id: str,
        outcome: Outcome = "completed",
        error: str | None = None,
        *,
        ended_at: float | None = None,
    ) -> None:
        self.end_session_nowait(session_id, outcome, error, ended_at=ended_at)

    async def add_turn(self, turn: TurnRecord) -> None:
        self.add_turn_nowait(turn)

    async def add_transcript_entry(self, session_id: str, entry: TranscriptEntry) -> None:
        self.add_transcript_entry_nowait(session_id, entry)

    async def annotate_session(self, session_id: str, annotations: Mapping[str, Any]) -> None:
        self.annotate_session_nowait(session_id, annotations)

    async def add_error(self, error: ErrorRecord) -> None:
        self.add_error_nowait(error)

    async def remember(
        self,
        identity: str,
        *,
        facts: Mapping[str, Any] | None = None,
        exchanges: Sequence[TranscriptEntry] | None = None,
        keep: int = DEFAULT_KEEP,
        at: float | None = None,
    ) -> None:
        self.remember_nowait(identity, facts=facts, exchanges=exchanges, keep=keep, at=at)

    # -- reads and housekeeping go straight to the backend ------------------------------

    async def get_session(self, session_id: str) -> SessionRecord | None:
        return await self.backend.get_session(session_id)

    async def list_sessions(
        self,
        *,
        limit: int = 50,
        offset: int = 0,
        transport: str | None = None,
        outcome: str | None = None,
        agent_name: str | None = None,
        since: float | None = None,
        until: float | None = None,
        text: str | None = None,
    ) -> SessionPage:
        return await self.backend.list_sessions(
            limit=limit,
            offset=offset,
            transport=transport,
            outcome=outcome,
            agent_name=agent_name,
            since=since,
            until=until,
            text=text,
        )

    async def turns_between(
        self, since: float, until: float | None = None, *, limit: int | None = None
    ) -> list[TurnRecord]:
        return await self.backend.turns_between(since, until, limit=limit)

    async def list_errors(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        session_id: str | None = None,
        limit: int = 100,
    ) -> list[ErrorRecord]:
        return await self.backend.list_errors(
            since=since, until=until, session_id=session_id, limit=limit
        )

    async def count_active(self) -> int:
        return await self.backend.count_active()

    async def percentiles(
        self, metric: str, since: float, until: float | None = None
    ) -> Percentiles:
        return await self.backend.percentiles(metric, since, until)

    async def get_memory(self, identity: str) -> MemoryRecord | None:
        """Straight from the backend: a ``remember`` still buffered is not seen yet."""
        return await self.backend.get_memory(identity)

    async def forget(self, identity: str) -> bool:
        """Flushes first (bounded by ``write_timeout``), so that a ``remember`` still in the
        buffer cannot bring the memory back after it is forgotten."""
        await self.flush(self._write_timeout)
        return await self.backend.forget(identity)

    async def delete_session(self, session_id: str) -> bool:
        return await self.backend.delete_session(session_id)

    # A saved version is acknowledged to a person: written through, never buffered.
    async def add_agent_version(self, version: AgentVersion) -> AgentVersion:
        return await self.backend.add_agent_version(version)

    async def agent_versions(self, agent: str, limit: int = 50) -> list[AgentVersion]:
        return await self.backend.agent_versions(agent, limit)

    async def get_agent_version(self, agent: str, number: int) -> AgentVersion | None:
        return await self.backend.get_agent_version(agent, number)

    async def apply_retention(
        self,
        *,
        max_age_days: float | None = None,
        max_sessions: int | None = None,
        now: float | None = None,
    ) -> int:
        return await self.backend.apply_retention(
            max_age_days=max_age_days, max_sessions=max_sessions, now=now
        )

    def is_transient(self, exc: BaseException) -> bool:
        return self.backend.is_transient(exc)
