"""A provider shared by a process's sessions fails again and again: no session closes.

livekit relays a provider object's errors to every session that uses it, and closes a
session after more than ``max_unrecoverable_errors`` (3 by default) with no reply spoken in
between. One server's sessions share their providers, so a session that is only listening
would be closed by another user's failing turns. ``build_session`` lifts the limit (the
agent handles every error itself); each failed turn still gets its apology."""

from __future__ import annotations

from livekit.agents import llm
from livekit.agents.voice import AgentSession

from causerie.agent.faults import Faults, apology
from causerie.agent.pipeline import Pipeline
from causerie.agent.session import build_agent, build_session
from causerie.config import load_config
from tests.fakes import FlakyLLM

TURNS = 5  # failed turns in one session, all seen by the other: more than livekit's 3


def replies(session: AgentSession) -> list[str | None]:
    return [
        item.text_content
        for item in session.history.items
        if item.type == "message" and item.role == "assistant"
    ]


async def test_a_shared_failing_llm_closes_no_session() -> None:
    loaded = load_config(None, environ={}, dotenv=None)
    shared = FlakyLLM(set(range(1, 100)))
    errors: list[llm.LLMError] = []
    shared.on("error", errors.append)
    pipeline = Pipeline(stt=None, llm=shared, tts=None, vad=None)  # text: one LLM, shared
    closed: list[object] = []
    busy, listening = (build_session(loaded, pipeline) for _ in range(2))
    for session in (busy, listening):
        session.on("close", closed.append)
        await session.start(build_agent(loaded, Faults(), tools=[]))
    try:
        for turn in range(TURNS):
            await busy.run(user_input=f"hello number {turn}")
        assert len(errors) == TURNS and not any(e.recoverable for e in errors)
        assert not closed  # the listening session saw every error, and stays
        await listening.run(user_input="hello")
        assert replies(busy) == [apology("en")] * TURNS
        assert replies(listening) == [apology("en")]
        assert not closed
    finally:
        for session in (busy, listening):
            await session.aclose()
