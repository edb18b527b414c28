"""Apps plug into the platform through the ``causerie.apps`` entry points: tool groups with
typed options, scripted-brain skills and client actions; a test app uses the same contract."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
from livekit.agents import RunContext, function_tool, llm
from livekit.agents.llm.utils import build_legacy_openai_schema
from livekit.agents.voice import Agent, AgentSession
from pydantic import Field

from causerie.appkit import App, AppContext, AppOptions, AppRegistry
from causerie.appkit.tool import AppTool, resources_of
from causerie.errors import ConfigError
from causerie.providers.local.scripted.llm import ScriptedLLM, load_skill
from causerie.userdata import SessionData

APPS = AppRegistry.from_entry_points()


def test_built_in_apps_register_through_entry_points() -> None:
    assert [a.name for a in APPS.apps] == ["appointments", "shop"]
    assert APPS.expand(["booking"]) == ["list_slots", "book_appointment", "cancel_appointment"]
    assert APPS.expand(["shop"]) == [t for t in APPS.tools if t not in APPS.groups["booking"]]
    assert set(APPS.skill_names) == {"shop", "appointments"}
    with pytest.raises(ValueError, match="unknown scripted skill 'haiku'; known skills: ap"):
        load_skill("haiku", "X", APPS)


def test_options_are_typed_per_app(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"tool_options: unknown option\(s\) slot; known: "):
        APPS.build_tools(["booking"], {"slot": ["monday 9:00"]}, tmp_path)
    with pytest.raises(ConfigError, match=r"tool_options.appointments.tool_timeout: Input should"):
        APPS.build_tools(["booking"], {"appointments": {"tool_timeout": "soon"}}, tmp_path)
    # Nested options for two apps at once; relative paths are relative to agent.yaml's folder.
    tools = APPS.build_tools(
        ["booking", "cart"],
        {"appointments": {"slots": ["friday 8:00"]}, "shop": {"data_dir": "orders"}},
        tmp_path,
    )
    res = resources_of(tools)
    assert res["desk"].options.slots == ("friday 8:00",)
    assert res["shop"].options.data_dir == tmp_path / "orders"


def test_tool_metadata_is_our_own_not_hung_on_livekit(tmp_path: Path) -> None:
    tools = APPS.build_tools(["search_products"], {}, tmp_path)
    (tool,) = tools
    assert isinstance(tool, AppTool) and isinstance(tool, llm.FunctionTool)
    assert "scripted_resources" not in vars(tool) and "catalogue" in tool.resources
    inner = tool.__wrapped__  # type: ignore[attr-defined]  # functools.update_wrapper
    assert not hasattr(inner, "resources") and not hasattr(inner, "scripted_resources")
    assert build_legacy_openai_schema(tool) == build_legacy_openai_schema(inner)


class EchoOptions(AppOptions):
    prefix: str = Field(default="echo", min_length=1)


class EchoBox:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    @function_tool
    async def echo(self, ctx: RunContext[Any], text: str) -> str:
        """Say the text back.

        Args:
            text: What to say back.
        """
        return f"{self.prefix}: {text}"


class EchoApp(App):
    """A third party's app, declared exactly as the built-in ones."""

    name = "echo"
    groups: ClassVar = {"echoing": ("echo",)}
    skills = ()

    def options_model(self) -> type[AppOptions]:
        return EchoOptions

    def build_tools(self, options: AppOptions, names: Sequence[str], ctx: AppContext) -> list:
        assert isinstance(options, EchoOptions)
        return [AppTool(EchoBox(options.prefix).echo, {})]

    async def client_action(self, session: Any, event: dict[str, Any]) -> dict[str, Any] | None:
        if event.get("action") != "ping":
            return None
        return {"ok": True, "action": "ping", "message": "pong"}


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[tuple[AgentSession, SessionData, list[dict]]]:
    registry = AppRegistry((*APPS.apps, EchoApp()))
    options = {"appointments": {"slots": ["monday 9:00"]}}  # two apps: one mapping each
    tools = registry.build_tools(["booking", "echoing"], options, tmp_path)
    data = SessionData(session_id="s1")
    events: list[dict] = []
    data.events.subscribe(events.append)
    brain = ScriptedLLM(skills=[load_skill("appointments", "Desk", registry)])
    session: AgentSession = AgentSession(llm=brain, userdata=data)
    await session.start(Agent(instructions="x", tools=tools))
    yield session, data, events
    await session.aclose()


async def say(session: AgentSession, line: str) -> str:
    result: Any = await session.run(user_input=line)
    return " ".join(e.item.text_content or "" for e in result.events if e.type == "message")


async def test_the_appointments_skill_books_offline(desk: Any) -> None:
    session, data, events = desk
    assert "Monday 9:00" in await say(session, "When are you free?")
    assert "on Monday at 9:00" in await say(session, "Monday at 9 please")
    assert data.state["booking"] == "monday 9:00"
    assert {"type": "appointment", "action": "booked", "slot": "monday 9:00"}.items() <= (
        events[-1].items()
    )
    assert "No slot" in await say(session, "Can I come on Sunday at 7?")
    assert "cancelled" in await say(session, "cancel it")
    assert "booking" not in data.state


async def test_clicks_go_to_the_app_that_takes_them(desk: Any) -> None:
    session, data, events = desk
    registry = AppRegistry((*APPS.apps, EchoApp()))
    done = await registry.client_action(session, {"action": "book_slot", "slot": "monday 9"})
    assert done["ok"] and data.state["booking"] == "monday 9:00"
    assert events[-1] == {**events[-1], "type": "status_update", "ok": True}
    assert await registry.client_action(session, {"action": "ping"}) == {
        "ok": True,
        "action": "ping",
        "message": "pong",
    }
    # A shop click on an agent without the shop: the shop answers it, out loud.
    shop = await registry.client_action(session, {"action": "add_to_cart", "product_id": "x"})
    assert not shop["ok"] and "no shop tools" in shop["message"]
    nobody = await AppRegistry(()).client_action(session, {"action": "dance"})
    assert nobody == {"ok": False, "action": "dance", "message": "unknown action 'dance'"}


def test_config_check_names_a_bad_tool_option() -> None:
    from causerie.config.loader import load_config
    from causerie.runtime.checks import check_tool_options

    shop = Path(__file__).resolve().parents[2] / "shop.yaml"
    loaded = load_config(
        shop, overrides={"tool_options.catalog": "x", "tool_options.max_quantity": 0}, dotenv=None
    )
    problems = {p.field: p.message for p in check_tool_options(loaded)}
    assert problems["tool_options"].startswith("unknown option(s) catalog; known: catalogue")
    assert "greater than or equal to 1" in problems["tool_options.max_quantity"]
    assert check_tool_options(load_config(shop, dotenv=None)) == []


def test_cli_lists_the_apps() -> None:
    from click.testing import CliRunner

    from causerie.cli.main import cli

    out = CliRunner().invoke(cli, ["apps", "--options"])
    assert out.exit_code == 0, out.output
    assert "shop: Voice shop assistant" in out.output
    assert "  tools  booking: list_slots, book_appointment, cancel_appointment" in out.output
    assert "  skills appointments" in out.output
    assert "  option max_quantity = 20  (per product and order)" in out.output


def test_two_apps_may_not_claim_one_name() -> None:
    class Twin(EchoApp):
        name = "twin"

    with pytest.raises(ConfigError, match="apps 'echo' and 'twin' both define 'echoing'"):
        AppRegistry((EchoApp(), Twin()))
