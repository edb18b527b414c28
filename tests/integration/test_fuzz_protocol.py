"""Property tests of the conversation endpoints on the real server (issue 14 §3): random
WebSocket scripts (binary frames of any size, text, random JSON and events, closes at any
point, several connections interleaved) and mutated SDP offers. Pass: each message gets an
answer or is dropped with an error event, a connection ends only by a clean close, nothing is
logged as an error, and afterwards no session is left and a conversation still works."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets
from hypothesis import given
from hypothesis import strategies as st

from tests.e2e.harness import ServerThread, WsClient, serve_shared
from tests.fuzzing import TRIED, budget, report_tried  # noqa: F401 - a fixture

pytestmark = pytest.mark.slow

CLEAN_CLOSES = {1000, 1005, 1008, 1009, 1013}
"""Ours (1000), none given, policy (idle, too slow, rate), too big, busy; never 1011."""


@pytest.fixture(scope="session", name="server")
def _server() -> Iterator[ServerThread]:
    yield from serve_shared()


class Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(f"{record.name}: {record.getMessage()}")


@pytest.fixture(name="logged_errors")
def _logged_errors() -> Iterator[list[str]]:
    handler = Errors()
    logging.getLogger().addHandler(handler)
    try:
        yield handler.records
    finally:
        logging.getLogger().removeHandler(handler)


def still_serving(server: ServerThread) -> None:
    async def talk() -> None:
        async with WsClient(server.ws_url) as c:
            await c.wait_for(lambda e: e["type"] == "ready", keep_streaming=False)
            await c.ws.send('{"type": "text", "text": "who are you"}')
            await c.wait_for(lambda e: e["type"] == "agent_transcript" and e["final"], 30)

    asyncio.run(talk())
    server.wait_idle(timeout=30)
    assert server.manager.active == 0


# -- WebSocket ---------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
events = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            ["text", "mute", "interrupt", "ping", "custom_action", "user_interaction", "nope"]
        )
    },
    optional={
        "text": st.text(max_size=50) | json_values,
        "muted": st.booleans() | json_values,
        "id": json_values,
        "action": st.text(max_size=20) | json_values,
        "extra": json_values,
    },
)
actions = st.one_of(
    st.tuples(st.just("bytes"), st.binary(max_size=1400) | st.just(bytes(640))),
    st.tuples(st.just("text"), st.text(max_size=200)),
    st.tuples(st.just("json"), json_values.map(json.dumps)),
    st.tuples(st.just("event"), events.map(json.dumps)),
    st.tuples(st.just("close"), st.sampled_from([1000, 1001, 3000, 4999])),
)
scripts = st.lists(st.lists(actions, max_size=8), min_size=1, max_size=3)
"""One list of actions per connection; the connections run at the same time."""


async def play(url: str, script: list[tuple[str, Any]]) -> tuple[int | None, list[str]]:
    """Run one connection's script; the server's close code (None: we closed it, by the
    script or after a ping round trip at its end) and the error codes it received."""
    codes: list[str] = []
    async with websockets.connect(url, max_size=2**20) as ws:

        async def until(pred: Any) -> None:
            while True:
                msg = await asyncio.wait_for(ws.recv(), 30)
                if isinstance(msg, str):
                    ev = json.loads(msg)
                    if ev.get("type") == "error":
                        codes.append(ev["code"])
                    if pred(ev):
                        return

        try:
            await until(lambda e: e["type"] in ("ready", "error"))
            for kind, value in script:
                if kind == "close":
                    await ws.close(value)
                    return None, codes  # we closed it
                await ws.send(value)
            await ws.send('{"type": "ping", "id": "end"}')
            await until(lambda e: e["type"] == "pong" and e.get("id") == "end")
        except websockets.ConnectionClosed:
            return ws.close_code, codes
    return None, codes


@given(script=scripts)
@budget(25)
def test_websocket_scripts(server: ServerThread, logged_errors: list[str], script: Any) -> None:
    TRIED["websocket connections"] += len(script)
    TRIED["websocket messages"] += sum(len(s) for s in script)

    async def run() -> list[tuple[int | None, list[str]]]:
        return await asyncio.gather(*(play(server.ws_url, s) for s in script))

    for code, errors in asyncio.run(run()):
        assert code is None or code in CLEAN_CLOSES, (code, errors)
        assert set(errors) <= {"bad_json", "unknown_event", "invalid_event", "bad_frame"}
    server.wait_idle(timeout=30)
    assert not logged_errors


def test_the_server_still_converses_after_websocket_fuzzing(server: ServerThread) -> None:
    still_serving(server)


# -- SDP offer ---------------------------------------------------------------------------

FINGERPRINT = ":".join(["6B", "8B", "5D", "EA"] * 8)
BROWSER_OFFER = f"""v=0\r
o=- 4611731400430051336 2 IN IP4 127.0.0.1\r
s=-\r
t=0 0\r
a=group:BUNDLE 0\r
a=msid-semantic: WMS\r
m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r
c=IN IP4 0.0.0.0\r
a=rtcp:9 IN IP4 0.0.0.0\r
a=ice-ufrag:abcd\r
a=ice-pwd:abcdefghijklmnopqrstuvwx\r
a=ice-options:trickle\r
a=fingerprint:sha-256 {FINGERPRINT}\r
a=setup:actpass\r
a=mid:0\r
a=sendrecv\r
a=rtcp-mux\r
a=rtpmap:111 opus/48000/2\r
a=fmtp:111 minptime=10;useinbandfec=1\r
a=rtpmap:0 PCMU/8000\r
"""
LINES = BROWSER_OFFER.split("\r\n")


@st.composite
def mutated_offers(draw: st.DrawFn) -> str:
    lines = list(LINES)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["drop", "dup", "garbage", "value", "swap"]))
        if kind == "drop" and len(lines) > 1:
            del lines[i]
        elif kind == "dup":
            lines.insert(i, lines[i])
        elif kind == "garbage":
            lines.insert(i, draw(st.text(max_size=40)))
        elif kind == "value" and "=" in lines[i]:
            key = lines[i].split("=", 1)[0]
            lines[i] = f"{key}={draw(st.text(max_size=40))}"
        elif kind == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
    return "\r\n".join(lines)


@given(sdp=mutated_offers() | st.text(max_size=300).map(lambda t: "v=0\r\nm=audio " + t))
@budget(40)
def test_sdp_offers(server: ServerThread, logged_errors: list[str], sdp: str) -> None:
    TRIED["sdp offers"] += 1
    r = httpx.post(server.url + "/api/offer", json={"type": "offer", "sdp": sdp}, timeout=30)
    assert r.status_code in (200, 400, 503), r.text
    body = r.json()
    if r.status_code == 200:
        assert body["type"] == "answer" and body["sdp"].startswith("v=0")
    else:
        assert body["error"] in ("bad_offer", "busy") and body["message"]
    assert not logged_errors


def test_the_server_still_converses_after_sdp_fuzzing(server: ServerThread) -> None:
    server.wait_idle(timeout=60)  # answered offers whose peer never connects time out
    still_serving(server)
