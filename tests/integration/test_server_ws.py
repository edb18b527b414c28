"""The WebSocket transport against a real server and the real offline pipeline."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
import websockets

from causerie.events.schema import validate_server_event
from tests.e2e.harness import (
    ServerThread,
    WsClient,
    collect_garbage,
    rss_mb,
    serve_shared,
    speech_frames,
)
from tests.waiting import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session", name="server")
def _server() -> Iterator[ServerThread]:
    yield from serve_shared()


@pytest.fixture
def baseline(server: ServerThread) -> int:
    server.wait_idle()
    return server.task_count()


def assert_clean(server: ServerThread, baseline: int) -> None:
    """No session open, and the server's loop runs as many tasks as before the test."""
    server.wait_idle()
    since: list[float] = []  # when the count last came down to the baseline

    def settled() -> bool:
        # Held for 0.2 s: a short-lived task (a timer firing) between two reads is no leak.
        if server.task_count() > baseline:
            since.clear()
            return False
        since[:] = since or [time.monotonic()]
        return time.monotonic() - since[0] >= 0.2

    wait_until(settled, "the session's tasks to end, and stay ended")
    assert server.manager.active == 0


def test_health_and_page(server: ServerThread) -> None:
    r = httpx.get(server.url + "/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["sessions"]["active"] == 0
    assert set(body["providers"]) == {"stt", "llm", "tts", "vad"}
    page = httpx.get(server.url + "/")
    assert page.status_code == 200 and "<html" in page.text.lower()
    assert "http://" not in page.text and "https://" not in page.text  # nothing from a CDN


async def test_voice_conversation(server: ServerThread, baseline: int) -> None:
    async with WsClient(server.ws_url) as c:
        ready = await c.wait_for(lambda e: e["type"] == "ready")
        assert ready["frame_bytes"] == 640 and ready["sample_rate"] == 16000
        await c.stream(speech_frames("what can you do"))
        user = await c.wait_for(lambda e: e["type"] == "user_transcript" and e["final"])
        assert "do" in user["text"]  # pocketsphinx: "what can you do", sometimes "what to do"
        reply = await c.wait_for(
            lambda e: e["type"] == "agent_transcript" and e["final"], within=20
        )
        assert reply["text"].startswith(("I can", "I heard"))
        metrics = await c.wait_for(lambda e: e["type"] == "turn_metrics")
    for ev in c.events:
        validate_server_event({k: v for k, v in ev.items() if k != "_at"})
    states = [e["state"] for e in c.of("agent_state")]
    assert "thinking" in states and "speaking" in states
    assert [e["state"] for e in c.of("user_state")][:2] == ["speaking", "listening"]
    interim = [e for e in c.of("agent_transcript") if not e["final"]]
    assert interim, "the reply's text streams while it is spoken"
    # The reply's voice reached us, and the latency figures are plausible.
    loud = [a for a in c.audio if a.audible]
    assert len(loud) > 25, "at least half a second of audible reply"
    assert metrics["voice_to_voice"] is not None and metrics["voice_to_voice"] > 0
    assert c.last_audible_sent is not None
    heard = loud[0].at - c.last_audible_sent
    assert heard > 0  # the reply follows the question (its size is bench/'s job)
    assert_clean(server, baseline)


async def test_typed_text(server: ServerThread, baseline: int) -> None:
    async with WsClient(server.ws_url) as c:
        await c.wait_for(lambda e: e["type"] == "ready")
        await c.ws.send('{"type": "text", "text": "who are you"}')
        reply = await c.wait_for(lambda e: e["type"] == "agent_transcript" and e["final"])
        assert "Causerie" in reply["text"]
    assert_clean(server, baseline)


async def test_bad_messages_keep_the_connection(server: ServerThread, baseline: int) -> None:
    async with WsClient(server.ws_url) as c:
        await c.wait_for(lambda e: e["type"] == "ready")
        await c.ws.send("this is not json")
        await c.ws.send('{"type": "dance"}')
        await c.ws.send('{"type": "text", "text": ""}')
        await c.ws.send('["a list"]')
        await c.ws.send("x" * 10000)
        await c.ws.send(b"\x01\x02\x03")  # wrong frame size: dropped, error event
        await c.ws.send(bytes(641))
        await c.ws.send('{"type": "ping", "id": 42}')
        await c.wait_for(lambda e: e["type"] == "pong" and e["id"] == 42)
        codes = [e["code"] for e in c.of("error")]
        assert codes == [
            "bad_json",
            "unknown_event",
            "invalid_event",
            "invalid_event",
            "invalid_event",
            "bad_frame",
        ]
        assert all(not e["fatal"] for e in c.of("error"))
    assert_clean(server, baseline)


async def test_flood_is_bounded(server: ServerThread, baseline: int) -> None:
    frames = speech_frames("what can you do", tail=0.2) * 20  # ~30 s of audio, sent at once
    async with WsClient(server.ws_url) as c:
        await c.wait_for(lambda e: e["type"] == "ready")
        rss0 = rss_mb()
        for f in frames:
            await c.ws.send(f)
        await c.ws.send('{"type": "ping", "id": "after-flood"}')
        await c.wait_for(lambda e: e["type"] == "pong", keep_streaming=False)
        (live,) = server.manager.sessions()
        limit = server.settings.max_input_seconds
        assert live.audio_in.buffered_seconds <= limit + 0.02
        assert live.audio_in.dropped_frames > 0
        assert rss_mb() - rss0 < 50
    assert_clean(server, baseline)


async def test_busy_when_full(server: ServerThread, baseline: int) -> None:
    manager = server.manager
    saved = manager.max_sessions
    manager.max_sessions = 1
    try:
        async with WsClient(server.ws_url) as first:
            await first.wait_for(lambda e: e["type"] == "ready")
            async with WsClient(server.ws_url) as second:
                await second._reader  # the server closes it
            assert second.close_code == 1013
            assert "busy" in second.close_reason
            assert second.of("error")[0]["code"] == "busy"
            offer = {"type": "offer", "sdp": "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"}
            async with httpx.AsyncClient(timeout=60) as http:
                r = await http.post(server.url + "/api/offer", json=offer)
            assert r.status_code == 503 and r.json()["error"] == "busy"
            # The first session did not notice.
            await first.ws.send('{"type": "ping", "id": 1}')
            await first.wait_for(lambda e: e["type"] == "pong")
            assert first.close_code is None
    finally:
        manager.max_sessions = saved
    assert_clean(server, baseline)


@pytest.mark.parametrize("when", ["mid_utterance", "mid_reply"])
async def test_client_vanishes(server: ServerThread, baseline: int, when: str) -> None:
    c = WsClient(server.ws_url)
    await c.__aenter__()
    await c.wait_for(lambda e: e["type"] == "ready")
    frames = speech_frames("what can you do")
    if when == "mid_utterance":
        await c.stream(frames[: len(frames) // 3])
        await c.wait_for(lambda e: e["type"] == "user_state" and e["state"] == "speaking")
    else:
        await c.stream(frames)
        await c.wait_for(lambda e: e["type"] == "agent_state" and e["state"] == "speaking")
        await c.silence(0.5)
    assert server.manager.active == 1
    c.ws.transport.abort()  # no close frame: the TCP connection just dies
    await c._reader
    assert_clean(server, baseline)


async def test_barge_in_stops_the_agent(server: ServerThread, baseline: int) -> None:
    async with WsClient(server.ws_url) as c:
        await c.wait_for(lambda e: e["type"] == "ready")
        await c.stream(speech_frames("what can you do", tail=0.3))
        await c.wait_for(lambda e: e["type"] == "agent_state" and e["state"] == "speaking")
        await c.silence(1.0)  # the agent is talking (its reply lasts ~8 s)
        assert sum(a.audible for a in c.audio) > 20
        await c.stream(speech_frames("who are you", lead=0.0, tail=0.2))
        cut = await c.wait_for(lambda e: e["type"] == "interrupted", within=30)
        first = await c.wait_for(lambda e: e["type"] == "agent_transcript" and e["final"])
        assert first["interrupted"] is True
        assert "language model" not in first["text"], "the end of the reply was never spoken"
        # One ordered connection: what arrives after the "interrupted" event and before the
        # next reply is what the server sent after it cut. At most the paced output's lead
        # (100 ms: 5 frames) may follow; an uncut reply would send hundreds.
        after = [a for a in c.audio if a.at > cut["_at"]]
        next_reply = c.of("agent_state")
        speaking_again = [
            e["_at"] for e in next_reply if e["state"] == "speaking" and e["_at"] > cut["_at"]
        ]
        until = speaking_again[0] if speaking_again else time.time()
        leaked = [a for a in after if a.audible and a.at < until]
        assert len(leaked) <= 5, f"{len(leaked)} frames of the old reply after the cut"
    assert_clean(server, baseline)


async def test_mute(server: ServerThread, baseline: int) -> None:
    async with WsClient(server.ws_url) as c:
        await c.wait_for(lambda e: e["type"] == "ready")
        await c.ws.send('{"type": "mute", "muted": true}')
        await c.stream(speech_frames("who are you"))
        await c.silence(1.0)
        assert not c.of("user_transcript") and not c.of("user_state")
        await c.ws.send('{"type": "mute", "muted": false}')
        await c.stream(speech_frames("who are you"))
        await c.wait_for(lambda e: e["type"] == "user_transcript" and e["final"])
    assert_clean(server, baseline)


async def test_many_quick_connections(server: ServerThread, baseline: int) -> None:
    """Connect, hear ``ready``, hang up, at once again: sessions overlap while they close."""
    refused = 0

    async def burst(n: int) -> None:
        nonlocal refused
        for _ in range(n):
            try:
                async with websockets.connect(server.ws_url) as ws:
                    await ws.recv()  # ready
                    await ws.send(bytes(640))
            except websockets.ConnectionClosed as e:  # busy while others close: allowed
                assert e.rcvd is not None and e.rcvd.code == 1013
                refused += 1
        server.wait_idle()
        collect_garbage(server)

    await burst(15)  # the same churn once first: pools and allocator arenas fill up
    rss0 = rss_mb()
    await burst(40)
    grown = rss_mb() - rss0
    assert grown < 60, f"RSS grew {grown:.0f} MB over 40 more sessions"
    assert refused < 20
    assert_clean(server, baseline)


async def test_client_action_reaches_the_tools(server: ServerThread, baseline: int) -> None:
    """A click in the page (custom_action) goes to causerie.tools; this agent has no shop,
    so the action is refused out loud, and the session carries on."""
    async with WsClient(server.ws_url) as c:
        await c.wait_for(lambda e: e["type"] == "ready")
        await c.ws.send('{"type": "custom_action", "action": "add_to_cart", "product_id": "x"}')
        status = await c.wait_for(lambda e: e["type"] == "status_update")
        assert status["status"] == "client_action" and status["ok"] is False
        await c.ws.send('{"type": "ping", "id": 2}')
        await c.wait_for(lambda e: e["type"] == "pong")
        assert not c.of("error")
    assert_clean(server, baseline)


async def test_oversized_message_closes(server: ServerThread, baseline: int) -> None:
    async with WsClient(server.ws_url) as c:
        await c.wait_for(lambda e: e["type"] == "ready")
        await c.ws.send(bytes(70 * 1024))  # over the 64 KiB message limit
        await c._reader
        assert c.close_code == 1009
    assert_clean(server, baseline)


async def test_stt_decoders_are_kept_ready() -> None:
    from causerie.server.sessions import keep_stt_ready

    class Pool:
        max_idle = 2

        def __init__(self) -> None:
            self.loaded = 0
            self.idle: list[int] = []

        async def acquire(self) -> int:
            if self.idle:
                return self.idle.pop()
            self.loaded += 1
            return self.loaded

        def release(self, d: int) -> None:
            if len(self.idle) < self.max_idle:
                self.idle.append(d)

    class Stt:
        pool = Pool()

    messages: list[str] = []
    assert await keep_stt_ready(Stt(), 5, messages.append) == 5
    assert Stt.pool.loaded == 5 and len(Stt.pool.idle) == 5 and Stt.pool.max_idle == 5
    assert messages and "5 session" in messages[0]
    assert await keep_stt_ready(object(), 5, None) == 0  # an STT without a pool: nothing to do
