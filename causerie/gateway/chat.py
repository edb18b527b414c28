"""``POST /v1/chat/completions``: the agent's LLM, tools passed through to it."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response, StreamingResponse
from livekit.agents import APIError as ProviderAPIError
from livekit.agents import llm, utils
from livekit.agents.types import NOT_GIVEN

from ..agent.pipeline import required
from .auth import Slot
from .chat_messages import ChatRequest, chat_context, dumps, tool_calls_json, tools, usage_json
from .errors import APIError, ok
from .state import Gateway, GatewayDep, vendor_session
from .streams import produced
from .transcriptions import provider_failed, timed_out

ENDPOINT = "/v1/chat/completions"

router = APIRouter(dependencies=[Depends(vendor_session)])


def _llm_chunks(gw: Gateway, req: ChatRequest) -> AsyncGenerator[llm.ChatChunk]:
    model = required(gw.ready.pipeline.llm, "llm")
    ctx, tool_list = chat_context(req.messages), tools(req.tools)  # bad input: a 400 now
    choice: Any = req.tool_choice if req.tool_choice is not None else NOT_GIVEN
    parallel = req.parallel_tool_calls if req.parallel_tool_calls is not None else NOT_GIVEN

    async def chunks() -> AsyncIterator[llm.ChatChunk]:
        async with model.chat(
            chat_ctx=ctx, tools=tool_list, tool_choice=choice, parallel_tool_calls=parallel
        ) as stream:
            async for chunk in stream:
                yield chunk

    return produced(chunks, time_limit=gw.settings.request_timeout, name="gateway.chat")


def _api_error(gw: Gateway, e: Exception) -> APIError:
    if isinstance(e, APIError):
        return e
    if isinstance(e, TimeoutError):
        return timed_out(gw.settings.request_timeout)
    return provider_failed(e)


class _Completion:
    """Turns livekit chunks into OpenAI's chunk objects, and remembers the whole reply."""

    def __init__(self, model: str) -> None:
        self.id = f"chatcmpl-{utils.shortuuid()}"
        self.created = int(time.time())
        self.model = model
        self.content: list[str] = []
        self.calls: list[dict[str, Any]] = []
        self.usage: llm.CompletionUsage | None = None

    def chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    def take(self, c: llm.ChatChunk) -> dict[str, Any] | None:
        if c.usage is not None:
            self.usage = c.usage
        if c.delta is None:
            return None
        delta: dict[str, Any] = {}
        if c.delta.content:
            self.content.append(c.delta.content)
            delta["content"] = c.delta.content
        if c.delta.tool_calls:
            calls = tool_calls_json(c.delta.tool_calls, len(self.calls))
            self.calls += calls
            delta["tool_calls"] = calls
        return self.chunk(delta) if delta else None

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.calls else "stop"

    def whole(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self.content) or None}
        if self.calls:
            message["tool_calls"] = [
                {k: v for k, v in c.items() if k != "index"} for c in self.calls
            ]
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": self.finish_reason}],
            "usage": usage_json(self.usage),
        }


async def _sse(
    gw: Gateway,
    done: _Completion,
    head: llm.ChatChunk,
    rest: AsyncIterator[llm.ChatChunk],
    include_usage: bool,
) -> AsyncIterator[str]:
    yield f"data: {dumps(done.chunk({'role': 'assistant', 'content': ''}))}\n\n"
    try:
        for c in [head]:
            if (out := done.take(c)) is not None:
                yield f"data: {dumps(out)}\n\n"
        async for c in rest:
            if (out := done.take(c)) is not None:
                yield f"data: {dumps(out)}\n\n"
    except (ProviderAPIError, TimeoutError) as e:
        err = _api_error(gw, e)
        gw.failed(ENDPOINT, err)
        yield f"data: {dumps(err.body())}\n\n"
        return
    yield f"data: {dumps(done.chunk({}, done.finish_reason))}\n\n"
    if include_usage:
        tail = {**done.chunk({}), "choices": [], "usage": usage_json(done.usage)}
        yield f"data: {dumps(tail)}\n\n"
    yield "data: [DONE]\n\n"


@router.post(ENDPOINT, response_model=None, responses=ok("application/json", "text/event-stream"))
async def chat_completions(gw: GatewayDep, _key: Slot, req: ChatRequest) -> Response:
    model_id = gw.ready.model("llm", req.model)
    done = _Completion(model_id)
    chunks = _llm_chunks(gw, req)
    try:
        if not req.stream:
            async for c in chunks:
                done.take(c)
            return JSONResponse(done.whole())
        # The first chunk is awaited here so an LLM failing at once gets a real HTTP status.
        head = await anext(chunks)
    except StopAsyncIteration:
        head = llm.ChatChunk(id=done.id)
    except (ProviderAPIError, TimeoutError) as e:
        raise _api_error(gw, e) from None
    except BaseException:
        await chunks.aclose()
        raise
    include_usage = bool(req.stream_options and req.stream_options.include_usage)
    return StreamingResponse(
        _sse(gw, done, head, chunks, include_usage), media_type="text/event-stream"
    )
