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
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from types import TracebackType
from typing import Any, ParamSpec, Unpack

from .base import (
    MemoryRecord,
    Store,
    check_outcome,
    memory_patch,
)
from .interfaces import MemoryUpdate
from .observers import Observers
from .records import (
    ErrorRecord,
    Outcome,
    SessionEnd,
    SessionRecord,
    TranscriptEntry,
    TurnRecord,
)
from .write_queue import WriteQueue

P = ParamSpec("P")


def _buffered(nowait: Callable[P, bool]) -> Callable[P, Coroutine[Any, Any, None]]:
    async def write(*args: P.args, **kwargs: P.kwargs) -> None:
        nowait(*args, **kwargs)

    write.__name__ = nowait.__name__.removesuffix("_nowait")
    write.__doc__ = f":meth:`{nowait.__name__}` for async callers."
    return write


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
        # Reads, and the writes a person waits for (a saved agent version is acknowledged
        # to someone), go straight to the backend: a write still buffered is not seen yet.
        self.get_session = backend.get_session
        self.list_sessions = backend.list_sessions
        self.turns_between = backend.turns_between
        self.list_errors = backend.list_errors
        self.count_active = backend.count_active
        self.percentiles = backend.percentiles
        self.get_memory = backend.get_memory
        self.delete_session = backend.delete_session
        self.add_agent_version = backend.add_agent_version
        self.agent_versions = backend.agent_versions
        self.get_agent_version = backend.get_agent_version
        self.apply_retention = backend.apply_retention
        self.is_transient = backend.is_transient
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

    def remember_nowait(self, identity: str, **update: Unpack[MemoryUpdate]) -> bool:
        """:meth:`Store.remember`, buffered; ``updated_at`` is now, not when it is written."""
        patch, keep = memory_patch(identity, update)
        return self._put(self._remember, patch, keep)

    async def _remember(self, patch: MemoryRecord, keep: int) -> None:
        await self.backend.remember(
            patch.identity,
            facts=patch.facts,
            exchanges=patch.exchanges,
            keep=keep,
            at=patch.updated_at,
        )

    # The interface's async writes: the same calls, returning once the record is buffered.
    start_session = _buffered(start_session_nowait)
    end_session = _buffered(end_session_nowait)
    add_turn = _buffered(add_turn_nowait)
    add_transcript_entry = _buffered(add_transcript_entry_nowait)
    annotate_session = _buffered(annotate_session_nowait)
    add_error = _buffered(add_error_nowait)
    remember = _buffered(remember_nowait)

    async def forget(self, identity: str) -> bool:
        """Flushes first (bounded by ``write_timeout``), so that a ``remember`` still in the
        buffer cannot bring the memory back after it is forgotten."""
        await self.flush(self._write_timeout)
        return await self.backend.forget(identity)
