"""The scripted brain: deterministic intents in English and French, tool calls, honesty."""

from __future__ import annotations

import pytest
from livekit.agents import function_tool
from livekit.agents.voice import Agent, AgentSession

from causerie.providers.local.scripted import ScriptedLLM
from causerie.providers.local.scripted.brain import Turn, normalize
from causerie.providers.local.scripted.smalltalk import SmallTalk


def turn(text: str, lang: str = "en", tools: frozenset[str] = frozenset()) -> Turn:
    return Turn(user_text=text, language=lang, tools=tools)


@pytest.mark.parametrize(
    ("text", "lang", "needle"),
    [
        ("Hello there", "en", "Hello!"),
        ("Bonjour !", "fr", "Bonjour"),
        ("what can you do", "en", "I can"),
        ("Que sais-tu faire ?", "fr", "Je peux"),
        ("who are you", "en", "simple script"),
        ("thank you", "en", "welcome"),
        ("merci beaucoup", "fr", "plaisir"),
        ("goodbye", "en", "Goodbye"),
        ("purple monkey dishwasher", "en", "I heard: purple monkey dishwasher"),
    ],
)
def test_intents(text: str, lang: str, needle: str) -> None:
    reply = ScriptedLLM(skills=[SmallTalk()], language=lang).decide(turn(text, lang))
    assert needle in reply.text  # type: ignore[union-attr]


def test_normalize_strips_accents_and_punctuation() -> None:
    assert normalize("Ça va, l'ami ?") == "ca va l ami"


def test_deterministic() -> None:
    a = ScriptedLLM().decide(turn("what can you do"))
    b = ScriptedLLM().decide(turn("what can you do"))
    assert a == b


def test_names_itself_and_is_honest() -> None:
    reply = ScriptedLLM(skills=[SmallTalk(agent_name="Zoe")]).decide(turn("what's your name"))
    assert "Zoe" in reply.text and "not a real language model" in reply.text  # type: ignore[union-attr]


def test_tool_call_only_when_the_tool_exists() -> None:
    lm = ScriptedLLM()
    calls = lm.decide(turn("what time is it", tools=frozenset({"current_time"})))
    assert isinstance(calls, list) and calls[0].name == "current_time"
    reply = lm.decide(turn("what time is it"))
    assert reply.text.startswith("It is")  # type: ignore[union-attr]


@function_tool
async def current_time() -> str:
    """Tell the current time."""
    return "10:42"


async def test_tool_call_through_the_real_function_calling_path() -> None:
    session: AgentSession = AgentSession(llm=ScriptedLLM())
    await session.start(Agent(instructions="x", tools=[current_time]))
    try:
        result = await session.run(user_input="What time is it?")
        result.expect.next_event().is_function_call(name="current_time")
        result.expect.next_event().is_function_call_output(output="10:42")
        result.expect.next_event().is_message(role="assistant")
        msgs = [e.item.text_content for e in result.events if e.type == "message"]
        assert msgs == ["It is 10:42."]
    finally:
        await session.aclose()


async def test_repeat_uses_history() -> None:
    session: AgentSession = AgentSession(llm=ScriptedLLM())
    await session.start(Agent(instructions="x"))
    try:
        first = await session.run(user_input="what can you do")
        said = first.events[-1].item.text_content  # type: ignore[union-attr]
        again = await session.run(user_input="can you repeat that again please")
        assert again.events[-1].item.text_content == said  # type: ignore[union-attr]
    finally:
        await session.aclose()
