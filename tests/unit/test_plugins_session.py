"""Plugin hooks inside a real AgentSession with CauserieAgent: typed turns (session.run),
spoken turns (on_user_turn_completed), the agent's text, session start and end."""

from __future__ import annotations

import asyncio
import types
from pathlib import Path
from typing import Any

import pytest
from livekit.agents import StopResponse, llm
from livekit.agents.voice import AgentSession

from causerie.agent.faults import Faults
from causerie.agent.voice_agent import CauserieAgent
from causerie.plugins import PluginHost, hookimpl
from causerie.providers.local.scripted.brain import Reply, Turn
from causerie.providers.local.scripted.llm import ScriptedLLM
from causerie.userdata import SessionData


class Echo:
    """Says what it read: the user's text and the system notes (instructions + context)."""

    name = "echo"

    def respond(self, turn: Turn) -> Reply:
        return Reply(f"You said: {turn.user_text}. Notes: {turn.instructions}")

    def after_tools(self, turn: Turn) -> None:
        return None


def plugin(**hooks: Any) -> types.SimpleNamespace:
    return types.SimpleNamespace(**{name: hookimpl(fn) for name, fn in hooks.items()})


async def start(
    tmp_path: Path,
    *plugins: tuple[str, Any],
    greeting: str | None = None,
    faults: Faults | None = None,
) -> tuple[AgentSession, CauserieAgent, SessionData]:
    host = PluginHost(names=[], data_dir=tmp_path)
    for name, p in plugins:
        host.register(name, p)
    data = SessionData(identity="u1")
    session: AgentSession = AgentSession(llm=ScriptedLLM(skills=[Echo()]), userdata=data)
    agent = CauserieAgent(
        instructions="Base.",
        language="en",
        faults=faults or Faults(),
        max_response_time=5,
        greeting=greeting,
        plugins=host,
    )
    await session.start(agent)
    return session, agent, data


def replies(result: Any) -> list[str]:
    return [e.item.text_content for e in result.events if e.type == "message"]


def history(session: AgentSession) -> list[tuple[str, str]]:
    return [
        (i.role, i.text_content) for i in session.history.items if isinstance(i, llm.ChatMessage)
    ]


async def test_typed_turn_rewrite_and_context(tmp_path: Path) -> None:
    def hook(message: Any) -> None:
        message.rewrite(message.text.replace("colour", "color"))
        message.add_context("The user is in a hurry.")

    session, _, _ = await start(tmp_path, ("a", plugin(causerie_user_message=hook)))
    try:
        [reply] = replies(await session.run(user_input="the colour red"))
        assert reply == "You said: the color red. Notes: Base.\n\nThe user is in a hurry."
        assert ("user", "the color red") in history(session)  # the rewrite is what is kept
    finally:
        await session.aclose()


async def test_typed_turn_block_answers_without_the_llm(tmp_path: Path) -> None:
    session, _, _ = await start(
        tmp_path,
        (
            "guard",
            plugin(
                causerie_user_message=lambda message: (
                    message.block("Not that, please.") if "x" in message.text else None
                )
            ),
        ),
    )
    try:
        assert replies(await session.run(user_input="x marks the spot")) == ["Not that, please."]
        assert replies(await session.run(user_input="hello"))[0].startswith("You said: hello")
    finally:
        await session.aclose()


async def test_agent_text_rewrites_llm_replies_and_own_speech(tmp_path: Path) -> None:
    rewrite = plugin(
        causerie_agent_text=lambda text, index: f"<{index}>{text.replace('said', 'told me')}"
    )
    session, _, _ = await start(tmp_path, ("r", rewrite), greeting="Hi. Welcome!")
    try:
        [reply] = replies(await session.run(user_input="one. two"))
        assert reply.startswith("<0>You told me: one. <1>two.")
        assert ("assistant", "<0>Hi. Welcome!") in history(
            session
        )  # the greeting went through it too
    finally:
        await session.aclose()


async def test_session_start_note_and_end_hook(tmp_path: Path) -> None:
    ended: list[list[tuple[str, str]]] = []
    p = plugin(
        causerie_session_start=lambda session: f"Known user: {session.identity}.",
        causerie_session_end=lambda session: ended.append(session.history()),
    )
    session, agent, _ = await start(tmp_path, ("mem", p))
    [reply] = replies(await session.run(user_input="hi"))
    assert "Known user: u1." in reply and "Base." in reply
    await session.aclose()
    assert ended and ended[0][0] == ("user", "hi") and ended[0][1][0] == "assistant"
    await agent.end_plugins()
    assert len(ended) == 1  # once only


async def test_a_first_turn_waits_for_an_async_session_start(tmp_path: Path) -> None:
    ended: list[str] = []

    async def from_a_store(session: Any) -> str:
        await asyncio.sleep(0.2)  # a store read; livekit runs on_enter as a task meanwhile
        session.state["loaded"] = True
        return "Remembered: likes goat cheese."

    async def write(session: Any) -> None:
        await asyncio.sleep(0)
        ended.append(session.session_id)

    p = plugin(causerie_session_start=from_a_store, causerie_session_end=write)
    session, _, data = await start(tmp_path, ("mem", p))
    [reply] = replies(await session.run(user_input="hi"))  # sent at once, before the note
    assert "Remembered: likes goat cheese." in reply and data.state["loaded"]
    await session.aclose()
    assert ended == [data.session_id]


async def test_failing_plugin_is_recorded_as_a_fault_and_skipped(tmp_path: Path) -> None:
    faults = Faults()
    session, _, _ = await start(
        tmp_path, ("bad", plugin(causerie_user_message=lambda message: 1 / 0)), faults=faults
    )
    try:
        assert replies(await session.run(user_input="hello"))[0].startswith("You said: hello")
        assert faults.counts["plugin:bad:causerie_user_message"] == 1
    finally:
        await session.aclose()


async def test_spoken_turn_goes_through_on_user_turn_completed(tmp_path: Path) -> None:
    def hook(message: Any) -> None:
        if "stop" in message.text:
            message.block("Stopped.")
        else:
            message.rewrite(message.text + "!")
            message.add_context("spoken")

    session, agent, _ = await start(tmp_path, ("v", plugin(causerie_user_message=hook)))
    try:
        ctx = llm.ChatContext()
        msg = llm.ChatMessage(role="user", content=["go"])
        await agent.on_user_turn_completed(ctx, msg)
        assert msg.text_content == "go!" and ctx.items[-1].text_content == "spoken"  # type: ignore[union-attr]
        with pytest.raises(StopResponse):
            await agent.on_user_turn_completed(
                llm.ChatContext(), llm.ChatMessage(role="user", content=["stop"])
            )
        # The same message is not hooked twice when llm_node sees it.
        assert msg.id in agent._handled
    finally:
        await session.aclose()


async def test_bare_session_gets_session_data(tmp_path: Path) -> None:
    session: AgentSession = AgentSession(llm=ScriptedLLM(skills=[Echo()]))
    agent = CauserieAgent(
        instructions="x",
        language="fr",
        faults=Faults(),
        max_response_time=5,
        plugins=PluginHost(names=["example"], data_dir=tmp_path),
    )
    await session.start(agent)
    try:
        assert isinstance(session.userdata, SessionData) and session.userdata.language == "fr"
        assert replies(await session.run(user_input="/ping")) == ["pong"]
    finally:
        await session.aclose()
