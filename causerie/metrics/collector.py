"""One session's recorder: a :class:`SessionCollector` writes a :class:`SessionRecord` when
attached, the turns and transcript a :class:`~causerie.metrics.turns.TurnAssembler` hands
it, and :class:`ErrorRecord` s (:mod:`.errors`) into a :class:`RecordSink` (a
:class:`~causerie.store.BufferedStore`, whose observers, Prometheus and the live feed, see
every record). Every handler runs synchronously on the event loop and only appends to the
sink's buffer, so the voice path never waits on the store.

Transcript entries are handed to the store with their turn, when the reply is done: the
store's drain then works between turns, not while the next reply is being made.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from livekit.agents.voice import AgentSession
from livekit.agents.voice.events import AgentStateChangedEvent, CloseEvent

from ..store.records import ErrorRecord, Outcome, SessionRecord, TranscriptEntry, TurnRecord
from .errors import SessionErrors
from .providers import describe_providers, provider_label
from .turns import TurnAssembler

logger = logging.getLogger(__name__)

__all__ = [
    "RecordSink",
    "SessionCollector",
    "attach_metrics",
    "describe_providers",
    "provider_label",
]


class RecordSink(Protocol):
    """What a collector writes to; :class:`~causerie.store.BufferedStore` is one."""

    def start_session_nowait(self, session: SessionRecord) -> bool: ...

    # Only what a collector passes: the session ends when it says so (no ``ended_at``).
    def end_session_nowait(
        self, session_id: str, outcome: Outcome = "completed", error: str | None = None
    ) -> bool: ...

    def add_turn_nowait(self, turn: TurnRecord) -> bool: ...

    def add_transcript_entry_nowait(self, session_id: str, entry: TranscriptEntry) -> bool: ...

    def annotate_session_nowait(self, session_id: str, annotations: Mapping[str, Any]) -> bool: ...

    def add_error_nowait(self, error: ErrorRecord) -> bool: ...


LiveListener = Callable[[dict[str, Any]], None]


class SessionCollector:
    """Records one session. Create it, :meth:`attach` it to the ``AgentSession`` just before
    ``session.start()``, and it finishes by itself on the session's ``close`` event (or call
    :meth:`close`). Not thread-safe: use it on the session's event loop."""

    def __init__(
        self,
        sink: RecordSink,
        *,
        session_id: str,
        transport: str,
        agent_name: str,
        providers: Mapping[str, str] | None = None,
        on_live: LiveListener | None = None,
    ) -> None:
        self.sink = sink
        self.session_id = session_id
        self.transport = transport
        self.agent_name = agent_name
        self.providers: dict[str, str] = dict(providers or {})
        self.on_live = on_live
        """Gets ``{"type": "agent_state", ...}`` dicts for a live view (not stored)."""
        self.agent_state = "initializing"
        self.turns = 0
        self.errors = 0
        self.closed = False
        self.assembler: TurnAssembler | None = None
        self._errors: SessionErrors | None = None
        self._session: AgentSession[Any] | None = None

    def __repr__(self) -> str:
        return f"SessionCollector({self.session_id!r}, {self.transport!r})"

    # -- lifecycle ------------------------------------------------------------------------

    def attach(self, session: AgentSession[Any], turns: TurnAssembler | None = None) -> None:
        """Record ``session``: its turns come from ``turns`` (the session's one assembler,
        shared with the client's event mapping) or, without one, from an assembler of its
        own. Call it in the task that then calls ``session.start()``."""
        if self._session is not None:
            raise RuntimeError(f"{self!r} is already attached")
        self._session = session
        if turns is None:
            turns = TurnAssembler(session_id=self.session_id)
        turns.attach(session)
        turns.listeners.append(self._on_turn)
        self.assembler = turns
        if not self.providers:
            self.providers = describe_providers(session)
        self._errors = SessionErrors(turns, self._record_error)
        self._errors.attach(session)
        session.on("agent_state_changed", self._on_agent_state)
        session.on("close", self._on_close)
        self.sink.start_session_nowait(
            SessionRecord(
                id=self.session_id,
                started_at=time.time(),
                transport=self.transport,
                agent_name=self.agent_name,
                providers=dict(self.providers),
            )
        )

    def detach(self) -> None:
        """Unsubscribe from the session (done by :meth:`close`)."""
        session, self._session = self._session, None
        if session is None:
            return
        session.off("agent_state_changed", self._on_agent_state)
        session.off("close", self._on_close)
        if self._errors is not None:
            self._errors.detach()
        if self.assembler is not None and self._on_turn in self.assembler.listeners:
            self.assembler.listeners.remove(self._on_turn)

    def close(self, outcome: Outcome = "completed", error: str | None = None) -> None:
        """Write what is pending and end the session record. Idempotent: the first call
        decides the outcome (a transport that knows the user hung up calls it first)."""
        if self.closed:
            return
        if self.assembler is not None:  # the replies still going on become turns
            self._write_entries(self.assembler.flush())
        self.closed = True
        self.sink.end_session_nowait(self.session_id, outcome, error)
        self.detach()

    # -- from the transport and the agent ----------------------------------------------

    def report_voice_to_voice(self, seconds: float | None) -> None:
        """The transport's measured voice-to-voice for the reply being played or just done
        (see :meth:`TurnAssembler.report_voice_to_voice`)."""
        if not self.closed and self.assembler is not None:
            self.assembler.report_voice_to_voice(seconds)

    def on_fault(self, component: str, error: BaseException) -> None:
        """A :class:`~causerie.agent.faults.Faults` observer (see :mod:`.errors`)."""
        if self._errors is not None:
            self._errors.on_fault(component, error)
        else:
            self._record_error(component, f"{type(error).__name__}: {error}", None)

    def record_error(self, component: str, message: str, provider: str | None = None) -> None:
        """An error seen outside the session's events (a transport drop, a plugin)."""
        self._record_error(component, message, provider)

    def annotate(self, annotations: Mapping[str, Any]) -> None:
        """Merge JSON-safe annotations into the session record (e.g. a plugin's verdict)."""
        self.sink.annotate_session_nowait(self.session_id, dict(annotations))

    # -- records --------------------------------------------------------------------------

    def _record_error(self, component: str, message: str, provider: str | None) -> None:
        self.errors += 1
        self.sink.add_error_nowait(
            ErrorRecord(
                component=component,
                message=message,
                session_id=self.session_id,
                provider=provider or self.providers.get(component),
            )
        )
        if self.assembler is not None:
            self.assembler.note_error(f"{component}: {message}")

    def _write_entries(self, entries: list[TranscriptEntry]) -> None:
        for entry in entries:
            self.sink.add_transcript_entry_nowait(self.session_id, entry)

    def _on_turn(self, turn: TurnRecord, entries: list[TranscriptEntry]) -> None:
        if self.closed:
            return
        self._write_entries(entries)
        self.turns += 1
        self.sink.add_turn_nowait(
            dataclasses.replace(turn, session_id=self.session_id, index=self.turns)
        )

    def _on_agent_state(self, ev: AgentStateChangedEvent) -> None:
        self.agent_state = ev.new_state
        if self.on_live is not None:
            self.on_live(
                {
                    "type": "agent_state",
                    "session_id": self.session_id,
                    "state": ev.new_state,
                    "at": ev.created_at or time.time(),
                }
            )

    def _on_close(self, ev: CloseEvent) -> None:
        if ev.error is not None:
            inner = getattr(ev.error, "error", None) or ev.error
            self.close("error", f"{type(inner).__name__}: {inner}")
        elif ev.reason == "participant_disconnected":
            self.close("user_left")
        else:
            self.close("completed")


