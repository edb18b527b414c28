"""What each part of Causerie needs from a store, as narrow interfaces (``typing.Protocol``).

A backend (:class:`~causerie.store.base.Store`: SQLite, Redis) offers all of them.
:class:`~causerie.store.buffered.BufferedStore` wraps a backend and offers them too, with
buffered writes. Ask for the narrowest one:

==================  =====================================================  ===============
interface           what                                                   who
==================  =====================================================  ===============
``RecordWriter``    sessions, turns, transcript entries, errors (writes)   collectors
``RecordReader``    the same records, read back (and deleted on request)   dashboard, API
``MemoryStore``     what is remembered per user identity                   plugins
``AgentHistory``    the saved versions of agent definitions                studio API
``Retention``       ageing records out                                     retention task
==================  =====================================================  ===============

When a write is durable depends on who takes it: a backend's write is durable when its
call returns; a ``BufferedStore``'s only once its drain task wrote it (see its docs).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypedDict, Unpack, runtime_checkable

if TYPE_CHECKING:  # annotations only
    from . import records
    from .base import AgentVersion, MemoryRecord, SessionPage

DEFAULT_KEEP = 20
"""How many memory exchanges :meth:`MemoryStore.remember` keeps per identity by default."""


class SessionQuery(TypedDict, total=False):
    """What :meth:`RecordReader.list_sessions` takes, by keyword: a page (``limit``, default
    50, at most 500; ``offset``, default 0) and filters, each off when ``None``."""

    limit: int
    offset: int
    transport: str | None
    outcome: str | None
    agent_name: str | None
    since: float | None
    until: float | None
    text: str | None
    """Words in the session's transcript."""


class MemoryUpdate(TypedDict, total=False):
    """What :meth:`MemoryStore.remember` takes, by keyword (see there)."""

    facts: Mapping[str, Any] | None
    exchanges: Sequence[records.TranscriptEntry] | None
    keep: int
    """Default :data:`DEFAULT_KEEP`."""
    at: float | None
    """Default now."""


@runtime_checkable
class RecordWriter(Protocol):
    """Writes of what happened in sessions. ``start_session`` is an upsert; a write for a
    session never started (or deleted) is ignored; ``add_turn`` is idempotent per
    ``(session_id, index)``."""

    transcripts: bool
    """False: no user or agent text is kept (turn texts, transcript entries, tool-call
    arguments are dropped before they reach the backend)."""

    @abc.abstractmethod
    async def start_session(self, session: records.SessionRecord) -> None: ...

    async def end_session(
        self,
        session_id: str,
        outcome: records.Outcome = ...,
        error: str | None = ...,
        *,
        ended_at: float | None = ...,
    ) -> None:
        """Mark a session ended: ``outcome`` (default ``"completed"``), ``error`` (default
        none), ``ended_at`` (default now)."""

    @abc.abstractmethod
    async def add_turn(self, turn: records.TurnRecord) -> None: ...

    @abc.abstractmethod
    async def add_transcript_entry(
        self, session_id: str, entry: records.TranscriptEntry
    ) -> None: ...

    @abc.abstractmethod
    async def annotate_session(self, session_id: str, annotations: Mapping[str, Any]) -> None:
        """Merge ``annotations`` into the session's, key by key (a key is replaced whole)."""

    @abc.abstractmethod
    async def add_error(self, error: records.ErrorRecord) -> None: ...


@runtime_checkable
class RecordReader(Protocol):
    """Reads of the records. Time windows are half-open, ``since <= t < until``; lists come
    newest first, turns oldest first. ``delete_session`` is here because whoever reads a
    session (the dashboard, the API) is who may delete it."""

    @abc.abstractmethod
    async def get_session(self, session_id: str) -> records.SessionRecord | None:
        """The session with its turns (by index) and transcript (in order), or ``None``."""

    async def list_sessions(self, **query: Unpack[SessionQuery]) -> SessionPage:
        """Session summaries (no turns, no transcript), newest first."""

    @abc.abstractmethod
    async def turns_between(
        self, since: float, until: float | None = None, *, limit: int | None = None
    ) -> list[records.TurnRecord]:
        """Turns that started in ``[since, until)``, oldest first."""

    async def list_errors(
        self,
        *,
        since: float | None = ...,
        until: float | None = ...,
        session_id: str | None = ...,
        limit: int = ...,
    ) -> list[records.ErrorRecord]:
        """Errors, newest first: in ``[since, until)`` and of ``session_id`` when given, at
        most ``limit`` (default 100)."""

    @abc.abstractmethod
    async def count_active(self) -> int:
        """Sessions whose outcome is still ``"active"``."""

    async def percentiles(
        self, metric: str, since: float, until: float | None = None
    ) -> records.Percentiles:
        """p50/p90/p99 of a per-turn metric (see ``TURN_METRICS``) over a time window."""

    @abc.abstractmethod
    async def delete_session(self, session_id: str) -> bool:
        """Delete a session, its turns, transcript and errors; ``False`` if unknown."""

    def is_transient(self, exc: BaseException) -> bool:
        """Whether a failed call may succeed later (backend down) rather than never."""
        ...


@runtime_checkable
class MemoryStore(Protocol):
    """What is remembered per user identity, apart from sessions (deleting a session or
    retention leaves it alone)."""

    @abc.abstractmethod
    async def get_memory(self, identity: str) -> MemoryRecord | None:
        """What is remembered of ``identity``, or ``None`` if nothing is."""

    async def remember(self, identity: str, **update: Unpack[MemoryUpdate]) -> None:
        """Merge ``facts`` into the identity's, key by key (a key is replaced whole; a key
        set to ``None`` is removed), append ``exchanges`` and keep only the last ``keep``
        (0: none), in one atomic write; ``at`` (default now) becomes ``updated_at``.

        With ``transcripts=False`` the exchanges are dropped: they are what was said. Facts
        are kept: they are the few values the user asked to be remembered (through the
        memory tool), which is the point of the feature. A write with no facts and no
        exchange left does nothing."""

    @abc.abstractmethod
    async def forget(self, identity: str) -> bool:
        """Delete everything remembered of ``identity``; ``False`` if nothing was."""


@runtime_checkable
class AgentHistory(Protocol):
    """The saved versions of agent definitions (never aged out)."""

    @abc.abstractmethod
    async def add_agent_version(self, version: AgentVersion) -> AgentVersion:
        """Append a version (its ``number`` is ignored); returns it with its number."""

    @abc.abstractmethod
    async def agent_versions(self, agent: str, limit: int = 50) -> list[AgentVersion]:
        """The agent's versions, newest first."""

    @abc.abstractmethod
    async def get_agent_version(self, agent: str, number: int) -> AgentVersion | None: ...


@runtime_checkable
class Retention(Protocol):
    async def apply_retention(
        self,
        *,
        max_age_days: float | None = ...,
        max_sessions: int | None = ...,
        now: float | None = ...,
    ) -> int:
        """Delete sessions that started more than ``max_age_days`` ago (errors too), then
        the oldest sessions beyond ``max_sessions``. Returns how many sessions went. Each
        is off when ``None`` (the default); ``now`` defaults to the time of the call."""
