"""The OpenAI-compatible LLM path (Ollama, vLLM, llama.cpp), tested against a local server
that speaks the protocol, through the same builder and agent as production."""

from __future__ import annotations

import pytest
from livekit.agents.voice import AgentSession

from causerie.agent.faults import Faults, apology
from causerie.agent.session import build_agent
from causerie.config import load_config
from causerie.errors import MissingKeyError
from causerie.providers.info import BuildContext
from causerie.providers.registry import Registry
from tests.integration.openai_compat_server import FakeOpenAIServer

pytest.importorskip(
    "livekit.plugins.openai", reason="needs the openai extra: pip install 'causerie[openai]'"
)


async def _run(env: dict[str, str], text: str, faults: Faults) -> list[str]:
    registry = Registry.from_entry_points()
    loaded = load_config(None, environ=env, dotenv=None, registry=registry)
    llm = registry.build("llm", loaded.spec.llm, BuildContext(language="en", env=env))
    session: AgentSession = AgentSession(llm=llm)
    await session.start(build_agent(loaded, faults))
    try:
        result = await session.run(user_input=text)
        return [e.item.text_content for e in result.events if e.type == "message"]  # type: ignore[misc]
    finally:
        await session.aclose()


async def test_ollama_provider_talks_to_a_local_server() -> None:
    server = FakeOpenAIServer("Bonjour from llama.")
    base = await server.start()
    try:
        env = {
            "LLM_PROVIDER": "ollama",
            "LLM_MODEL": "llama3.2",
            "LLM_BASE_URL": base,
            "AGENT_INSTRUCTIONS": "Be terse.",
        }
        assert await _run(env, "hi there", Faults()) == ["Bonjour from llama."]
        body = server.requests[0]
        assert body["model"] == "llama3.2" and body["stream"] is True
        contents = [m.get("content") for m in body["messages"]]
        assert any("Be terse." in str(c) for c in contents)
        assert any("hi there" in str(c) for c in contents)
    finally:
        await server.stop()


async def test_openai_provider_with_base_url_sends_the_key_and_never_logs_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = FakeOpenAIServer("Hi.")
    base = await server.start()
    try:
        env = {
            "LLM_PROVIDER": "openai",
            "LLM_BASE_URL": base,
            "OPENAI_API_KEY": "sk-test-secret-123",
        }
        caplog.set_level("DEBUG")
        assert await _run(env, "hello", Faults()) == ["Hi."]
        assert server.headers[0].get("Authorization") == "Bearer sk-test-secret-123"
        assert "sk-test-secret-123" not in caplog.text
    finally:
        await server.stop()


async def test_unreachable_server_gives_an_apology_not_a_crash() -> None:
    faults = Faults()
    env = {"LLM_PROVIDER": "ollama", "LLM_BASE_URL": "http://127.0.0.1:9/v1"}
    assert await _run(env, "hello", faults) == [apology("en")]
    assert faults.counts["llm"] == 1


def test_openai_without_key_names_the_variable() -> None:
    registry = Registry.from_entry_points()
    loaded = load_config(None, environ={"LLM_PROVIDER": "openai"}, dotenv=None, registry=registry)
    with pytest.raises(MissingKeyError, match="OPENAI_API_KEY"):
        registry.build("llm", loaded.spec.llm, BuildContext(env={}))
