"""``CauserieAgent``: the livekit ``Agent`` with the pipeline nodes made fault tolerant."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterable
from typing import Any

from livekit import rtc
from livekit.agents import llm
from livekit.agents.voice import Agent, ModelSettings

from .faults import Faults, apology


class CauserieAgent(Agent):
    def __init__(
        self,
        *,
        instructions: str,
        language: str,
        faults: Faults,
        max_response_time: float,
        greeting: str | None = None,
        tools: list[Any] | None = None,
    ) -> None:
        super().__init__(instructions=instructions, tools=tools or [])
        self.language = language
        self.faults = faults
        self.max_response_time = max_response_time
        self.greeting = greeting

    async def on_enter(self) -> None:
        if self.greeting:
            self.session.say(self.greeting)

    async def llm_node(  # type: ignore[override]
        self, chat_ctx: llm.ChatContext, tools: list[llm.FunctionTool], model_settings: ModelSettings
    ) -> AsyncGenerator[llm.ChatChunk | str, None]:
        """The default LLM node, but a failure or a timeout becomes a spoken apology."""
        gen = Agent.default.llm_node(self, chat_ctx, tools, model_settings)
        assert not asyncio.iscoroutine(gen)
        it = aiter(gen)  # type: ignore[arg-type]
        deadline = asyncio.get_running_loop().time() + self.max_response_time
        try:
            while True:
                remaining = deadline - asyncio.get_running_loop().time()
                try:
                    chunk = await asyncio.wait_for(anext(it), timeout=max(remaining, 0.001))
                except StopAsyncIteration:
                    return
                yield chunk
        except TimeoutError as e:
            self.faults.record("llm", e)
            yield apology(self.language, timeout=True)
        except Exception as e:
            self.faults.record("llm", e)
            yield apology(self.language)
        finally:
            aclose = getattr(it, "aclose", None)
            if aclose is not None:
                await aclose()

    async def tts_node(  # type: ignore[override]
        self, text: AsyncIterable[str], model_settings: ModelSettings
    ) -> AsyncGenerator[rtc.AudioFrame, None]:
        """The default TTS node; a failure ends this reply's audio (its text is still shown)."""
        gen = Agent.default.tts_node(self, text, model_settings)
        try:
            async for frame in gen:  # type: ignore[union-attr]
                yield frame
        except Exception as e:
            self.faults.record("tts", e)
