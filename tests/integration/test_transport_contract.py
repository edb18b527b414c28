"""The transport contract: one scripted conversation with the shop agent (shop.yaml) over
every transport gives the client the same events, the same cart and the same turn records.

Paths (:mod:`tests.integration.contract_paths`): file (talk's in-process audio I/O),
WebSocket, WebRTC (aiortc client) and LiveKit (livekit-agents' job simulation, client events
through the RPC method the job registers). The script: typed text, a click that adds to the
cart, speech while muted (never heard), speech after unmuting, and a barge-in while the agent
answers it.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from causerie.store import open_store
from tests.integration.contract_paths import (
    RATE,
    ROOT,
    Peer,
    file_path,
    livekit_path,
    overrides,
    wait_for,
    webrtc_path,
    ws_path,
)
from tests.speech import speak

pytestmark = pytest.mark.slow

PRODUCT = "comte-18-mois"
TYPED = "do you have honey"
CLICK = {"type": "user_interaction", "action": "add_to_cart", "product_id": PRODUCT}


# -- the script, the same for every transport ---------------------------------------------


def final_reply(e: dict[str, Any]) -> bool:
    return e["type"] == "agent_transcript" and bool(e.get("final"))


def listening(e: dict[str, Any]) -> bool:
    return e["type"] == "agent_state" and e["state"] == "listening"


def heard(e: dict[str, Any]) -> bool:
    return e["type"] == "user_transcript" and bool(e.get("final"))


async def answered(peer: Peer, since: int) -> int:
    """Until the agent has replied (after ``since``) and is listening again."""
    i = await wait_for(peer, final_reply, since)
    return await wait_for(peer, listening, i)


async def until_quiet(peer: Peer) -> None:
    deadline = time.monotonic() + 30
    while peer.speaking():
        assert time.monotonic() < deadline, "the microphone never played its speech"
        await asyncio.sleep(0.05)


async def converse(peer: Peer) -> dict[str, int]:
    """The scripted conversation; returns where each step starts in ``peer.events``."""
    marks: dict[str, int] = {}
    await answered(peer, 0)  # the greeting
    marks["text"] = len(peer.events)
    await peer.send({"type": "text", "text": TYPED})
    await answered(peer, marks["text"])
    marks["click"] = len(peer.events)
    await peer.send(CLICK)
    i = await wait_for(peer, lambda e: e["type"] == "cart_updated", marks["click"])
    await answered(peer, i)
    marks["muted"] = len(peer.events)
    await peer.send({"type": "mute", "muted": True})
    peer.say(speech("what can you do"))
    await until_quiet(peer)
    # The session heard silence: its VAD saw the "speech" end; the STT had nothing.
    await peer.send({"type": "ping", "id": 1})
    await wait_for(peer, lambda e: e["type"] == "pong", marks["muted"])
    await peer.send({"type": "mute", "muted": False})
    marks["unmuted"] = len(peer.events)
    peer.say(speech("what can you do"))
    i = await wait_for(peer, heard, marks["unmuted"])
    i = await wait_for(peer, lambda e: e["type"] == "agent_state" and e["state"] == "speaking", i)
    marks["barge_in"] = i
    peer.say(speech("who are you"))  # over the agent's answer
    i = await wait_for(peer, lambda e: e["type"] == "interrupted", i)
    i = await wait_for(peer, heard, i)  # the words that cut in get their own answer
    await answered(peer, i)
    marks["end"] = len(peer.events)
    return marks


def speech(text: str) -> np.ndarray:
    return np.concatenate([speak(text, RATE), np.zeros(RATE // 2, np.int16)])


# -- what is compared ---------------------------------------------------------------------

MILESTONES = ("cart_updated", "interrupted", "pong")


def outcome(peer: Peer, marks: dict[str, int]) -> dict[str, Any]:
    ev = [{k: v for k, v in e.items() if k not in ("ts", "_at")} for e in peer.events]
    muted = ev[marks["muted"] : marks["unmuted"]]
    carts = [e for e in ev if e["type"] == "cart_updated"]
    return {
        "types": sorted({e["type"] for e in ev} - {"ready"}),
        "milestones": [
            e["type"] if e["type"] != "user_transcript" else "heard"
            for e in ev
            if e["type"] in MILESTONES or heard(e)
        ],
        "heard_while_muted": [e for e in muted if heard(e)],
        "cart": {k: carts[-1].get(k) for k in ("items", "total", "item_count")} if carts else None,
    }


async def turns_of(store_url: str, session_id: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    while True:
        async with open_store(store_url) as store:
            record = await store.get_session(session_id)
        if record is not None and record.ended_at is not None:
            break
        assert time.monotonic() < deadline, f"session {session_id} never ended in the store"
        await asyncio.sleep(0.2)
    return [
        {
            "typed": t.user_text == TYPED,
            "spoken": bool(t.user_text) and t.user_text != TYPED,
            "interrupted": t.interrupted,
            "tools": [c.name for c in t.tool_calls],
            "heard": t.user_text,
        }
        for t in record.turns
    ]


def comparable(
    turns: list[dict[str, Any]], ref: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Two paths' turn records, as compared. A spoken turn's tools follow from the words
    heard, so they count only where both paths heard the same words: pocketsphinx now and then
    mishears a word of espeak's speech (whose samples vary a little between calls), which is
    no transport's doing, and the shop brain then searches its knowledge instead."""

    def keep(t: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
        same = not t["spoken"] or t["heard"] == other.get("heard")
        return {k: v for k, v in t.items() if k != "heard" and (same or k != "tools")}

    return (
        [keep(t, ref[i] if i < len(ref) else {}) for i, t in enumerate(turns)],
        [keep(r, turns[i] if i < len(turns) else {}) for i, r in enumerate(ref)],
    )


@pytest.fixture(scope="module")
def shop_server() -> Iterator[Any]:
    from tests.e2e.harness import ServerThread

    with tempfile.TemporaryDirectory(prefix="causerie-contract-") as tmp:
        server = ServerThread(agent_file=ROOT / "shop.yaml", overrides=overrides(Path(tmp))).start()
        try:
            yield server
        finally:
            server.stop()


# -- the test -----------------------------------------------------------------------------


async def run_over(path: str, tmp: Path, server: Any) -> dict[str, Any]:
    opened = {
        "file": lambda: file_path(tmp),
        "websocket": lambda: ws_path(server),
        "webrtc": lambda: webrtc_path(server),
        "livekit": lambda: livekit_path(tmp),
    }[path]()
    async with opened as (peer, session_id):
        marks = await converse(peer)
        result = outcome(peer, marks)
        sid = session_id()
    served = path in ("websocket", "webrtc")
    store_url = server.store_url if served else overrides(tmp)["metrics.store_url"]
    result["turns"] = await turns_of(store_url, sid)
    return result


async def test_every_transport_keeps_the_contract(shop_server: Any, tmp_path: Path) -> None:
    results: dict[str, dict[str, Any]] = {}
    for path in ("file", "websocket", "webrtc", "livekit"):
        tmp = tmp_path / path
        tmp.mkdir()
        results[path] = await run_over(path, tmp, shop_server)

    reference = results["file"]
    # The script's own facts, on the reference path.
    assert reference["cart"] is not None and reference["cart"]["item_count"] == 1
    assert [i.get("product_id") for i in reference["cart"]["items"]] == [PRODUCT]
    assert reference["heard_while_muted"] == []
    assert reference["milestones"][:2] == ["cart_updated", "pong"]
    assert "interrupted" in reference["milestones"]
    assert any(t["typed"] for t in reference["turns"])
    assert any(t["interrupted"] and t["spoken"] for t in reference["turns"])
    # Every transport: the same events, cart and turn records.
    for path, got in results.items():
        for key in ("types", "milestones", "heard_while_muted", "cart"):
            assert got[key] == reference[key], f"{path}: {key} differs from the file path"
        mine, ref_turns = comparable(got["turns"], reference["turns"])
        assert mine == ref_turns, f"{path}: turns differ: {got['turns']} != {reference['turns']}"
