"""A declared tool as a livekit function tool (``function_tool(raw_schema=...)``), so the
LLM sees its JSON Schema and calls it through livekit's normal function-calling path."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import httpx
from livekit.agents import RunContext, ToolError, llm
from livekit.agents.llm import function_tool

from ...appkit.tool import AppRawTool
from ...config.api_tools import ApiToolSpec
from ...config.templating import mask
from ..base import session_data
from .http import ApiAnswer, ApiCaller

logger = logging.getLogger("causerie.tools.declared")


def build_api_tool(
    tool: ApiToolSpec,
    env: Mapping[str, str],
    *,
    resources: dict[str, Any] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> llm.RawFunctionTool:
    """``resources``: shared by an agent's declared tools, read by the scripted brain."""
    caller = ApiCaller(tool, env, transport=transport)
    schema = {"name": tool.name, "description": tool.description, "parameters": tool.parameters}

    async def call(raw_arguments: dict[str, object], context: RunContext) -> str:
        args = _checked(tool, dict(raw_arguments))
        answer = await caller.call(args)
        if tool.ui_event is not None:
            _emit_card(tool, caller, answer, context)
        return answer.text

    shared = resources if resources is not None else {}
    shared.setdefault("api_tools", {})[tool.name] = tool
    return AppRawTool(function_tool(call, raw_schema=schema), shared)


def _checked(tool: ApiToolSpec, args: dict[str, Any]) -> dict[str, Any]:
    """The checks a model's arguments most often fail; the message lets it try again."""
    props = tool.properties
    missing = [r for r in tool.required if args.get(r) in (None, "")]
    if missing:
        raise ToolError(f"Missing argument {missing[0]!r}: ask the user for it.")
    for name, value in args.items():
        sub = props.get(name)
        if sub is None:
            raise ToolError(f"Unknown argument {name!r}; arguments: {', '.join(props)}")
        enum = sub.get("enum") if isinstance(sub, Mapping) else None
        if enum and value not in enum:
            raise ToolError(f"{name} must be one of {enum}, got {value!r}")
        if isinstance(sub, Mapping) and sub.get("type") == "integer" and isinstance(value, str):
            try:
                args[name] = int(value)
            except ValueError:
                raise ToolError(f"{name} must be a whole number, got {value!r}") from None
    return args


def _emit_card(tool: ApiToolSpec, caller: ApiCaller, answer: ApiAnswer, ctx: RunContext) -> None:
    spec = tool.ui_event
    assert spec is not None

    def render(source: str) -> str:
        return mask(caller.template(source).render(answer.context).strip(), caller.secrets)

    try:
        card: dict[str, Any] = {"title": render(spec.card.title)}
        if spec.card.text:
            card["text"] = render(spec.card.text)
        card["fields"] = [{"label": k, "value": render(v)} for k, v in spec.card.fields.items()]
    except Exception:  # the answer is what matters; a card that fails is only logged
        logger.warning("api tool %s: card template failed", tool.name, exc_info=True)
        return
    session_data(ctx).events.emit(spec.type, tool=tool.name, card=card)
