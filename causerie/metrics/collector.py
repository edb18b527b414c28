"""One session's recorder: livekit ``AgentSession`` events in, records out.

A :class:`SessionCollector` subscribes to one session and writes a :class:`SessionRecord`
when attached, a :class:`TurnRecord` per reply, transcript entries and :class:`ErrorRecord`
s into a :class:`RecordSink` (a :class:`~causerie.store.BufferedStore`, whose observers
see every record). Every handler runs synchronously on the event loop and only appends to
the sink's buffer, so the voice path never waits on the store.

How a turn is put together. livekit gives each agent reply a ``SpeechHandle``
(``speech_created``); a turn is one reply plus the user message it answers:

* ``metrics_collected``: EOU, LLM and TTS metrics carry the reply's ``speech_id``;
* the user message (``conversation_item_added``) belongs to the reply named by the EOU
  metrics just before it, else (typed input) to the newest ``generate_reply`` speech;
* the turn is written when the speech is done (one loop pass later, so a transport's own
  done callback can report first): its assistant text, function calls and outputs come
  from ``SpeechHandle.chat_items``;
* voice-to-voice comes from the transport (:meth:`SessionCollector.report_voice_to_voice`),
  measured on the audio itself; livekit's ``e2e_latency`` is kept beside it.

Transcript entries are held back and handed to the store with their turn, when the reply is
done: the store's drain then works between turns, not while the next reply is being made.

Sessions in one process share provider objects, and livekit relays a provider's
``metrics_collected`` and ``error`` events to every session using it. LLM/TTS/EOU metrics are
sorted out by ``speech_id``; STT metrics and errors, which have none, by a context variable
set in :meth:`SessionCollector.attach`: livekit's tasks inherit the context of the task that
called ``session.start()``, so attach in that task, just before ``start``.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from .records import ErrorRecord, Outcome, SessionRecord, ToolCall, TranscriptEntry, TurnRecord

logger = logging.getLogger(__name__)

__all__ = [
    "RecordSink",
    "SessionCollector",
    "attach_metrics",
    "describe_providers",
    "provider_label",
]

_OWNER: contextvars.ContextVar[SessionCollector | None] = contextvars.ContextVar(
    "causerie_metrics_owner", default=None
)

_ERROR_COMPONENTS = {
    "LLMError": "llm",
    "STTError": "stt",
    "TTSError": "tts",
    "RealtimeModelError": "llm",
    "InterruptionDetectionError": "vad",
}
_TOOL_TEXT_MAX = 500


class RecordSink(Protocol):
    """What a collector writes to; :class:`~causerie.store.BufferedStore` is one."""

    def start_session_nowait(self, session: SessionRecord) -> bool: ...

    def end_session_nowait(
        self,
        session_id: str,
        outcome: Outcome = "completed",
        error: str | None = None,
        *,
        ended_at: float | None = None,
    ) -> bool: ...

    def add_turn_nowait(self, turn: TurnRecord) -> bool: ...

    def add_transcript_entry_nowait(self, session_id: str, entry: TranscriptEntry) -> bool: ...

    def annotate_session_nowait(self, session_id: str, annotations: Mapping[str, Any]) -> bool: ...

    def add_error_nowait(self, error: ErrorRecord) -> bool: ...


LiveListener = Callable[[dict[str, Any]], None]


@dataclass(slots=True)
class _User:
    text: str
    at: float
    stt_final_delay: float | None = None
    end_of_utterance_delay: float | None = None
    stt_duration: float | None = None
    stt_served: str | None = None


@dataclass(slots=True)
class _Reply:
    """What is known of one agent reply (a livekit SpeechHandle) until it is done."""

    speech_id: str
    source: str
    created_at: float
    handle: Any = None
    user: _User | None = None
    eou_delay: float | None = None
    transcription_delay: float | None = None
    llm_ttft: float | None = None
    llm_duration: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    tts_ttfb: float | None = None
    tts_duration: float | None = None
    voice_to_voice: float | None = None
    served: dict[str, str] = field(default_factory=dict)
    """Stage -> the provider whose metrics came for this reply (a chain's fallback, say)."""
    errors: list[str] = field(default_factory=list)
    done: bool = False
    """The speech is done; the turn is written on the next loop pass."""


def _add(a: float | None, b: float) -> float:
    return b if a is None else a + b


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and value >= 0 else None


def provider_label(provider: str | None, model: str | None) -> str:
    """'openai/gpt-4o-mini': how records name a provider (metrics metadata spell it so)."""
    name = provider or "unknown"
    return f"{name}/{model}" if model and model != "unknown" else name


def _describe(obj: Any) -> str | None:
    if obj is None:
        return None
    if isinstance(obj, str):  # livekit accepts "provider/model" strings for inference
        return obj
    chain = getattr(obj, "chain_labels", None)  # a fallback chain: its first
    if chain:
        return str(chain[0])
    return provider_label(
        getattr(obj, "provider", None) or type(obj).__name__, getattr(obj, "model", None)
    )


def _chains(session: Any) -> dict[str, tuple[str, ...]]:
    """Stage -> its chain's labels, for the stages given as a fallback chain."""
    out = {}
    for kind in ("stt", "llm", "tts"):
        labels = getattr(getattr(session, kind, None), "chain_labels", None)
        if labels:
            out[kind] = tuple(labels)
    return out


def describe_providers(session: Any) -> dict[str, str]:
    """``{"stt": "pocketsphinx/en-us", ...}`` for the stages a session has."""
    out: dict[str, str] = {}
    for kind in ("stt", "llm", "tts", "vad"):
        try:
            desc = _describe(getattr(session, kind, None))
        except Exception:  # a provider property that raises must not stop recording
            desc = None
        if desc:
            out[kind] = desc
    return out


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
        self._session: Any = None
        self._handlers: list[tuple[str, Callable[[Any], None]]] = []
        self._replies: dict[str, _Reply] = {}  # not yet written, oldest first
        self._eou_reply: _Reply | None = None
        self._typed_reply: _Reply | None = None
        self._stt_duration: float | None = None
        self._stt_served: str | None = None
        self.chains: dict[str, tuple[str, ...]] = {}
        """Stage -> its providers in order, where the stage is a fallback chain."""
        self._chain_handlers: list[tuple[str, Callable[[Any], None]]] = []
        self._seen_errors: deque[BaseException] = deque(maxlen=16)
        self._entries: list[TranscriptEntry] = []  # written with the next turn

    def __repr__(self) -> str:
        return f"SessionCollector({self.session_id!r}, {self.transport!r})"

    # -- lifecycle ------------------------------------------------------------------------

    def attach(self, session: Any) -> None:
        """Subscribe to ``session`` and record the session's start. Call it in the task
        that then calls ``session.start()`` (see the module docstring)."""
        if self._session is not None:
            raise RuntimeError(f"{self!r} is already attached")
        self._session = session
        _OWNER.set(self)
        if not self.providers:
            self.providers = describe_providers(session)
        self.chains = _chains(session)
        handlers: list[tuple[str, Callable[[Any], None]]] = [
            ("speech_created", self._on_speech_created),
            ("metrics_collected", self._on_metrics),
            ("conversation_item_added", self._on_item),
            ("function_tools_executed", self._on_tools),
            ("agent_state_changed", self._on_agent_state),
            ("error", self._on_error),
            ("close", self._on_close),
        ]
        for name, cb in handlers:
            _subscribe(session, name, cb)
        self._handlers = handlers
        for kind in self.chains:  # a chain's failing provider is a fault it absorbed
            cb = functools.partial(self._on_availability, kind)
            getattr(session, kind).on(f"{kind}_availability_changed", cb)
            self._chain_handlers.append((kind, cb))
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
        for name, cb in self._handlers:
            try:
                session.off(name, cb)
            except Exception:  # already removed: nothing to undo
                logger.debug("%r: %s handler was already removed", self, name)
        self._handlers = []
        for kind, cb in self._chain_handlers:
            getattr(session, kind).off(f"{kind}_availability_changed", cb)
        self._chain_handlers = []

    def close(self, outcome: Outcome = "completed", error: str | None = None) -> None:
        """Write what is pending and end the session record. Idempotent: the first call
        decides the outcome (a transport that knows the user hung up calls it first)."""
        if self.closed:
            return
        self.closed = True
        for reply in list(self._replies.values()):
            self._finish(reply)
        self._flush_entries()
        self.sink.end_session_nowait(self.session_id, outcome, error)
        self.detach()

    # -- from the transport and the agent ----------------------------------------------

    def report_voice_to_voice(self, seconds: float | None) -> None:
        """The transport's measured voice-to-voice for the reply being played or just done:
        last audible input sample to first audible output sample. Report it at the latest
        in the reply's speech-done callback (``talk`` reports as the reply's message is
        added, the browser transports when its speech is done)."""
        if seconds is None or self.closed or seconds < 0:
            return
        pending = [r for r in reversed(self._replies.values()) if r.voice_to_voice is None]
        target = next((r for r in pending if r.done), None)  # its done callback: the one
        if target is None:
            target = next((r for r in pending if r.user is not None), None)
        if target is None and pending:
            target = pending[0]
        if target is None:
            logger.debug("%r: voice-to-voice %.3f s with no reply to attach to", self, seconds)
            return
        target.voice_to_voice = seconds

    def on_fault(self, component: str, error: BaseException) -> None:
        """A :class:`~causerie.agent.faults.Faults` observer: a fault the agent handled
        (LLM timeout, tool crash). One livekit already reported as an error is not counted
        twice."""
        if any(
            error is e or error.__cause__ is e or error.__context__ is e for e in self._seen_errors
        ):
            return
        self._record_error(component, f"{type(error).__name__}: {error}")

    def record_error(self, component: str, message: str, provider: str | None = None) -> None:
        """An error seen outside the session's events (a transport drop, a plugin)."""
        self._record_error(component, message, provider)

    def annotate(self, annotations: Mapping[str, Any]) -> None:
        """Merge JSON-safe annotations into the session record (e.g. a plugin's verdict)."""
        self.sink.annotate_session_nowait(self.session_id, dict(annotations))

    # -- session events -------------------------------------------------------------------

    def _owns_context(self) -> bool:
        owner = _OWNER.get()
        return owner is None or owner is self

    def _on_speech_created(self, ev: Any) -> None:
        handle = ev.speech_handle
        reply = _Reply(handle.id, ev.source, time.time(), handle)
        self._replies[handle.id] = reply
        if ev.source == "generate_reply":
            self._typed_reply = reply
        handle.add_done_callback(self._on_speech_done)

    def _on_metrics(self, ev: Any) -> None:
        m = ev.metrics
        kind = getattr(m, "type", None)
        if kind == "stt_metrics":
            if self._owns_context():
                self._stt_served = self._served("stt", self._stt_served, m)
                if not getattr(m, "streamed", False):
                    self._stt_duration = _add(self._stt_duration, m.duration)
            return
        reply = self._replies.get(getattr(m, "speech_id", None) or "")
        if reply is None:  # another session's speech (shared provider), or already written
            return
        if kind in ("llm_metrics", "tts_metrics"):
            stage = kind[:3]
            served = self._served(stage, reply.served.get(stage), m)
            if served is not None:
                reply.served[stage] = served
        if kind == "eou_metrics":
            reply.eou_delay = _num(m.end_of_utterance_delay)
            reply.transcription_delay = _num(m.transcription_delay)
            self._eou_reply = reply
        elif kind == "llm_metrics":
            if reply.llm_ttft is None:
                reply.llm_ttft = _num(m.ttft)
            reply.llm_duration = _add(reply.llm_duration, m.duration)
            reply.prompt_tokens = (reply.prompt_tokens or 0) + m.prompt_tokens
            reply.completion_tokens = (reply.completion_tokens or 0) + m.completion_tokens
        elif kind == "tts_metrics":
            if reply.tts_ttfb is None:
                reply.tts_ttfb = _num(m.ttfb)
            reply.tts_duration = _add(reply.tts_duration, m.duration)

    def _on_availability(self, stage: str, ev: Any) -> None:
        """livekit's FallbackAdapter marked a provider down (it failed or timed out)."""
        if ev.available or not self._owns_context():
            return
        failed = _describe(getattr(ev, stage, None)) or "unknown"
        self._record_error(
            stage, f"{failed} failed or timed out; the next in the chain takes over", failed
        )

    def _served(self, stage: str, current: str | None, m: Any) -> str | None:
        """Who served, from the metrics' metadata. Within a chain a fallback's figures win
        over the first's: a recovery probe of the first may report during the same reply."""
        meta = getattr(m, "metadata", None)
        if meta is None or not (meta.model_provider or meta.model_name):
            return current
        label = provider_label(meta.model_provider, meta.model_name)
        chain = self.chains.get(stage)
        if current is not None and chain and current != chain[0]:
            return current
        return label

    def _on_item(self, ev: Any) -> None:
        item = ev.item
        if getattr(item, "type", None) != "message" or item.role not in ("user", "assistant"):
            return
        text = item.text_content or ""
        if text:
            self._entries.append(TranscriptEntry(item.role, text, time.time()))
        if item.role == "user":
            self._on_user_message(item, text)

    def _on_user_message(self, item: Any, text: str) -> None:
        m: Mapping[str, Any] = item.metrics or {}
        user = _User(
            text=text,
            at=float(m.get("started_speaking_at") or item.created_at),
            stt_final_delay=_num(m.get("transcription_delay")),
            end_of_utterance_delay=_num(m.get("end_of_turn_delay")),
            stt_duration=self._stt_duration,
            stt_served=self._stt_served,
        )
        self._stt_duration = None
        self._stt_served = None
        target = None
        for candidate in (self._eou_reply, self._typed_reply):
            if (
                candidate is not None
                and candidate.user is None
                and candidate.speech_id in self._replies
            ):
                target = candidate
                break
        self._eou_reply = None
        if target is None:  # nothing will answer it (e.g. a plugin stopped the reply)
            self._write_turn(_Reply("", "none", user.at, user=user))
            return
        target.user = user
        if target.transcription_delay is not None and user.stt_final_delay is None:
            user.stt_final_delay = target.transcription_delay
        if target.eou_delay is not None and user.end_of_utterance_delay is None:
            user.end_of_utterance_delay = target.eou_delay

    def _on_tools(self, ev: Any) -> None:
        for call, out in zip(ev.function_calls, ev.function_call_outputs, strict=False):
            output = str(getattr(out, "output", ""))[:_TOOL_TEXT_MAX]
            entry = f"{call.name}({call.arguments}) -> {output}"
            self._entries.append(TranscriptEntry("tool", entry, time.time()))
            if getattr(out, "is_error", False):
                self._record_error("tool", f"{call.name}: {output}", provider=call.name)

    def _on_agent_state(self, ev: Any) -> None:
        self.agent_state = ev.new_state
        if self.on_live is not None:
            self.on_live(
                {
                    "type": "agent_state",
                    "session_id": self.session_id,
                    "state": ev.new_state,
                    "at": getattr(ev, "created_at", None) or time.time(),
                }
            )

    def _on_error(self, ev: Any) -> None:
        if not self._owns_context():  # a shared provider's error from another session
            return
        err = ev.error
        inner = getattr(err, "error", None) or err
        if isinstance(inner, BaseException):
            self._seen_errors.append(inner)
        component = _ERROR_COMPONENTS.get(type(err).__name__, "pipeline")
        suffix = "" if getattr(err, "recoverable", True) else " (unrecoverable)"
        self._record_error(component, f"{type(inner).__name__}: {inner}{suffix}")

    def _on_close(self, ev: Any) -> None:
        reason = str(getattr(getattr(ev, "reason", None), "value", getattr(ev, "reason", "")))
        if ev.error is not None:
            inner = getattr(ev.error, "error", None) or ev.error
            self.close("error", f"{type(inner).__name__}: {inner}")
        elif reason == "participant_disconnected":
            self.close("user_left")
        else:
            self.close("completed")

    def _on_speech_done(self, handle: Any) -> None:
        reply = self._replies.get(handle.id)
        if reply is not None:
            # Written on the next loop pass: the transport's own done callback on the same
            # speech (its voice-to-voice) runs in this pass, in an order livekit leaves open.
            reply.done = True
            asyncio.get_running_loop().call_soon(self._finish_done, handle.id)

    def _finish_done(self, speech_id: str) -> None:
        reply = self._replies.get(speech_id)
        if reply is not None:
            self._finish(reply)

    # -- records --------------------------------------------------------------------------

    def _record_error(self, component: str, message: str, provider: str | None = None) -> None:
        self.errors += 1
        self.sink.add_error_nowait(
            ErrorRecord(
                component=component,
                message=message,
                session_id=self.session_id,
                provider=provider or self.providers.get(component),
            )
        )
        current = next(reversed(self._replies.values()), None)
        if current is not None:
            current.errors.append(f"{component}: {message}")

    def _finish(self, reply: _Reply) -> None:
        self._replies.pop(reply.speech_id, None)
        if self._typed_reply is reply:
            self._typed_reply = None
        if self._eou_reply is reply:
            self._eou_reply = None
        self._write_turn(reply)

    def _flush_entries(self) -> None:
        entries, self._entries = self._entries, []
        for entry in entries:
            self.sink.add_transcript_entry_nowait(self.session_id, entry)

    def _write_turn(self, reply: _Reply) -> None:
        items = list(getattr(reply.handle, "chat_items", None) or ())
        said = [i for i in items if getattr(i, "type", None) == "message" and i.role == "assistant"]
        texts = [t for t in (i.text_content for i in said) if t]
        tools = _tool_calls(items)
        interrupted = bool(getattr(reply.handle, "interrupted", False)) or any(
            i.interrupted for i in said
        )
        if reply.user is None and not texts and not tools and not reply.errors:
            return  # a speech that never happened (a discarded preemptive generation)
        lk: dict[str, Any] = {}
        for msg in said:  # the first message's figures: the reply's start
            for k, v in (msg.metrics or {}).items():
                lk.setdefault(k, v)
        user = reply.user
        served = dict(reply.served)
        if user is not None and user.stt_served:
            served["stt"] = user.stt_served
        self._flush_entries()
        self.turns += 1
        self.sink.add_turn_nowait(
            TurnRecord(
                session_id=self.session_id,
                index=self.turns,
                started_at=user.at if user else reply.created_at,
                ended_at=time.time(),
                user_text=user.text if user else None,
                agent_text=" ".join(texts) or None,
                stt_duration=user.stt_duration if user else None,
                stt_final_delay=user.stt_final_delay if user else None,
                end_of_utterance_delay=user.end_of_utterance_delay if user else None,
                llm_ttft=reply.llm_ttft
                if reply.llm_ttft is not None
                else _num(lk.get("llm_node_ttft")),
                llm_duration=reply.llm_duration,
                llm_prompt_tokens=reply.prompt_tokens,
                llm_completion_tokens=reply.completion_tokens,
                tts_ttfb=reply.tts_ttfb
                if reply.tts_ttfb is not None
                else _num(lk.get("tts_node_ttfb")),
                tts_duration=reply.tts_duration,
                tool_calls=tools,
                interrupted=interrupted,
                voice_to_voice=reply.voice_to_voice,
                lk_e2e_latency=_num(lk.get("e2e_latency")),
                providers=served,
                failovers=sorted(
                    k for k, v in served.items() if k in self.chains and v != self.chains[k][0]
                ),
                error="; ".join(reply.errors) or None,
            )
        )


def _tool_calls(items: Iterable[Any]) -> list[ToolCall]:
    calls = [i for i in items if getattr(i, "type", None) == "function_call"]
    outputs = {o.call_id: o for o in items if getattr(o, "type", None) == "function_call_output"}
    out: list[ToolCall] = []
    for call in calls:
        result = outputs.get(call.call_id)
        if result is None:
            out.append(ToolCall(call.name, call.arguments, None, False, "no output (interrupted)"))
            continue
        duration = max(0.0, result.created_at - call.created_at)
        error = str(result.output)[:_TOOL_TEXT_MAX] if result.is_error else None
        out.append(ToolCall(call.name, call.arguments, duration, not result.is_error, error))
    return out


def _subscribe(session: Any, name: str, cb: Callable[[Any], None]) -> None:
    if name == "metrics_collected":
        # AgentSession.on() logs a deprecation warning per subscription; the event is still
        # emitted and is the only per-reply source of LLM duration, tokens and TTS duration.
        from livekit import rtc

        rtc.EventEmitter.on(session, name, cb)
    else:
        session.on(name, cb)


def attach_metrics(
    session: Any,
    userdata: Any,
    collector: SessionCollector,
    *,
    faults: Any = None,
) -> Callable[[], None]:
    """Wire ``collector`` to a session the way every transport needs it:

    * the ``AgentSession``'s events (:meth:`SessionCollector.attach`);
    * ``userdata.events`` (a :class:`~causerie.events.EventChannel`, when present): the
      transport's ``turn_metrics`` events carry its measured ``voice_to_voice``, and
      plugins' ``session_annotations`` (e.g. sentiment) go into the session record;
    * ``faults`` (a :class:`~causerie.agent.faults.Faults`, optional): faults the agent
      turned into an apology become error records.

    Call it in the task that then calls ``session.start()``. Returns a function that
    unhooks the event channel and the faults (the session's events unhook on close).
    """
    collector.attach(session)
    undo: list[Callable[[], None]] = []
    events = getattr(userdata, "events", None)
    if events is not None:

        def on_event(ev: dict[str, Any]) -> None:
            kind = ev.get("type")
            if kind == "turn_metrics":
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
