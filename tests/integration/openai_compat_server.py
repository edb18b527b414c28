"""A tiny local server speaking the OpenAI chat-completions streaming protocol (as Ollama,
vLLM and llama.cpp do), to test the OpenAI-compatible path up to the wire."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Literal

from aiohttp import web

Failure = Literal["500", "hang", "drop"]


class FakeOpenAIServer:
    """``tool_call=(name, arguments)``: when the request offers tools, first answer with that
    call (as a model does); once the tool's result is in the messages, reply ``reply`` followed
    by the result.

    ``fail``: every chat request fails on purpose: ``"500"`` answers HTTP 500 (OpenAI's error
    JSON), ``"hang"`` never answers, ``"drop"`` starts the event stream (the role chunk) and
    then closes the connection mid-stream."""

    def __init__(
        self,
        reply: str = "Hello from the local model.",
        tool_call: tuple[str, dict[str, Any]] | None = None,
        fail: Failure | None = None,
    ) -> None:
        self.reply = reply
        self.tool_call = tool_call
        self.fail = fail
        self._release = asyncio.Event()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{self.port}/v1"

    async def stop(self) -> None:
        self._release.set()  # hung handlers return, so cleanup does not wait on them
        if self._runner is not None:
            await self._runner.cleanup()

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        if self.fail == "500":
            error = {"error": {"message": "boom", "type": "server_error", "code": None}}
            return web.json_response(error, status=500)
        if self.fail == "hang":
            await self._release.wait()
            return web.Response(status=503)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        if self.fail == "drop":
            role = {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": body.get("model"),
                "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}],
            }
            await resp.write(f"data: {json.dumps(role)}\n\n".encode())
            assert request.transport is not None
            request.transport.close()  # mid-stream: no [DONE], the chunked body cut short
            return resp
        messages = body.get("messages") or [{}]
        reply = self.reply
        if self.tool_call is not None and body.get("tools"):
            if messages[-1].get("role") != "tool":
                await self._call_tool(resp, body, *self.tool_call)
                return resp
            reply = f"{reply} {messages[-1].get('content')}"
        words = reply.split(" ")
        for i, w in enumerate(words):
            chunk = {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": body.get("model"),
                "choices": [
                    {
                        "index": 0,
                        "delta": {
                            "role": "assistant",
                            "content": w + (" " if i < len(words) - 1 else ""),
                        },
                        "finish_reason": None,
                    }
                ],
            }
            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
        done = {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": body.get("model"),
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": 12,
                "completion_tokens": len(words),
                "total_tokens": 12 + len(words),
            },
        }
        await resp.write(f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode())
        await resp.write_eof()
        return resp

    async def _call_tool(
        self, resp: web.StreamResponse, body: dict[str, Any], name: str, args: dict[str, Any]
    ) -> None:
        call = {
            "index": 0,
            "id": f"call_{len(self.requests)}",
            "type": "function",
            "function": {"name": name, "arguments": json.dumps(args)},
        }
        for delta, finish in (
            ({"role": "assistant", "tool_calls": [call]}, None),
            ({}, "tool_calls"),
        ):
            chunk = {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": body.get("model"),
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
