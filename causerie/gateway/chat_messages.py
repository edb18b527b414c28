"""OpenAI chat requests to livekit's ChatContext and tools, and livekit chunks back to
OpenAI's response shapes."""

from __future__ import annotations

import json
from typing import Any, Literal

from livekit.agents import llm
from pydantic import BaseModel, ConfigDict, Field

from .errors import bad_request


class _Open(BaseModel):
    model_config = ConfigDict(extra="ignore")


class FunctionSpec(_Open):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-zA-Z0-9_-]+$")
    description: str | None = None
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    strict: bool | None = None


class ToolSpec(_Open):
    type: Literal["function"] = "function"
    function: FunctionSpec


class CalledFunction(_Open):
    name: str
    arguments: str = "{}"


class ToolCall(_Open):
    id: str
    type: Literal["function"] = "function"
    function: CalledFunction


class ContentPart(_Open):
    type: str
    text: str | None = None


class Message(_Open):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(p.text or "" for p in self.content if p.type in ("text", "input_text"))
        return self.content or ""


class StreamOptions(_Open):
    include_usage: bool = False


class ChatRequest(_Open):
    model: str = Field(min_length=1)
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    tools: list[ToolSpec] | None = None
    tool_choice: Literal["auto", "none", "required"] | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    n: int = Field(default=1, ge=1, le=1)


def chat_context(messages: list[Message]) -> llm.ChatContext:
    ctx = llm.ChatContext.empty()
    names: dict[str, str] = {}
    for i, m in enumerate(messages):
        if m.role == "tool":
            if not m.tool_call_id:
                raise bad_request(
                    f"messages[{i}].tool_call_id: required for role 'tool'",
                    param=f"messages[{i}].tool_call_id",
                )
            ctx.items.append(
                llm.FunctionCallOutput(
                    call_id=m.tool_call_id,
                    name=names.get(m.tool_call_id, m.name or ""),
                    output=m.text(),
                    is_error=False,
                )
            )
            continue
        text = m.text()
        if text or m.role != "assistant":
            ctx.add_message(role=m.role, content=text)
        for call in m.tool_calls or []:
            names[call.id] = call.function.name
            ctx.items.append(
                llm.FunctionCall(
                    call_id=call.id, name=call.function.name, arguments=call.function.arguments
                )
            )
    return ctx


async def _never_called(raw_arguments: dict[str, object]) -> None:
    # The client runs its own tools: the gateway only passes their schemas to the LLM.
    raise RuntimeError("gateway tools are run by the client")


def tools(specs: list[ToolSpec] | None) -> list[llm.Tool]:
    out: list[llm.Tool] = []
    for t in specs or []:
        schema: dict[str, Any] = {"name": t.function.name, "parameters": t.function.parameters}
        if t.function.description:
            schema["description"] = t.function.description
        out.append(llm.function_tool(_never_called, raw_schema=schema))
    return out


def tool_calls_json(
    calls: list[llm.FunctionToolCall], first_index: int = 0
) -> list[dict[str, Any]]:
    return [
        {
            "index": first_index + i,
            "id": c.call_id,
            "type": "function",
            "function": {"name": c.name, "arguments": c.arguments},
        }
        for i, c in enumerate(calls)
    ]


def usage_json(usage: llm.CompletionUsage | None) -> dict[str, int]:
    if usage is None:
        return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def dumps(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))
