"""A store wrapper that the voice path can call without ever waiting on a backend.

Writes go into a bounded in-memory buffer (a deque append: about a microsecond) and one
background task replays them on the backend in order. When the backend fails with an error
it may recover from (Redis down, SQLite locked or unreachable), the write stays at the head
of the buffer and is retried with exponential backoff while new writes queue behind it. Past
``max_pending`` new writes are dropped and counted. A write the backend refuses for good
(a bad record) is dropped at once, so it cannot block the ones behind it. Reads go straight
to the backend, and so do deletes (``delete_session``, ``forget``).

Counters for the server's /metrics: ``pending``, ``written``, ``failures`` (failed
attempts), ``dropped``, ``healthy`` and ``last_error``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from ..metrics.observers import Observers
from ..metrics.records import (
    ErrorRecord,
    Outcome,
    SessionEnd,
    SessionRecord,
    TranscriptEntry,
    TurnRecord,
)
from .base import (
    DEFAULT_KEEP,
    AgentVersion,
    MemoryRecord,
    SessionFilter,
    Store,
    check_memory_args,
    check_outcome,
)

logger = logging.getLogger(__name__)

_Write = tuple[Callable[..., Awaitable[Any]], tuple[Any, ...]]


class BufferedStore(Store):
    """Call the ``*_nowait`` methods from sync callbacks on the event loop's thread; the
    async write methods do the same thing for async callers. Records handed over belong to
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
        self.max_pending = max_pending
        self.observers = observers
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._write_timeout = write_timeout
        self._buf: deque[_Write] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._dropping = False
        self.written = 0
        self.failures = 0
        self.dropped = 0
        self.healthy = True
        self.last_error: str | None = None

    def __repr__(self) -> str:
        return f"BufferedStore({self.backend!r})"

    @property
    def pending(self) -> int:
        return len(self._buf)

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Start the drain task (done by the first write otherwise). Needs a running loop."""
        if self._task is None and not self._closing:
            self._task = asyncio.get_running_loop().create_task(
                self._drain(), name=f"causerie.store.drain[{self.backend!r}]"
            )

    async def open(self) -> None:
        await self.backend.open()
        self.start()

    # A bounded wait is the point of these two (shutdown hooks), hence the parameter.
    async def flush(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Wait until every buffered write reached the backend; ``False`` on timeout."""
        self.start()
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._buf:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.005)
        return True

    async def aclose(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Stop taking writes, flush for up to ``timeout`` seconds, drop what is left,
        close the backend."""
        if self._closing:
            return
        self._closing = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        if self._buf:
            logger.warning(
                "store closed with %d write(s) not flushed to %r; dropped",
                len(self._buf),
                self.backend,
            )
            self.dropped += len(self._buf)
            self._buf.clear()
        await self.backend.close()

    async def close(self) -> None:
        await self.aclose()

    # -- the buffer ---------------------------------------------------------------------

    def _put(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> bool:
        if self._closing or len(self._buf) >= self.max_pending:
            self.dropped += 1
            if not self._dropping:  # once per streak, not once per record
                self._dropping = True
                why = "closed" if self._closing else f"full ({self.max_pending} pending)"
                logger.warning("store buffer %s: dropping writes to %r", why, self.backend)
            return False
        self._dropping = False
        self._buf.append((fn, args))
        if self._task is None:
            self.start()
        self._wake.set()
        return True

    async def _drain(self) -> None:
        delay = self._retry_initial
        while True:
            if not self._buf:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            fn, args = self._buf[0]
            try:
                await asyncio.wait_for(fn(*args), self._write_timeout)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.failures += 1
                error, self.last_error = self.last_error, f"{type(exc).__name__}: {exc}"
                if not self.backend.is_transient(exc):
                    self._buf.popleft()
                    self.dropped += 1
                    if error != self.last_error:  # not once per record of a broken backend
                        logger.error("store refused a write (%s); dropped it", self.last_error)
                    continue
                if self.healthy:
                    logger.warning(
                        "store %r failing (%s); buffering writes", self.backend, self.last_error
                    )
                    self.healthy = False
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max)
                continue
            self._buf.popleft()
            self.written += 1
            if not self.healthy:
                logger.warning("store %r recovered; %d pending", self.backend, len(self._buf))
                self.healthy = True
            delay = self._retry_initial

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

    async def _list_sessions(
        self, flt: SessionFilter, limit: int, offset: int
    ) -> tuple[list[SessionRecord], int]:
        return await self.backend._list_sessions(flt, limit, offset)

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

    async def _apply_retention(self, cutoff: float | None, max_sessions: int | None) -> int:
        return await self.backend._apply_retention(cutoff, max_sessions)

    def is_transient(self, exc: BaseException) -> bool:
        return self.backend.is_transient(exc)
