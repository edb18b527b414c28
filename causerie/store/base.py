"""The base class of the store backends (SQLite, Redis): each offers every interface of
:mod:`causerie.store.interfaces` (records written and read, memory, agent versions), and
:class:`~causerie.store.buffered.BufferedStore` wraps one.

Semantics shared by all backends (the contract tests in ``tests/integration/test_store.py``
check them on each one):

* ``start_session`` is an upsert; every other write for a session that was never started,
  or was deleted, is ignored, so a late record cannot resurrect a deleted session.
* ``add_turn`` is idempotent per ``(session_id, index)``: writing it again replaces it, so
  a retried write cannot duplicate a turn.
* A backend's write is durable when its call returns (committed / executed), one record at
  a time. (Through a ``BufferedStore`` it is not: see there.)
* Time windows are half-open, ``since <= t < until``; sessions and turns are placed in time
  by ``started_at``, errors by ``at``. Lists come newest first, turns oldest first.
* With ``transcripts=False`` no user or agent text is stored: turn texts, transcript
  entries, tool-call arguments and memory exchanges are dropped before they reach the
  backend. Memory facts are kept (see :meth:`Store.remember`).
* Memory (``get_memory``, ``remember``, ``forget``) is kept per user identity, apart from
  sessions: deleting a session or applying retention leaves it alone.
"""

from __future__ import annotations

import abc
import asyncio
import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Unpack

from .interfaces import (
    DEFAULT_KEEP,
    AgentHistory,
    MemoryStore,
    MemoryUpdate,
    RecordReader,
    RecordWriter,
    Retention,
    SessionQuery,
)
from .records import (
    OUTCOMES,
    ErrorRecord,
    Outcome,
    Percentiles,
    SessionRecord,
    TranscriptEntry,
    TurnRecord,
    turn_percentiles,
)

logger = logging.getLogger(__name__)

MAX_PAGE = 500


@dataclass(frozen=True, slots=True)
class SessionFilter:
    """Filters of :meth:`Store.list_sessions`; ``None`` means "any"."""

    transport: str | None = None
    outcome: str | None = None
    agent_name: str | None = None
    since: float | None = None
    until: float | None = None
    text: str | None = None
    """Case-insensitive substring of any transcript entry."""

    def matches(self, s: SessionRecord) -> bool:
        """Everything but ``text``, which backends check against the stored transcript."""
        return (
            (self.transport is None or s.transport == self.transport)
            and (self.outcome is None or s.outcome == self.outcome)
            and (self.agent_name is None or s.agent_name == self.agent_name)
            and (self.since is None or s.started_at >= self.since)
            and (self.until is None or s.started_at < self.until)
        )


@dataclass(slots=True)
class SessionPage:
    items: list[SessionRecord]
    total: int
    """How many sessions match the filters, over all pages."""
    limit: int
    offset: int
    filters: SessionFilter = field(default_factory=SessionFilter)

    @property
    def next_offset(self) -> int | None:
        nxt = self.offset + len(self.items)
        return nxt if nxt < self.total else None


@dataclass(slots=True)
class MemoryRecord:
    """What is remembered of one user identity across sessions (:meth:`Store.get_memory`)."""

    identity: str
    facts: dict[str, Any] = field(default_factory=dict)
    """What the user told about themselves (name, preferences...): JSON values by key."""
    exchanges: list[TranscriptEntry] = field(default_factory=list)
    """The last exchanges, oldest first, at most the ``keep`` of the last write."""
    updated_at: float = 0.0
    """When :meth:`Store.remember` last wrote it."""


@dataclass(frozen=True, slots=True)
class AgentVersion:
    """One saved version of an agent definition (the studio's history): the whole file as
    saved, who saved it, when, and the diff from the file before."""

    agent: str
    number: int
    """1, 2, ... per agent, in the order saved (given by the store)."""
    at: float
    author: str
    text: str
    diff: str = ""
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AgentVersion:
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d})


def check_keywords(typed: Any, given: Mapping[str, object]) -> None:
    """A keyword the ``TypedDict`` ``typed`` lacks is a caller's mistake, not a no-op."""
    unknown = set(given) - set(typed.__optional_keys__)
    if unknown:
        allowed = ", ".join(sorted(typed.__optional_keys__))
        raise TypeError(f"unexpected keyword(s) {', '.join(sorted(unknown))}; allowed: {allowed}")


def memory_patch(identity: str, update: MemoryUpdate) -> tuple[MemoryRecord, int]:
    """:meth:`Store.remember`'s arguments, checked: the patch (``updated_at`` set) and
    ``keep``."""
    check_keywords(MemoryUpdate, update)
    if not identity:
        raise ValueError("a memory identity must be a non-empty string")
    keep = update.get("keep", DEFAULT_KEEP)
    if keep < 0:
        raise ValueError(f"keep must be >= 0, got {keep}")
    at = update.get("at")
    facts, exchanges = dict(update.get("facts") or {}), list(update.get("exchanges") or [])
    return MemoryRecord(identity, facts, exchanges, time.time() if at is None else at), keep


