"""A WebSocket client that stops reading at the TCP level is hung up on with a reason once
its backlog passes ``max_output_backlog``; the other sessions do not notice."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest
import websockets

from tests.e2e.harness import ServerThread, WsClient
from tests.waiting import until

pytestmark = pytest.mark.slow

# Small kernel buffers, so that a stalled reader fills them with a few seconds of audio
# (loopback's autotuned buffers would hold minutes of it before the server could notice).
SNDBUF = 8 * 1024
RCVBUF = 4 * 1024


@pytest.fixture(scope="module", name="server")
def _server() -> Iterator[ServerThread]:
    server = ServerThread(max_sessions=4)
    server.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SNDBUF)  # inherited on accept
    server.settings.max_output_backlog = 0.5
    server.start()
    yield server
    server.stop()


async def test_a_client_that_stops_reading_is_hung_up_on(server: ServerThread) -> None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
    sock.connect(("127.0.0.1", server.port))
    sock.setblocking(False)
    stalled = await websockets.connect(server.ws_url, sock=sock, max_size=2**16)
    await asyncio.wait_for(stalled.recv(), 30)  # "ready"
    async with WsClient(server.ws_url) as other:
        await other.wait_for(lambda e: e["type"] == "ready")
        await until(lambda: server.manager.active == 2, "both sessions")
        # A question whose spoken answer (~8 s) outgrows the buffers; then no more reading.
        stalled.transport.pause_reading()
        await stalled.send('{"type": "text", "text": "what can you do"}')
        await until(lambda: server.manager.active == 1, "the server to hang up the stalled client")
        # The other conversation goes on as if nothing happened.
        await other.ws.send('{"type": "text", "text": "who are you"}')
        reply = await other.wait_for(lambda e: e["type"] == "agent_transcript" and e["final"])
        assert "Causerie" in reply["text"]
        assert other.close_code is None
    # Reading again, the stalled client drains its backlog and then finds the close frame.
    stalled.transport.resume_reading()
    with pytest.raises(websockets.ConnectionClosed):
        while True:
            await asyncio.wait_for(stalled.recv(), 30)
    assert stalled.close_code == 1008
    assert "not reading" in (stalled.close_reason or "")
    server.wait_idle()
