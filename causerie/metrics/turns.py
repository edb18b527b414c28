"""One session's turn figures, assembled once: the store's :class:`TurnRecord` and transcript,
Prometheus and the live feed (through the store's observers) and the client's
``turn_metrics`` event all read what a :class:`TurnAssembler` hands its listeners.

A turn is one agent reply (a livekit ``SpeechHandle``) and the user message it answers.
Its figures come from livekit-agents' current API, none of it deprecated:

* ``speech_created`` and the handle's done callback bound the reply; its ``chat_items``
  give the agent's text, the tool calls and whether it was interrupted;
* ``conversation_item_added``: the user message's ``metrics`` (``transcription_delay``,
  ``end_of_turn_delay``, ``stt_metadata``) and the reply's (``llm_node_ttft``,
  ``tts_node_ttfb``, ``e2e_latency``, ``llm_metadata``: who served). The user message is
  added by the reply that answers it, once that reply is scheduled;
* the providers' own ``metrics_collected``: durations and tokens (:mod:`.usage`);
* the transport: voice-to-voice, measured on the audio itself, pulled when the reply is done
  (``take_voice_to_voice``) or pushed before (:meth:`TurnAssembler.report_voice_to_voice`).

Where the figure is pushed, the turn is handed over one loop pass after the reply is done,
so a transport reporting from its own done callback on the same speech (livekit keeps those
in a set) is in time; where it is pulled, at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from livekit.agents import llm
from livekit.agents.metrics import LLMMetrics, STTMetrics, TTSMetrics
from livekit.agents.voice import AgentSession
from livekit.agents.voice.events import (
    ConversationItemAddedEvent,
    FunctionToolsExecutedEvent,
    SpeechCreatedEvent,
)
from livekit.agents.voice.speech_handle import SpeechHandle

from ..store.records import ToolCall, TranscriptEntry, TurnRecord
from .providers import chains, label_from_metadata
from .usage import ProviderUsage, enter_scope, in_scope

logger = logging.getLogger(__name__)

__all__ = ["TurnAssembler", "TurnListener"]

TOOL_TEXT_MAX = 500

TurnListener = Callable[[TurnRecord, list[TranscriptEntry]], None]
"""Gets each turn with the transcript entries since the previous one (oldest first)."""


@dataclass(slots=True)
class _User:
    text: str
    at: float
    metrics: dict[str, Any]
    stt_duration: float | None


@dataclass(slots=True)
class _Reply:
    handle: SpeechHandle | None
    created_at: float
    user: _User | None = None
    llm_duration: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    tts_duration: float | None = None
    voice_to_voice: float | None = None
    errors: list[str] = field(default_factory=list)
    done: bool = False


def _add(a: float | None, b: float) -> float:
    return b if a is None else a + b


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and value >= 0 else None


class TurnAssembler:
    """:meth:`attach` it to the session in the task that then calls ``session.start()``
    (idempotent, so the event mapping and the recorder may both do it), add listeners, and
    :meth:`flush` at the end. Runs on the session's event loop."""

    def __init__(
        self,
        *,
        session_id: str = "",
        take_voice_to_voice: Callable[[], float | None] | None = None,
    ) -> None:
        self.session_id = session_id
        self.take_voice_to_voice = take_voice_to_voice
        """The transport's measured voice-to-voice for the reply just done (and forgets it)."""
        self.listeners: list[TurnListener] = []
        self.chains: dict[str, tuple[str, ...]] = {}
        """Stage -> its providers in order, where the stage is a fallback chain."""
        self.turns = 0
        self._session: AgentSession[Any] | None = None
        self._replies: dict[str, _Reply] = {}  # not yet handed over, oldest first
        self._stt_duration: float | None = None
        self._entries: list[TranscriptEntry] = []
        self._usage = ProviderUsage(self, self._on_usage)
        self._handlers: dict[str, Callable[[Any], None]] = {
            "speech_created": self._on_speech_created,
            "conversation_item_added": self._on_item,
            "function_tools_executed": self._on_tools,
        }

    def __repr__(self) -> str:
        return f"TurnAssembler({self.session_id!r})"

    def attach(self, session: AgentSession[Any]) -> None:
        if self._session is session:
            return
        if self._session is not None:
            raise RuntimeError(f"{self!r} is already attached to another session")
        self._session = session
        enter_scope(self)
        self.chains = chains(session)
        for name, cb in self._handlers.items():
            session.on(name, cb)  # type: ignore[arg-type]
        self._usage.attach(session)

    def detach(self) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        for name, cb in self._handlers.items():
            session.off(name, cb)  # type: ignore[arg-type]
        self._usage.detach()

    def owns_context(self) -> bool:
        """Whether a shared provider's event now comes from this session (see :mod:`.usage`)."""
        return in_scope(self)

    def report_voice_to_voice(self, seconds: float | None) -> None:
        """The transport's figure for the reply being played or just done."""
        if seconds is None or seconds < 0:
            return
        pending = [r for r in reversed(self._replies.values()) if r.voice_to_voice is None]
        target = next((r for r in pending if r.done), None)  # in its done callback: that one
        if target is None:
            target = next((r for r in pending if r.user is not None), None)
        if target is None and pending:
            target = pending[0]
        if target is None:
            logger.debug("%r: voice-to-voice %.3f s with no reply to attach to", self, seconds)
            return
        target.voice_to_voice = seconds

    def note_error(self, text: str) -> None:
        """An error during the current reply: its turn carries it."""
        current = next(reversed(self._replies.values()), None)
        if current is not None:
            current.errors.append(text)

    def flush(self) -> list[TranscriptEntry]:
        """Hand over the replies not yet done (the session ends); returns the transcript
        entries no turn took."""
        for reply in list(self._replies.values()):
            self._finish(reply)
        entries, self._entries = self._entries, []
        return entries

    # -- session events -------------------------------------------------------------------

    def _current(self) -> _Reply | None:
        return next(
            (r for r in reversed(self._replies.values()) if not r.done and r.handle is not None),
            None,
        )

    def _on_speech_created(self, ev: SpeechCreatedEvent) -> None:
        handle = ev.speech_handle
        self._replies[handle.id] = _Reply(handle, time.time())
        handle.add_done_callback(self._on_speech_done)

    def _on_item(self, ev: ConversationItemAddedEvent) -> None:
        item = ev.item
        if not isinstance(item, llm.ChatMessage) or item.role not in ("user", "assistant"):
            return
        text = item.text_content or ""
        if text:
            self._entries.append(TranscriptEntry(item.role, text, time.time()))
        if item.role == "user":
            self._on_user_message(item, text)

    def _on_user_message(self, item: llm.ChatMessage, text: str) -> None:
        m: dict[str, Any] = dict(item.metrics or {})
        at = float(m.get("started_speaking_at") or item.created_at)
        user = _User(text, at, m, self._stt_duration)
        self._stt_duration = None
        target = next(
            (
                r
                for r in reversed(self._replies.values())
                if r.user is None
                and r.handle is not None
                and r.handle.scheduled
                and not r.handle.done()
            ),
            None,
        )
        if target is None:  # nothing will answer it (e.g. a plugin stopped the reply)
            self._emit(_Reply(None, at, user=user))
        else:
            target.user = user

    def _on_tools(self, ev: FunctionToolsExecutedEvent) -> None:
        for call, out in ev.zipped():
            output = str(out.output)[:TOOL_TEXT_MAX]
            entry = f"{call.name}({call.arguments}) -> {output}"
            self._entries.append(TranscriptEntry("tool", entry, time.time()))

    def _on_usage(self, stage: str, m: LLMMetrics | STTMetrics | TTSMetrics) -> None:
        if isinstance(m, STTMetrics):
            if not m.streamed:  # a streaming STT's duration is the audio's, not the work's
                self._stt_duration = _add(self._stt_duration, m.duration)
            return
        reply = self._replies.get(m.speech_id or "") or self._current()
        if reply is None:
            return
        if isinstance(m, LLMMetrics):
            reply.llm_duration = _add(reply.llm_duration, m.duration)
            reply.prompt_tokens = (reply.prompt_tokens or 0) + m.prompt_tokens
            reply.completion_tokens = (reply.completion_tokens or 0) + m.completion_tokens
        else:
            reply.tts_duration = _add(reply.tts_duration, m.duration)

    def _on_speech_done(self, handle: SpeechHandle) -> None:
        reply = self._replies.get(handle.id)
        if reply is None:
            return
        reply.done = True
        if self.take_voice_to_voice is None:  # pushed: perhaps from a done callback after us
            asyncio.get_running_loop().call_soon(self._finish_id, handle.id)
            return
        v2v = self.take_voice_to_voice()
        if v2v is not None and reply.voice_to_voice is None:
            reply.voice_to_voice = v2v
        self._finish(reply)

    def _finish_id(self, speech_id: str) -> None:
        reply = self._replies.get(speech_id)
        if reply is not None:
            self._finish(reply)

    # -- the turn -------------------------------------------------------------------------

    def _finish(self, reply: _Reply) -> None:
        if reply.handle is not None:
            self._replies.pop(reply.handle.id, None)
        self._emit(reply)

    def _emit(self, reply: _Reply) -> None:
        turn = self._build(reply)
        if turn is None:
            return
        entries, self._entries = self._entries, []
        for listener in list(self.listeners):
            try:
                listener(turn, entries)
            except Exception:  # one consumer failing must not starve the others
                logger.exception("%r: turn listener %r failed", self, listener)

    def _build(self, reply: _Reply) -> TurnRecord | None:
        handle = reply.handle
        items = list(handle.chat_items) if handle is not None else []
        said = [i for i in items if isinstance(i, llm.ChatMessage) and i.role == "assistant"]
        texts = [t for t in (i.text_content for i in said) if t]
        tools = tool_calls(items)
        user = reply.user
        if user is None and not texts and not tools and not reply.errors:
            if reply.voice_to_voice is None:
                return None  # a speech that never happened (a discarded preemptive one)
        interrupted = bool(handle is not None and handle.interrupted) or any(
            i.interrupted for i in said
        )
        lk: dict[str, Any] = {}
        for msg in said:  # the first message's figures: the reply's start
            for k, v in (msg.metrics or {}).items():
                lk.setdefault(k, v)
        um = user.metrics if user is not None else {}
        served = {
            stage: label
            for stage, label in (
                ("stt", label_from_metadata(um.get("stt_metadata"))),
                ("llm", label_from_metadata(lk.get("llm_metadata"))),
                ("tts", label_from_metadata(lk.get("tts_metadata"))),
            )
            if label is not None
        }
        self.turns += 1
        return TurnRecord(
            session_id=self.session_id,
            index=self.turns,
            started_at=user.at if user else reply.created_at,
            ended_at=time.time(),
            user_text=user.text if user else None,
            agent_text=" ".join(texts) or None,
            stt_duration=user.stt_duration if user else None,
            stt_final_delay=_num(um.get("transcription_delay")),
            end_of_utterance_delay=_num(um.get("end_of_turn_delay")),
            llm_ttft=_num(lk.get("llm_node_ttft")),
            llm_duration=reply.llm_duration,
            llm_prompt_tokens=reply.prompt_tokens,
            llm_completion_tokens=reply.completion_tokens,
            tts_ttfb=_num(lk.get("tts_node_ttfb")),
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


def tool_calls(items: Iterable[Any]) -> list[ToolCall]:
    """The reply's tool calls with their duration and outcome, from its chat items."""
    calls = [i for i in items if isinstance(i, llm.FunctionCall)]
    outputs = {o.call_id: o for o in items if isinstance(o, llm.FunctionCallOutput)}
    out: list[ToolCall] = []
    for call in calls:
        result = outputs.get(call.call_id)
        if result is None:
            out.append(ToolCall(call.name, call.arguments, None, False, "no output (interrupted)"))
            continue
        duration = max(0.0, result.created_at - call.created_at)
        error = str(result.output)[:TOOL_TEXT_MAX] if result.is_error else None
        out.append(ToolCall(call.name, call.arguments, duration, not result.is_error, error))
    return out
