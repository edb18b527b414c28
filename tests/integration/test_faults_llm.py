"""Fault matrix: the LLM server unreachable, answering 500, hanging, dropping mid-stream.

One conversation with the real server (``causerie serve``), its LLM a local
OpenAI-compatible server that misbehaves on purpose between turns: each failure gets the
short spoken apology (the agent's ``max_response_time`` bounds the wait), and the turn after
it is answered by the model. Every turn is in the store afterwards. (A fallback chain
taking over: tests/integration/test_fallback_chain.py.)"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
from aiohttp import web

from causerie.agent.faults import apology
from causerie.store import open_store
from tests.e2e.harness import WsClient
from tests.integration.openai_compat_server import FakeOpenAIServer
from tests.serve_process import ServeProcess, free_port

pytest.importorskip("livekit.plugins.openai", reason="pip install 'causerie[openai]'")
pytestmark = pytest.mark.slow

MAX_RESPONSE = 4.0
AGENT = """\
name: Faulty
instructions: Be brief.
llm: {{provider: openai, model: gpt-4o-mini, base_url: "http://127.0.0.1:{port}/v1"}}
turn: {{max_response_time: {max_response}}}
"""
APOLOGIES = (apology("en"), apology("en", timeout=True))
REPLY = "Hello from the local model."


class MisbehavingLLM(FakeOpenAIServer):
    """The fake OpenAI server on a port fixed in advance: "unreachable" until started."""

    async def start_on(self, port: int) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.port = port


async def ask(c: WsClient, text: str) -> dict:  # type: ignore[type-arg]
    n = len([e for e in c.of("agent_transcript") if e["final"]])
    speaking = len([e for e in c.of("agent_state") if e["state"] == "speaking"])
    await c.ws.send(f'{{"type": "text", "text": "{text}"}}')
    reply = await c.wait_for(
        lambda e: (
            e["type"] == "agent_transcript"
            and e["final"]
            and len([x for x in c.of("agent_transcript") if x["final"]]) > n
        ),
        within=60,
    )
    # Spoken, not only written: the agent went to "speaking" and its audio came.
    assert len([e for e in c.of("agent_state") if e["state"] == "speaking"]) > speaking
    await c.wait_for(lambda e: e["type"] == "agent_state" and e["state"] == "listening")
    return reply


async def test_llm_failures_get_an_apology_and_the_next_turn_works(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "agent.yaml").write_text(AGENT.format(port=port, max_response=MAX_RESPONSE))
    store = tmp_path / "c.sqlite3"
    llm = MisbehavingLLM(REPLY)
    proc = ServeProcess(tmp_path, store, env={"OPENAI_API_KEY": "sk-fake"})
    server = await asyncio.to_thread(proc.wait_ready)
    asked: list[str] = []
    try:
        async with WsClient(server.ws_url) as c:
            await c.wait_for(lambda e: e["type"] == "ready")
            for failure in ("unreachable", "500", "hang", "drop"):
                if failure != "unreachable":
                    llm.fail = failure  # type: ignore[assignment]
                reply = await ask(c, f"are you there {failure}")
                assert reply["text"] in APOLOGIES, (failure, reply["text"])
                if failure == "unreachable":
                    await llm.start_on(port)
                llm.fail = None
                reply = await ask(c, "hello again")
                assert reply["text"] == REPLY, failure
                asked += [f"are you there {failure}", "hello again"]
            assert c.close_code is None  # the session never died
    finally:
        llm._release.set()  # a hung handler returns
        proc.signal(signal.SIGTERM)
        await asyncio.to_thread(proc.proc.wait, 60)
        await llm.stop()
    async with open_store(f"sqlite:///{store}") as s:
        (summary,) = (await s.list_sessions()).items
        rec = await s.get_session(summary.id)
        errors = await s.list_errors(session_id=summary.id)
    assert rec is not None
    assert [t.user_text for t in rec.turns] == asked
    assert [t.agent_text in APOLOGIES for t in rec.turns] == [True, False] * 4
    assert len([e for e in errors if e.component == "llm"]) >= 4
