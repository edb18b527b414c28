"""WebSocket transport: raw PCM both ways plus JSON events on one socket.

Framing (docs/WEBSOCKET.md):

* binary message = exactly one 20 ms frame of 16 kHz s16le mono (640 bytes), both ways;
* text message = one JSON event (:mod:`causerie.events.schema`).

A binary message of any other size is dropped and answered with an ``error`` event
(``bad_frame``, at most one per second); the connection stays open. A full server closes
with code 1013 and a reason; a session that ends on its own closes with 1011; a client that
sends nothing for ``idle_timeout`` seconds, or opens too many sessions, closes with 1008.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from livekit import rtc
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from ..events.schema import encode
from .admission import AgentUnavailable, Busy
from .audio_io import FRAME_MS
from .bridge import IN_RATE, LiveSession

logger = logging.getLogger(__name__)

SAMPLES_PER_FRAME = IN_RATE * FRAME_MS // 1000
FRAME_BYTES = SAMPLES_PER_FRAME * 2
CLOSE_BUSY = 1013  # "try again later"
CLOSE_SESSION_ENDED = 1011
CLOSE_TOO_SLOW = 1008
CLOSE_POLICY = 1008
CLOSE_GOING_AWAY = 1001  # the server is shutting down
MAX_QUEUED_EVENTS = 1000  # JSON events waiting for a peer that does not read


class WebSocketPeer:
    """The send side of one socket: a single writer task drains an outbox of events and
    audio, so sends never interleave and a barge-in can drop queued audio."""

    def __init__(
        self, ws: WebSocket, *, max_backlog_s: float = 2.0, idle_timeout: float | None = None
    ) -> None:
        self.ws = ws
        self.idle_timeout = idle_timeout
        self.idle = False
        self._outbox: deque[str | rtc.AudioFrame] = deque()
        self._audio_queued = 0
        self._max_audio = int(max_backlog_s * 1000 / FRAME_MS)
        self._wake = asyncio.Event()
        self._emptied = asyncio.Event()
        # Set when the backlog passes its bound; the run loop hangs up even while the writer
        # is stuck in a send (a peer that stopped reading fills the TCP buffers first).
        self._slow = asyncio.Event()
        self.too_slow = False
        self.live: LiveSession | None = None
        self._last_bad_frame_error = 0.0

    # Called by LiveSession / its event channel (sync, on the loop).
    def send_audio(self, frame: rtc.AudioFrame) -> None:
        if self._audio_queued >= self._max_audio:
            self._hang_up_slow()  # the peer stopped reading
            return
        self._outbox.append(frame)
        self._audio_queued += 1
        self._wake.set()

    def drop_audio(self) -> None:
        if self._audio_queued:
            self._outbox = deque(x for x in self._outbox if isinstance(x, str))
            self._audio_queued = 0

    def send_event(self, event: dict[str, Any]) -> None:
        if len(self._outbox) - self._audio_queued >= MAX_QUEUED_EVENTS:
            self._hang_up_slow()
            return
        self._outbox.append(encode(event))
        self._wake.set()

    def _hang_up_slow(self) -> None:
        self.too_slow = True
        self._slow.set()
        self._wake.set()

    async def _writer(self) -> None:
        while True:
            while not self._outbox:
                self._emptied.set()
                if self.too_slow:
                    return
                self._wake.clear()
                await self._wake.wait()
            item = self._outbox.popleft()
            if isinstance(item, str):
                await self.ws.send_text(item)
            else:
                self._audio_queued -= 1
                await self.ws.send_bytes(item.data.tobytes())
                if self.live is not None:
                    self.live.audio_sent(item)

    async def _reader(self, live: LiveSession) -> None:
        while True:
            try:
                async with asyncio.timeout(self.idle_timeout):
                    msg = await self.ws.receive()
            except TimeoutError:
                self.idle = True  # a client that never speaks does not hold a slot
                return
            if msg["type"] == "websocket.disconnect":
                return
            data = msg.get("bytes")
            if data is not None:
                if len(data) == FRAME_BYTES:
                    live.push_audio(rtc.AudioFrame(data, IN_RATE, 1, SAMPLES_PER_FRAME))
                else:
                    self._bad_frame(len(data))
            elif msg.get("text") is not None:
                live.handle_message(msg["text"])

    def _bad_frame(self, size: int) -> None:
        now = time.monotonic()
        if now - self._last_bad_frame_error >= 1.0:  # one error per second, not one per frame
            self._last_bad_frame_error = now
            self.send_event(
                {
                    "type": "error",
                    "ts": time.time(),
                    "code": "bad_frame",
                    "fatal": False,
                    "message": f"binary messages must be {FRAME_BYTES} bytes "
                    f"(20 ms of 16 kHz s16le mono); got {size}, dropped",
                }
            )

    async def _drain(self) -> None:
        while self._outbox:
            self._emptied.clear()
            await self._emptied.wait()

    async def run(
        self, live: LiveSession, closing: asyncio.Event | None = None
    ) -> tuple[int, str] | None:
        """Pump both directions until the peer leaves, the session ends or ``closing`` is
        set (server shutdown); returns the close code and reason to send, or None when the
        peer already closed."""
        self.live = live
        sid = live.session_id
        reader = asyncio.create_task(self._reader(live), name=f"ws.read[{sid}]")
        writer = asyncio.create_task(self._writer(), name=f"ws.write[{sid}]")
        ended = asyncio.create_task(live.closed.wait(), name=f"ws.session-ended[{sid}]")
        slow = asyncio.create_task(self._slow.wait(), name=f"ws.too-slow[{sid}]")
        stop = asyncio.create_task((closing or asyncio.Event()).wait(), name=f"ws.stop[{sid}]")
        tasks = {reader, writer, ended, slow, stop}
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if (ended in done or stop in done) and not writer.done():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.5):
                        await self._drain()  # let the last events (a fatal error) out
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if self.idle:
            logger.info("session %s: nothing received for %g s; hanging up", sid, self.idle_timeout)
            return CLOSE_POLICY, f"nothing received for {self.idle_timeout:g} s"
        if reader in done:
            return None
        if self.too_slow:
            logger.info("session %s: the client stopped reading; hanging up", sid)
            return CLOSE_TOO_SLOW, "client is not reading the agent's audio"
        if stop in done:
            return CLOSE_GOING_AWAY, "the server is shutting down"
        if ended in done:
            return CLOSE_SESSION_ENDED, "the session ended"
        exc = writer.exception() if writer.done() and not writer.cancelled() else None
        if exc is not None and not isinstance(exc, WebSocketDisconnect | RuntimeError | OSError):
            raise exc
        return None  # the socket failed while sending: the peer is gone


async def _refuse(ws: WebSocket, code: str, message: str, close: int, reason: str) -> None:
    # Accept first: a refused handshake shows the browser a bare 403, not the reason.
    error = {"type": "error", "ts": time.time(), "code": code, "message": message, "fatal": True}
    await ws.send_text(encode(error))
    await ws.close(code=close, reason=reason)


async def serve_websocket(
    ws: WebSocket,
    manager: Any,
    *,
    max_backlog_s: float = 2.0,
    idle_timeout: float | None = None,
    admit: Callable[[], str | None] | None = None,
    agent: str | None = None,
) -> None:
    """One connection of ``/api/ws``, from accept to close. ``manager``: a SessionManager;
    ``admit()``: None, or why this client may not start a session now (rate limit);
    ``agent``: the agent's key (``?agent=``), None for the default one."""

    await ws.accept()
    refused = admit() if admit is not None else None
    if refused is not None:
        await _refuse(ws, "rate_limited", refused, CLOSE_POLICY, "too many new sessions")
        return
    if not manager.knows(agent):
        known = ", ".join(manager.agents.keys()) if manager.agents else "none"
        message = f"no agent named {agent!r}; agents: {known}"
        await _refuse(ws, "unknown_agent", message, CLOSE_POLICY, "unknown agent")
        return
    try:
        slot = manager.reserve("websocket", agent)
    except Busy as e:
        await _refuse(ws, "busy", str(e), CLOSE_BUSY, "server busy, try again later")
        return
    peer = WebSocketPeer(ws, max_backlog_s=max_backlog_s, idle_timeout=idle_timeout)
    close: tuple[int, str] | None = None
    try:
        async with slot.session(
            out_rate=IN_RATE,
            send_audio=peer.send_audio,
            drop_audio=peer.drop_audio,
            on_event=peer.send_event,
        ) as live:
            close = await peer.run(live, getattr(manager, "closing", None))
    except AgentUnavailable as e:
        # Before the conversation's writer runs: the error goes out directly.
        await _refuse(ws, "agent_unavailable", str(e), CLOSE_SESSION_ENDED, "agent unavailable")
    finally:
        slot.release()
        if close is not None and ws.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
                await ws.close(code=close[0], reason=close[1])
