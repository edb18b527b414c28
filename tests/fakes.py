"""Fakes that subclass livekit-agents' real base classes (no SDK mocks)."""

from __future__ import annotations

import asyncio
from typing import Any

from livekit.agents import APIConnectionError, llm
from livekit.agents.types import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    NotGivenOr,
)

from causerie.providers.local.scripted import ScriptedLLM


class FlakyLLM(ScriptedLLM):
    """The scripted brain, failing (or stalling) on chosen calls."""

    def __init__(self, fail_on: set[int], mode: str = "raise", **kw: Any) -> None:
        super().__init__(**kw)
        self.fail_on = fail_on
        self.mode = mode
        self.calls = 0

    def chat(
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        parallel_tool_calls: NotGivenOr[bool] = NOT_GIVEN,
        tool_choice: NotGivenOr[llm.ToolChoice] = NOT_GIVEN,
        extra_kwargs: NotGivenOr[dict[str, Any]] = NOT_GIVEN,
    ) -> llm.LLMStream:
        self.calls += 1
        if self.calls in self.fail_on:
            return _BrokenStream(
                self,
                chat_ctx=chat_ctx,
                tools=tools or [],
                conn_options=conn_options,
                mode=self.mode,
            )
        return super().chat(chat_ctx=chat_ctx, tools=tools, conn_options=conn_options)


class _BrokenStream(llm.LLMStream):
    def __init__(self, llm_: llm.LLM, *, mode: str, **kw: Any) -> None:
        super().__init__(llm_, **kw)
        self._mode = mode

    async def _run(self) -> None:
        if self._mode == "stall":
            await asyncio.sleep(3600)
        raise APIConnectionError("upstream exploded", retryable=False)
