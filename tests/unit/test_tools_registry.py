"""Which tools an agent gets, and that each is described well enough for a real LLM."""

from __future__ import annotations

from pathlib import Path

import pytest
from livekit.agents.llm.utils import build_legacy_openai_schema

from causerie.config.loader import load_config
from causerie.errors import ConfigError
from causerie.tools import ALL_TOOLS, TOOL_GROUPS, build_tools, expand

ROOT = Path(__file__).resolve().parents[2]


def test_groups_names_and_all() -> None:
    assert expand(["all"]) == list(ALL_TOOLS)
    assert expand(["cart", "place_order"]) == [*TOOL_GROUPS["cart"], "place_order"]
    assert expand(["kb"]) == ["ask_knowledge_base"]
    assert len(expand(["shop"])) == 19 and set(expand(["shop"])) < set(ALL_TOOLS)
    with pytest.raises(ConfigError, match=r"unknown tool or group 'carts'; groups: all, .*search"):
        expand(["carts"])


def test_every_tool_is_documented_for_an_llm(tmp_path: Path) -> None:
    loaded = load_config(
        ROOT / "shop.yaml", overrides={"tool_options.data_dir": str(tmp_path)}, dotenv=None
    )
    tools = build_tools(loaded)
    assert [t.id for t in tools] == expand(["shop"])
    for tool in tools:
        fn = build_legacy_openai_schema(tool)["function"]
        assert len(fn["description"]) > 20, tool.id
        for name, prop in fn["parameters"]["properties"].items():
            assert prop.get("description"), f"{tool.id}.{name} has no description"


def test_bad_tool_options_are_config_errors(tmp_path: Path) -> None:
    loaded = load_config(
        ROOT / "shop.yaml", overrides={"tool_options.catalog": "x.csv"}, dotenv=None
    )
    with pytest.raises(ConfigError, match=r"unknown option.*catalog; known: catalogue"):
        build_tools(loaded)
    loaded = load_config(
        ROOT / "shop.yaml", overrides={"tool_options.catalogue": "nope.json"}, dotenv=None
    )
    with pytest.raises(ConfigError, match="catalogue not found"):
        build_tools(loaded)
    loaded = load_config(
        ROOT / "shop.yaml", overrides={"tool_options.tool_timeout": 0}, dotenv=None
    )
    with pytest.raises(ConfigError, match="tool_timeout"):
        build_tools(loaded)
    loaded = load_config(ROOT / "shop.yaml", overrides={"tools": []}, dotenv=None)
    assert build_tools(loaded) == []
