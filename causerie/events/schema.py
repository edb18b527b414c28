"""The event schema between a session and its client, defined once for every transport.

Every event is one JSON object with a ``type``. The WebSocket sends them as text messages, the
WebRTC data channel as string messages; the LiveKit transport will reuse them as data
messages. Server events also carry ``ts`` (epoch seconds, added by
:class:`~causerie.events.channel.EventChannel`).

Server -> client (:data:`SERVER_EVENTS`)::

    ready             session_id, transport, agent_name, sample_rate, frame_bytes
    user_transcript   text, final                 interim (final=false) then final
    agent_transcript  text, final, interrupted    text: the reply so far, as spoken
    agent_state       state: initializing|idle|listening|thinking|speaking
    user_state        state: speaking|listening|away
    interrupted       the agent's audio was cut: drop any buffered agent audio now
    turn_metrics      turn, voice_to_voice, stt, end_of_turn, llm_ttft, tts_ttfb,
                      lk_e2e_latency, interrupted        (seconds, null when unknown)
    error             code, message, fatal       fatal: the server closes the session
    pong              id                          answer to a client ping

Events that tools and plugins emit on the session's channel use their own types and are
forwarded unchanged; a client ignores types it does not know.

Client -> server (:data:`ClientEvent`)::

    text       text            type to the agent: interrupts it and asks for a reply
    mute       muted           the server hears silence instead of the microphone
    interrupt                  stop the agent now
    ping       id (optional)   answered with pong
    custom_action, user_interaction
               action, ...     a click in the page (e.g. add to cart), handed to
                               the app that takes it (docs/APPS.md)

A malformed or unknown client event is answered with an ``error`` event (code
``bad_json``, ``unknown_event`` or ``invalid_event``); the connection stays open.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

MAX_CLIENT_EVENT_BYTES = 8192
MAX_TEXT_CHARS = 2000

AgentStateName = Literal["initializing", "idle", "listening", "thinking", "speaking"]
UserStateName = Literal["speaking", "listening", "away"]


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- client -> server ------------------------------------------------------------------


class TextInput(_Event):
    type: Literal["text"]
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)


class Mute(_Event):
    type: Literal["mute"]
    muted: bool


class Interrupt(_Event):
    type: Literal["interrupt"]


class Ping(_Event):
    type: Literal["ping"]
    id: str | int | None = None


class ClientAction(BaseModel):
    """Fields depend on the action (they may also sit under ``data`` or ``payload``)."""

    model_config = ConfigDict(extra="allow")
    type: Literal["custom_action", "user_interaction"]
    action: str | None = None


ClientEvent = Annotated[
    TextInput | Mute | Interrupt | Ping | ClientAction, Field(discriminator="type")
]
CLIENT_EVENTS = ("text", "mute", "interrupt", "ping", "custom_action", "user_interaction")
_client_adapter: TypeAdapter[ClientEvent] = TypeAdapter(ClientEvent)


class EventError(ValueError):
    """A client event that cannot be accepted; ``code`` goes to the client's error event."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_client_event(raw: str | bytes | dict[str, Any]) -> ClientEvent:
    """Validate one client message; raises :class:`EventError` with a message for the user."""
    if isinstance(raw, str | bytes):
        if len(raw) > MAX_CLIENT_EVENT_BYTES:
            raise EventError("invalid_event", f"event larger than {MAX_CLIENT_EVENT_BYTES} bytes")
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            raise EventError("bad_json", f"not JSON: {e}") from None
    else:
        data = raw
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise EventError("invalid_event", 'expected a JSON object with a string "type"')
    if data["type"] not in CLIENT_EVENTS:
        raise EventError(
            "unknown_event",
            f"unknown event type {data['type']!r}; expected one of: {', '.join(CLIENT_EVENTS)}",
        )
    try:
        return _client_adapter.validate_python(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:]) or data["type"]
        raise EventError("invalid_event", f"{data['type']}: {where}: {first['msg']}") from None


# -- server -> client ------------------------------------------------------------------


class _ServerEvent(_Event):
    ts: float | None = None


class Ready(_ServerEvent):
    type: Literal["ready"]
    session_id: str
    transport: Literal["websocket", "webrtc", "livekit"]
    agent_name: str
    sample_rate: int
    """WebSocket PCM rate, both ways (16000)."""
    frame_bytes: int
    """Size of one binary audio message (20 ms of s16le mono)."""


class UserTranscript(_ServerEvent):
    type: Literal["user_transcript"]
    text: str
    final: bool


class AgentTranscript(_ServerEvent):
    type: Literal["agent_transcript"]
    text: str
    final: bool
    interrupted: bool = False


class AgentStateEvent(_ServerEvent):
    type: Literal["agent_state"]
    state: AgentStateName


class UserStateEvent(_ServerEvent):
    type: Literal["user_state"]
    state: UserStateName


class Interrupted(_ServerEvent):
    type: Literal["interrupted"]


class TurnMetrics(_ServerEvent):
    type: Literal["turn_metrics"]
    turn: int
    voice_to_voice: float | None = None
    """Last audible input frame received -> first audible reply frame sent, at the transport."""
    stt: float | None = None
    """End of speech -> final transcript (livekit ``transcription_delay``)."""
    end_of_turn: float | None = None
    llm_ttft: float | None = None
    tts_ttfb: float | None = None
    lk_e2e_latency: float | None = None
    """livekit's own figure; under-reports (see DESIGN.md section 4)."""
    interrupted: bool = False


class ErrorEvent(_ServerEvent):
    type: Literal["error"]
    code: str
    message: str
    fatal: bool = False


class Pong(_ServerEvent):
    type: Literal["pong"]
    id: str | int | None = None


ServerEvent = Annotated[
    Ready
    | UserTranscript
    | AgentTranscript
    | AgentStateEvent
    | UserStateEvent
    | Interrupted
    | TurnMetrics
    | ErrorEvent
    | Pong,
    Field(discriminator="type"),
]
SERVER_EVENTS = (
    "ready",
    "user_transcript",
    "agent_transcript",
    "agent_state",
    "user_state",
    "interrupted",
    "turn_metrics",
    "error",
    "pong",
)
_server_adapter: TypeAdapter[ServerEvent] = TypeAdapter(ServerEvent)


def validate_server_event(event: dict[str, Any]) -> dict[str, Any]:
    """Check a core server event (tests, clients); other types pass if they are JSON objects."""
    if event.get("type") in SERVER_EVENTS:
        _server_adapter.validate_python(event)
    elif not isinstance(event.get("type"), str):
        raise ValueError('a server event needs a string "type"')
    return event


def encode(event: dict[str, Any]) -> str:
    """One event as compact JSON text; values that JSON cannot hold become strings."""
    return json.dumps(event, separators=(",", ":"), default=str)