class Store(RecordWriter, RecordReader, MemoryStore, AgentHistory, Retention, abc.ABC):
    """A backend: async persistence for sessions, turns, transcripts, errors, memory per
    identity and agent versions. Callers ask for the narrower interface they need
    (:class:`~causerie.store.interfaces.RecordWriter`, ``RecordReader``, ``MemoryStore``,
    ``AgentHistory``); this class implements all of them, so their methods' signatures and
    docs are theirs. It checks the arguments of the public methods once and leaves the
    storage to the backends' ``_``-prefixed hooks and the interfaces' abstract methods.

    Backends do no I/O in ``__init__``: they connect on first use, or at ``await open()``
    when a caller wants configuration errors at startup. ``async with store:`` opens and
    closes.
    """

    transcripts: bool = True

    async def open(self) -> None:
        """Connect (and migrate) now instead of on first use."""

    async def __aenter__(self) -> Store:
        await self.open()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # -- writes -------------------------------------------------------------------------

    async def end_session(
        self,
        session_id: str,
        outcome: Outcome = "completed",
        error: str | None = None,
        *,
        ended_at: float | None = None,
    ) -> None:
        check_outcome(outcome)
        await self._end_session(
            session_id, outcome, error, time.time() if ended_at is None else ended_at
        )

    @abc.abstractmethod
    async def _end_session(
        self, session_id: str, outcome: Outcome, error: str | None, at: float
    ) -> None: ...

    # -- memory per user identity --------------------------------------------------------

    async def remember(self, identity: str, **update: Unpack[MemoryUpdate]) -> None:
        patch, keep = memory_patch(identity, update)
        patch.exchanges = self._scrub_exchanges(patch.exchanges)
        if patch.facts or patch.exchanges:
            await self._remember(patch, keep)

    @abc.abstractmethod
    async def _remember(self, patch: MemoryRecord, keep: int) -> None:
        """:meth:`remember` once checked: the exchanges scrubbed, ``updated_at`` set; a
        fact set to ``None`` is to be removed."""

    # -- reads --------------------------------------------------------------------------

    async def list_sessions(self, **query: Unpack[SessionQuery]) -> SessionPage:
        check_keywords(SessionQuery, query)
        limit, offset = query.get("limit", 50), query.get("offset", 0)
        if not 1 <= limit <= MAX_PAGE:
            raise ValueError(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
        if offset < 0:
            raise ValueError(f"offset must be >= 0, got {offset}")
        flt = SessionFilter(
            query.get("transport"),
            query.get("outcome"),
            query.get("agent_name"),
            query.get("since"),
            query.get("until"),
            query.get("text") or None,
        )
        items, total = await self._list_sessions(flt, limit, offset)
        return SessionPage(items, total, limit, offset, flt)

    @abc.abstractmethod
    async def _list_sessions(
        self, flt: SessionFilter, limit: int, offset: int
    ) -> tuple[list[SessionRecord], int]: ...

    async def list_errors(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        session_id: str | None = None,
        limit: int = 100,
    ) -> list[ErrorRecord]:
        return await self._list_errors(since, until, session_id, limit)

    @abc.abstractmethod
    async def _list_errors(
        self, since: float | None, until: float | None, session_id: str | None, limit: int
    ) -> list[ErrorRecord]: ...

    async def percentiles(
        self, metric: str, since: float, until: float | None = None
    ) -> Percentiles:
        return turn_percentiles(await self.turns_between(since, until), metric)

    # -- housekeeping -------------------------------------------------------------------

    async def apply_retention(
        self,
        *,
        max_age_days: float | None = None,
        max_sessions: int | None = None,
        now: float | None = None,
    ) -> int:
        if max_age_days is not None and max_age_days < 0:
            raise ValueError("max_age_days must be >= 0")
        if max_sessions is not None and max_sessions < 0:
            raise ValueError("max_sessions must be >= 0")
        cutoff = None
        if max_age_days is not None:
            cutoff = (time.time() if now is None else now) - max_age_days * 86400.0
        return await self._apply_retention(cutoff, max_sessions)

    @abc.abstractmethod
    async def _apply_retention(self, cutoff: float | None, max_sessions: int | None) -> int: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    def is_transient(self, exc: BaseException) -> bool:
        """Whether a failed write may succeed later (backend down) rather than never (bad
        record). :class:`BufferedStore` retries the first kind and drops the second."""
        return isinstance(exc, OSError | ConnectionError | TimeoutError)

    # -- helpers for backends -----------------------------------------------------------

    def _scrub_turn(self, turn: TurnRecord) -> TurnRecord:
        if self.transcripts:
            return turn
        return dataclasses.replace(
            turn,
            user_text=None,
            agent_text=None,
            tool_calls=[dataclasses.replace(t, arguments="{}") for t in turn.tool_calls],
        )

    def _scrub_exchanges(
        self, exchanges: Sequence[TranscriptEntry] | None
    ) -> list[TranscriptEntry]:
        return list(exchanges or []) if self.transcripts else []

    def _scrub_session(self, session: SessionRecord) -> SessionRecord:
        if self.transcripts:
            return session
        return dataclasses.replace(session, transcript=[])


def check_outcome(outcome: str) -> None:
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}; expected one of {', '.join(OUTCOMES)}")


async def retention_loop(
    store: Retention,
    *,
    max_age_days: float | None,
    max_sessions: int | None,
    interval: float = 3600.0,
) -> None:
    """Apply retention now and every ``interval`` seconds until cancelled. Run it as a
    named task owned by the server; a failure is logged and retried at the next tick."""
    if max_age_days is None and max_sessions is None:
        return
    while True:
        try:
            n = await store.apply_retention(max_age_days=max_age_days, max_sessions=max_sessions)
            if n:
                logger.info("retention deleted %d session(s)", n)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("store retention failed; retrying in %.0f s", interval)
        await asyncio.sleep(interval)
