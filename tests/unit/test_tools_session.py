"""The tools through a real AgentSession: function calling, events, errors, limits, orders."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from livekit.agents import RunContext, function_tool
from livekit.agents.voice import Agent, AgentSession

from causerie.appkit import AppRegistry
from causerie.apps.shop.base import ToolBox, guarded
from causerie.apps.shop.options import ShopOptions
from causerie.apps.shop.shop import load_shop
from causerie.apps.shop.toolset import tools_for
from causerie.providers.local.scripted.brain import Reply, ToolRequest, Turn
from causerie.providers.local.scripted.llm import ScriptedLLM
from causerie.userdata import SessionData
from tests.waiting import until


class Direct:
    """Calls the tool the user names: 'cart_add {"product": "comte"}'."""

    name = "direct"

    def respond(self, turn: Turn) -> list[ToolRequest]:
        name, _, args = turn.user_text.partition(" ")
        return [ToolRequest(name, json.loads(args or "{}"))]

    def after_tools(self, turn: Turn) -> Reply:
        return Reply(
            " | ".join(("ERROR " if r.is_error else "") + r.output for r in turn.tool_results)
        )


class Chatty(ScriptedLLM):
    """Asks for a tool after every tool result: only max_tool_steps stops it."""

    def decide(self, turn: Turn) -> Any:
        return [ToolRequest("cart_list", {})]


async def _session(
    tmp_path: Path, llm: Any = None, **opts: Any
) -> tuple[AgentSession, SessionData, list[dict]]:
    shop = load_shop(ShopOptions(data_dir=tmp_path, **opts))
    data = SessionData(session_id="s1", identity="u1")
    events: list[dict] = []
    data.events.subscribe(events.append)
    session: AgentSession = AgentSession(
        llm=llm or ScriptedLLM(skills=[Direct()]), userdata=data, max_tool_steps=3
    )
    await session.start(Agent(instructions="x", tools=tools_for(shop, ["all"])))
    return session, data, events


@pytest.fixture
async def shop(tmp_path: Path) -> AsyncIterator[tuple[AgentSession, SessionData, list[dict]]]:
    session, data, events = await _session(tmp_path)
    yield session, data, events
    await session.aclose()


async def say(session: AgentSession, line: str) -> str:
    result = await session.run(user_input=line)
    return " ".join(e.item.text_content or "" for e in result.events if e.type == "message")


async def test_cart_flow_and_events(shop: Any) -> None:
    session, data, events = shop
    out = json.loads(await say(session, 'cart_add {"product": "comte", "quantity": 2}'))
    assert out["items"][0]["product_id"] == "comte-18-mois" and out["total"] == 15.8
    await say(session, 'cart_add {"product": "miel-lavande"}')
    await say(session, 'cart_update_quantity {"product": "comte-18-mois", "quantity": 3}')
    await say(session, 'cart_remove {"product": "lavender honey"}')
    assert data.state["cart"] == {"comte-18-mois": 3}
    listed = json.loads(await say(session, "cart_list"))
    assert listed["total"] == 23.7 and listed["item_count"] == 3
    updates = [e for e in events if e["type"] == "cart_updated"]
    assert [e["action"] for e in updates] == ["add", "add", "update", "remove", "list"]
    assert updates[0]["items"][0] == {
        "product_id": "comte-18-mois",
        "name": "Comté aged 18 months",
        "unit": "250 g",
        "unit_price": 7.9,
        "quantity": 2,
        "line_total": 15.8,
    }


async def test_bad_arguments_are_errors_the_llm_sees(shop: Any) -> None:
    session, data, _ = shop
    for line, code in [
        ('cart_add {"product": "xyzzy"}', "unknown_product"),
        ('cart_add {"product": "beaufort"}', "ambiguous_product"),
        ('cart_add {"product": "comte", "quantity": 0}', "invalid_quantity"),
        ('cart_add {"product": "comte", "quantity": -4}', "invalid_quantity"),
        ('cart_add {"product": "comte", "quantity": 999}', "quantity_too_large"),
        ('cart_add {"product": "rillettes-canard"}', "out_of_stock"),
        ('cart_remove {"product": "comte"}', "not_in_cart"),
        ("place_order", "empty_cart"),
        ('compare_products {"products": ["comte"]}', "need_two_products"),
        ('search_products {"min_price": 9, "max_price": 2}', "invalid_price_range"),
    ]:
        reply = await say(session, line)
        assert reply.startswith("ERROR ") and f'"error":"{code}"' in reply, (line, reply)
    reply = await say(session, 'cart_add {"product": "comte", "quantity": "lots"}')
    assert reply.startswith("ERROR ") and "quantity" in reply  # livekit's argument validation
    assert data.state.get("cart", {}) == {}
    assert (
        json.loads(await say(session, 'search_products {"category": "cheese"}'))["total"] > 0
    )  # alive


async def test_order_is_validated_persisted_and_confirmed(tmp_path: Path) -> None:
    session, data, events = await _session(tmp_path)
    try:
        await say(session, 'session_memory_update {"name": "Ana"}')
        await say(session, 'cart_add {"product": "miel-acacia", "quantity": 2}')
        out = json.loads(await say(session, "place_order"))
        assert re.fullmatch(r"ORD-\d{8}-[0-9A-F]{6}", out["order_id"]) and out["total"] == 17.8
        saved = [json.loads(line) for line in (tmp_path / "orders.jsonl").read_text().splitlines()]
        assert saved[0]["order_id"] == out["order_id"] and saved[0]["customer_name"] == "Ana"
        assert saved[0]["items"][0]["quantity"] == 2 and saved[0]["identity"] == "u1"
        assert data.state["cart"] == {}
        confirmed = [e for e in events if e["type"] == "order_confirmed"]
        assert (
            confirmed
            and confirmed[0]["order_id"] == out["order_id"]
            and confirmed[0]["total"] == 17.8
        )
    finally:
        await session.aclose()


async def test_presentation_and_comparison_events(shop: Any) -> None:
    session, data, events = shop
    await say(session, 'search_products {"category": "honey", "max_price": 9}')
    await say(session, 'display_product {"product": "miel-acacia"}')
    await say(session, 'producer_info {"producer": "miel-acacia"}')
    await say(session, 'highlight_products {"products": ["miel-acacia"], "reason": "mild"}')
    table = json.loads(
        await say(
            session,
            'generate_benchmark {"products": ["comte", "summer beaufort"], '
            '"criteria": ["price", "price_per_unit", "aged_months"]}',
        )
    )
    assert [r["criterion"] for r in table["rows"]] == ["price", "price_per_unit", "aged_months"]
    assert table["rows"][1]["values"] == ["31.60/kg", "38.00/kg"]
    kinds = [(e["type"], e.get("context") or e.get("kind")) for e in events]
    assert kinds == [
        ("product_cards", "search"),
        ("product_cards", "detail"),
        ("product_cards", "producer"),
        ("highlight", None),
        ("comparison_table", "benchmark"),
    ]
    assert events[3]["product_ids"] == ["miel-acacia"] and events[3]["reason"] == "mild"
    assert data.state["last_products"] == ["comte-18-mois", "beaufort-ete"]


async def test_allergies_are_flagged_in_results(shop: Any) -> None:
    session, _, _ = shop
    await say(session, 'session_memory_update {"allergies": ["noix"]}')
    out = json.loads(await say(session, 'search_products {"query": "walnut"}'))
    assert all(p.get("contains_your_allergens") == ["nuts"] for p in out["products"])


async def test_max_tool_steps_bounds_tool_rounds(tmp_path: Path) -> None:
    session, _, _ = await _session(tmp_path, llm=Chatty())
    try:
        result = await session.run(user_input="loop")
        calls = [e for e in result.events if e.type == "function_call"]
        assert 1 <= len(calls) <= 4  # max_tool_steps=3: the session stops the loop
    finally:
        await session.aclose()


class Slow(ToolBox):
    @function_tool()
    @guarded
    async def slow_tool(self, ctx: RunContext[Any], seconds: float = 1.0) -> str:
        """Sleeps.

        Args:
            seconds: How long.
        """
        await asyncio.sleep(seconds)
        return "done"

    @function_tool()
    @guarded
    async def broken_tool(self, ctx: RunContext[Any]) -> str:
        """Fails."""
        raise KeyError("bug")


async def test_timeout_and_crash_become_tool_errors(tmp_path: Path) -> None:
    shop_ = load_shop(ShopOptions(data_dir=tmp_path, tool_timeout=0.1))
    box = Slow(shop_)
    session: AgentSession = AgentSession(llm=ScriptedLLM(skills=[Direct()]), userdata=SessionData())
    await session.start(Agent(instructions="x", tools=[box.slow_tool, box.broken_tool]))
    try:
        assert '"error":"timeout"' in await say(session, 'slow_tool {"seconds": 2}')
        assert '"error":"internal_error"' in await say(session, "broken_tool")
        assert "done" in await say(session, 'slow_tool {"seconds": 0.01}')
    finally:
        await session.aclose()


async def test_client_action_applies_and_acknowledges(shop: Any) -> None:
    session, data, events = shop
    handle_client_action = AppRegistry.from_entry_points().client_action  # as Runtime does
    out = await handle_client_action(
        session,
        {
            "type": "custom_action",
            "action": "add_to_cart",
            "data": {"product_id": "miel-acacia", "quantity": 2},
        },
    )
    assert (
        out["ok"] and data.state["cart"] == {"miel-acacia": 2} and "17.80 euros" in out["message"]
    )
    bad = await handle_client_action(
        session, {"type": "user_interaction", "action": "add_to_cart", "product_id": "nope"}
    )
    assert not bad["ok"] and bad["message"].startswith("Sorry")
    odd = await handle_client_action(session, {"type": "custom_action", "action": "dance"})
    assert not odd["ok"] and "unknown action" in odd["message"]
    await handle_client_action(
        session, {"type": "custom_action", "action": "view_product", "product_id": "comte"}
    )
    types = [e["type"] for e in events]
    assert types.count("cart_updated") == 1 and "product_cards" in types

    def said() -> list[str]:
        items = session.history.items
        return [i.text_content or "" for i in items if getattr(i, "role", "") == "assistant"]

    # Acknowledged out loud, and in the history.
    await until(lambda: any("Acacia honey" in t for t in said()), "the spoken acknowledgement")