def attach_metrics(
    session: AgentSession[Any],
    userdata: Any,
    collector: SessionCollector,
    *,
    faults: Any = None,
    turns: TurnAssembler | None = None,
) -> Callable[[], None]:
    """Wire ``collector`` to a session the way every transport needs it:

    * the ``AgentSession``'s turns (:meth:`SessionCollector.attach`), from ``turns``, the
      session's assembler when the transport has one (the client's event mapping does);
    * ``userdata.events`` (a :class:`~causerie.events.EventChannel`, when present): a
      transport's ``turn_metrics`` event carries its measured ``voice_to_voice`` (where the
      assembler does not pull it itself), and plugins' ``session_annotations`` (e.g.
      sentiment) go into the session record;
    * ``faults`` (a :class:`~causerie.agent.faults.Faults`, optional): faults the agent
      turned into an apology become error records.

    Call it in the task that then calls ``session.start()``. Returns a function that
    unhooks the event channel and the faults (the session's events unhook on close).
    """
    collector.attach(session, turns)
    pushes = turns is None  # a shared assembler's own turn_metrics must not come back in
    undo: list[Callable[[], None]] = []
    events = getattr(userdata, "events", None)
    if events is not None:

        def on_event(ev: dict[str, Any]) -> None:
            kind = ev.get("type")
            if kind == "turn_metrics" and pushes:
                collector.report_voice_to_voice(ev.get("voice_to_voice"))
            elif kind == "session_annotations" and isinstance(ev.get("annotations"), dict):
                collector.annotate(ev["annotations"])

        undo.append(events.subscribe(on_event))
    if faults is not None:
        faults.observers.append(collector.on_fault)
        undo.append(lambda: faults.observers.remove(collector.on_fault))

    def detach() -> None:
        for fn in undo:
            try:
                fn()
            except ValueError:  # already removed
                pass

    return detach
