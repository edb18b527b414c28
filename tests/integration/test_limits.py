"""Resource limits on the real server (issue 14 §4): request head, WebSocket message and SDP
sizes, new sessions per client address, and the idle timeout of a client that never speaks.
Each refusal is clean, and the server keeps serving."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
import websockets

from causerie.server.token import RateLimiter
from tests.e2e.harness import ServerThread, WsClient, serve_shared
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

OFFER = {"type": "offer", "sdp": "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"}


@pytest.fixture(scope="session", name="server")
def _server() -> Iterator[ServerThread]:
    yield from serve_shared()


async def still_serving(server: ServerThread) -> None:
    async with httpx.AsyncClient(timeout=60) as http:
        assert (await http.get(server.url + "/healthz")).status_code == 200
    async with WsClient(server.ws_url) as c:
        await c.wait_for(lambda e: e["type"] == "ready", keep_streaming=False)
        await c.ws.send('{"type": "ping", "id": 1}')
        await c.wait_for(lambda e: e["type"] == "pong", keep_streaming=False)
    server.wait_idle()


async def test_a_huge_request_head_is_refused(server: ServerThread) -> None:
    limit = server.settings.max_header_bytes
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (limit * 64) + b"\r\n\r\n")
    await writer.drain()
    head = await asyncio.wait_for(reader.read(100), 60)
    writer.close()
    assert head.startswith(b"HTTP/1.1 400"), head
    await still_serving(server)


async def test_a_huge_websocket_message_closes_that_socket(server: ServerThread) -> None:
    async with WsClient(server.ws_url) as c:
        await c.wait_for(lambda e: e["type"] == "ready", keep_streaming=False)
        await c.ws.send("x" * (server.settings.max_ws_message_bytes + 1))
        await asyncio.wait_for(c._reader, 60)
    assert c.close_code == 1009  # "message too big"
    await still_serving(server)


async def test_websocket_audio_is_not_deflated(server: ServerThread) -> None:
    """A client offering permessage-deflate (as browsers and ``websockets`` do) gets none."""
    async with websockets.connect(server.ws_url) as ws:
        assert "permessage-deflate" in str(ws.request.headers.get("Sec-WebSocket-Extensions"))
        assert ws.response.headers.get("Sec-WebSocket-Extensions") is None


async def test_a_huge_sdp_offer_is_refused(server: ServerThread) -> None:
    big = {"type": "offer", "sdp": OFFER["sdp"] + "a=x\r\n" * 20_000}
    async with httpx.AsyncClient(timeout=60) as http:
        r = await http.post(server.url + "/api/offer", json=big)
    assert r.status_code == 413 and r.json()["error"] == "offer_too_large"
    assert str(server.settings.max_offer_bytes) in r.json()["message"]
    assert server.manager.active == 0


async def test_new_sessions_per_address_are_limited(server: ServerThread) -> None:
    saved = server.app.state.session_limiter
    now = [0.0]
    server.app.state.session_limiter = RateLimiter(2, clock=lambda: now[0])
    try:
        for _ in range(2):
            async with WsClient(server.ws_url) as c:
                await c.wait_for(lambda e: e["type"] == "ready", keep_streaming=False)
            server.wait_idle()
        async with WsClient(server.ws_url) as third:
            await asyncio.wait_for(third._reader, 60)
        assert third.close_code == 1008 and "too many new sessions" in third.close_reason
        (error,) = third.of("error")
        assert error["code"] == "rate_limited" and "retry in" in error["message"]
        async with httpx.AsyncClient(timeout=60) as http:
            r = await http.post(server.url + "/api/offer", json=OFFER)
        assert r.status_code == 429 and r.json()["error"] == "rate_limited"
        assert "Retry-After" in r.headers
        assert server.manager.active == 0
        now[0] += 60.0  # a minute later the address may start sessions again
        await still_serving(server)
    finally:
        server.app.state.session_limiter = saved


async def test_a_client_that_never_speaks_is_closed(server: ServerThread) -> None:
    saved = server.settings.idle_timeout
    server.settings.idle_timeout = 0.5
    try:
        async with websockets.connect(server.ws_url) as ws:
            first = await ws.recv()  # the server speaks (ready); the client never does
            assert '"ready"' in first
            with pytest.raises(websockets.ConnectionClosed):
                while True:
                    await asyncio.wait_for(ws.recv(), 30)
            assert ws.close_code == 1008 and "nothing received" in (ws.close_reason or "")
        wait_until(lambda: server.manager.active == 0, "the idle session to end")
    finally:
        server.settings.idle_timeout = saved
    await still_serving(server)
