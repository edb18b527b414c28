"""A declared tool reaches the agent as a livekit function tool and is called through the real
function-calling path: by the scripted brain and by an OpenAI-compatible model (a local fake
server speaking the protocol), against a real local HTTP API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from livekit.agents.voice import AgentSession

from causerie.agent.faults import Faults
from causerie.agent.session import build_agent
from causerie.config import load_config
from causerie.errors import ConfigError
from causerie.providers.info import BuildContext
from causerie.providers.registry import Registry
from causerie.userdata import SessionData
from tests.api_service import ApiServer
from tests.integration.openai_compat_server import FakeOpenAIServer

TOOL_YAML = """\
name: order_status
description: Look up the status of a customer's order from its number.
parameters:
  type: object
  properties:
    order_id: {type: string, title: order number, pattern: "[A-Z][0-9]{4}"}
  required: [order_id]
request:
  url: "${ORDER_API_URL}/orders/{{ order_id }}"
  headers: {Authorization: "Bearer ${ORDER_API_TOKEN}"}
response:
  template: "Order {{ order_id }} is {{ response.order.status }}."
  errors: {404: "There is no order {{ order_id }}."}
ui_event:
  card:
    title: "Order {{ order_id }}"
    fields: {Status: "{{ response.order.status }}", Carrier: "{{ response.order.carrier }}"}
triggers: [order status, where is my order, ma commande]
"""


@pytest.fixture
async def api() -> AsyncIterator[ApiServer]:
    srv = ApiServer()
    await srv.start()
    yield srv
    await srv.stop()


def agent_dir(tmp_path: Path, llm: str = "provider: scripted") -> Path:
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "order_status.yaml").write_text(TOOL_YAML)
    (tmp_path / "agent.yaml").write_text(f"name: Shopkeeper\nllm: {{{llm}}}\n")
    return tmp_path / "agent.yaml"


async def run_turns(
    config: Path, env: dict[str, str], texts: list[str]
) -> tuple[list[Any], list[dict[str, Any]]]:
    registry = Registry.from_entry_points()
    loaded = load_config(config, environ=env, dotenv=None, registry=registry)
    llm = registry.build("llm", loaded.spec.llm, BuildContext(language="en", env=env))
    data = SessionData()
    events: list[dict[str, Any]] = []
    data.events.subscribe(events.append)
    session: AgentSession[SessionData] = AgentSession(llm=llm, userdata=data)
    await session.start(build_agent(loaded, Faults()))
    try:
        results = [await session.run(user_input=t) for t in texts]
    finally:
        await session.aclose()
    return results, events


def calls(result: Any) -> list[tuple[str, dict[str, Any]]]:
    return [
        (e.item.name, json.loads(e.item.arguments))
        for e in result.events
        if e.type == "function_call"
    ]


def reply(result: Any) -> str:
    return " ".join(e.item.text_content or "" for e in result.events if e.type == "message").strip()


def env_for(api: ApiServer) -> dict[str, str]:
    return {"ORDER_API_URL": api.url, "ORDER_API_TOKEN": "s3cret-token"}


async def test_scripted_brain_calls_the_declared_tool(api: ApiServer, tmp_path: Path) -> None:
    results, events = await run_turns(
        agent_dir(tmp_path), env_for(api), ["What is the order status of A1001?"]
    )
    result = results[0]
    assert calls(result) == [("order_status", {"order_id": "A1001"})]
    outputs = [e.item for e in result.events if e.type == "function_call_output"]
    assert [(o.output, o.is_error) for o in outputs] == [("Order A1001 is shipped.", False)]
    assert reply(result) == "Order A1001 is shipped."
    cards = [e for e in events if e["type"] == "tool_card"]
    assert cards[0]["tool"] == "order_status"
    assert cards[0]["card"]["title"] == "Order A1001"
    assert cards[0]["card"]["fields"][1] == {"label": "Carrier", "value": "La Poste"}
    assert api.requests[-1]["headers"]["Authorization"] == "Bearer s3cret-token"


async def test_scripted_brain_asks_for_a_missing_argument_then_says_the_error(
    api: ApiServer, tmp_path: Path
) -> None:
    results, _ = await run_turns(
        agent_dir(tmp_path), env_for(api), ["where is my order", "it is B2002"]
    )
    assert calls(results[0]) == [] and "order number" in reply(results[0])
    assert calls(results[1]) == [("order_status", {"order_id": "B2002"})]
    err = next(e.item for e in results[1].events if e.type == "function_call_output")
    assert err.is_error and err.output == "There is no order B2002."
    assert reply(results[1]) == "There is no order B2002."


async def test_openai_compatible_model_calls_the_declared_tool(
    api: ApiServer, tmp_path: Path
) -> None:
    pytest.importorskip("livekit.plugins.openai", reason="pip install 'causerie[openai]'")
    fake = FakeOpenAIServer(
        "Here is what I found:", tool_call=("order_status", {"order_id": "A1002"})
    )
    base = await fake.start()
    try:
        config = agent_dir(tmp_path, f"provider: ollama, model: llama3.2, base_url: {base}")
        results, events = await run_turns(config, env_for(api), ["Where is order A1002?"])
    finally:
        await fake.stop()
    # The model was offered the declared tool with its JSON Schema...
    offered = fake.requests[0]["tools"]
    assert offered[0]["function"]["name"] == "order_status"
    assert offered[0]["function"]["parameters"]["required"] == ["order_id"]
    # ...called it, got the mapped text back as the tool message, and said it.
    assert calls(results[0]) == [("order_status", {"order_id": "A1002"})]
    tool_msgs = [m for m in fake.requests[1]["messages"] if m.get("role") == "tool"]
    assert tool_msgs[0]["content"] == "Order A1002 is preparing."
    assert reply(results[0]) == "Here is what I found: Order A1002 is preparing."
    assert [e["card"]["title"] for e in events if e["type"] == "tool_card"] == ["Order A1002"]


async def test_a_missing_secret_refuses_to_start_naming_tool_and_variable(
    tmp_path: Path,
) -> None:
    loaded = load_config(agent_dir(tmp_path), environ={"ORDER_API_URL": "http://x"}, dotenv=None)
    with pytest.raises(ConfigError, match=r"api_tools\[order_status\].*ORDER_API_TOKEN"):
        build_agent(loaded, Faults())


async def test_a_secret_echoed_by_the_api_never_reaches_the_chat_or_the_records(
    api: ApiServer, tmp_path: Path
) -> None:
    (tmp_path / "agent.yaml").write_text(
        "llm: {provider: scripted}\napi_tools:\n"
        "  - name: echo_key\n    description: Echo.\n    triggers: [echo]\n"
        "    request: {url: '${ORDER_API_URL}/echo', query: {key: '${ORDER_API_TOKEN}'}}\n"
    )
    results, _ = await run_turns(tmp_path / "agent.yaml", env_for(api), ["echo please"])
    assert api.requests[-1]["query"] == {"key": "s3cret-token"}  # the API got it
    outputs = [e.item.output for e in results[0].events if e.type == "function_call_output"]
    assert outputs == ['{"query":{"key":"********"}}']
    assert "s3cret-token" not in reply(results[0])
