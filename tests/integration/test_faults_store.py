"""Fault matrix, store, with the real server: its SQLite disk fills up mid-conversation.

The conversation goes on (the voice path only enqueues records); ``/metrics`` shows the
store failing; once space is back the buffered records are written, none is lost, and the
file passes ``PRAGMA integrity_check``. (Each outage kind on its own, with the buffer's bound
and the drop count: tests/integration/test_store.py.)"""

from __future__ import annotations

import asyncio
import re
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from causerie.store import open_store
from tests.e2e.harness import WsClient
from tests.serve_process import ServeProcess
from tests.waiting import until

pytestmark = pytest.mark.slow


@pytest.fixture(name="volume")
def _volume(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "volume"
    folder.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)]
    if subprocess.run(mount, capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs needs root (CAP_SYS_ADMIN)")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=True)


def fill(folder: Path) -> None:
    with open(folder / "filler", "wb") as f:
        try:
            while True:
                f.write(bytes(64 * 1024))
                f.flush()
        except OSError:  # ENOSPC
            pass


def metric(port: int, name: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    found = re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M)
    return sum(float(x) for x in found)


async def ask(c: WsClient, text: str) -> str:
    n = len([e for e in c.of("agent_transcript") if e["final"]])
    await c.ws.send(f'{{"type": "text", "text": "{text}"}}')
    await c.wait_for(
        lambda e: (
            e["type"] == "agent_transcript"
            and e["final"]
            and len([x for x in c.of("agent_transcript") if x["final"]]) > n
        ),
        within=60,
    )
    await c.wait_for(lambda e: e["type"] == "agent_state" and e["state"] == "listening")
    return str([e for e in c.of("agent_transcript") if e["final"]][n]["text"])


async def test_a_full_disk_never_stalls_the_conversation(tmp_path: Path, volume: Path) -> None:
    store = volume / "c.sqlite3"
    server = await asyncio.to_thread(ServeProcess(tmp_path, store).wait_ready)
    port = server.port
    try:
        async with WsClient(server.ws_url) as c:
            await c.wait_for(lambda e: e["type"] == "ready")
            await ask(c, "hello")
            await until(lambda: metric(port, "causerie_store_writes_total") > 0, "a first write")
            fill(volume)
            # The disk is full: the agent still answers every question.
            for q in ("who are you", "what can you do", "thank you"):
                assert await ask(c, q)
            await until(
                lambda: metric(port, "causerie_store_write_failures_total") > 0,
                "the store to report failing writes",
            )
            assert metric(port, "causerie_store_healthy") == 0
            (volume / "filler").unlink()
            await until(lambda: metric(port, "causerie_store_healthy") == 1, "the store to recover")
            assert metric(port, "causerie_store_pending") == 0
            assert metric(port, "causerie_store_dropped_total") == 0
    finally:
        server.signal(signal.SIGTERM)
        await asyncio.to_thread(server.proc.wait, 60)
    async with open_store(f"sqlite:///{store}") as s:
        (summary,) = (await s.list_sessions()).items
        rec = await s.get_session(summary.id)
    assert rec is not None and rec.outcome != "active"
    assert [t.user_text for t in rec.turns] == [
        "hello",
        "who are you",
        "what can you do",
        "thank you",
    ]
    with sqlite3.connect(store) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
