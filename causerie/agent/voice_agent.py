"""``CauserieAgent``: the livekit ``Agent`` with the pipeline nodes made fault tolerant, and
the plugin hooks wired in (:mod:`causerie.plugins`).

Where each hook runs:

* session start / end: ``on_enter`` / ``on_exit`` (``on_exit`` also runs on ``aclose()``);
  both may await async hooks (a store read before the greeting, a write at the end), and
  ``on_exit`` then lets the plugins' stores flush (:meth:`PluginHost.aclose`);
* the user's message: ``on_user_turn_completed`` for spoken turns (a block is answered with
  ``session.say`` and ``StopResponse``); typed turns (``session.run``, ``generate_reply``
  with ``user_input``) skip that callback in livekit, so ``llm_node`` runs the hook for them;
* the agent's text: ``llm_node``'s output, sentence by sentence. It is the one stream that
  feeds TTS, the transcript and the chat history, so all three get the same rewritten text
  and each sentence is rewritten once (``tts_node`` and ``transcription_node`` each receive
  their own copy of the text). Texts the agent says itself go through :meth:`speak`.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncGenerator, AsyncIterable
from typing import Any, TypeAlias

from livekit import rtc
from livekit.agents import StopResponse, llm
from livekit.agents.voice import Agent, ModelSettings, SpeechHandle

from ..compat.livekit import speech_input_modality
from ..plugins.context import PluginSession
from ..plugins.manager import PluginHost
from ..userdata import SessionData
from .faults import Faults, apology

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")
_INSTRUCTIONS_ID = "lk.agent_task.instructions"  # livekit's id of the instructions message
logger = logging.getLogger(__name__)


AgentTools: TypeAlias = "list[llm.Tool | llm.Toolset]"
"""What livekit's ``Agent`` takes as ``tools``."""


class CauserieAgent(Agent):
    def __init__(
        self,
        *,
        instructions: str,
        language: str,
        faults: Faults,
        max_response_time: float,
        greeting: str | None = None,
        tools: AgentTools | None = None,
        plugins: PluginHost | None = None,
    ) -> None:
        super().__init__(instructions=instructions, tools=tools or [])
        self.language = language
        self.faults = faults
        self.max_response_time = max_response_time
        self.greeting = greeting
        self.plugins = plugins
        if plugins is not None and plugins.on_error is None:
            plugins.on_error = lambda name, hook, e: self.faults.record(f"plugin:{name}:{hook}", e)
        self._plugin_session: PluginSession | None = None
        self._handled: set[str] = set()  # user message ids the plugins already saw
        self._ended = False
        self._started: asyncio.Event | None = None  # set once the session-start hooks ran

    # -- session ---------------------------------------------------------------------------

    def session_data(self) -> SessionData:
        """The session's :class:`SessionData`, attached here if whoever built the session
        gave none (``causerie chat`` builds a bare ``AgentSession``)."""
        try:
            data = self.session.userdata
        except ValueError:
            data = None
        if not isinstance(data, SessionData):
            data = SessionData(language=self.language)
            self.session.userdata = data
        return data

    def _history(self) -> list[tuple[str, str]]:
        return [
            (item.role, item.text_content or "")
            for item in self.chat_ctx.items
            if isinstance(item, llm.ChatMessage) and item.role in ("user", "assistant")
        ]

    async def on_enter(self) -> None:
        data = self.session_data()
        if self.plugins is not None:
            self._started = asyncio.Event()
            self._plugin_session = self.plugins.new_session(data, self._history)
            try:
                notes = await self.plugins.session_start(self._plugin_session)
                if notes:
                    base = (
                        self.instructions
                        if isinstance(self.instructions, str)
                        else str(self.instructions)
                    )
                    await self.update_instructions(base + "\n\n" + "\n\n".join(notes))
            finally:
                self._started.set()
        if self.greeting:
            self.speak(self.greeting)

    async def _plugins_started(self) -> bool:
        """Wait for the session-start hooks if they are still running (an async one reads a
        store): livekit runs ``on_enter`` as a task, so a turn that arrives in the first
        milliseconds would otherwise miss their note and state. Bounded; ``True`` if it
        had to wait."""
        started = self._started
        if started is None or started.is_set() or self.plugins is None:
            return False
        try:
            await asyncio.wait_for(started.wait(), 2 * self.plugins.async_timeout)
        except TimeoutError:
            logger.warning("session-start plugin hooks still running; answering without them")
        return True

    def _refresh_instructions(self, chat_ctx: llm.ChatContext) -> None:
        """Put the current instructions into a chat context copied before they changed."""
        idx = chat_ctx.index_by_id(_INSTRUCTIONS_ID)
        if idx is not None and isinstance(self.instructions, str):
            chat_ctx.items[idx] = llm.ChatMessage(
                id=_INSTRUCTIONS_ID, role="system", content=[self.instructions]
            )

    async def on_exit(self) -> None:
        await self.end_plugins()

    async def end_plugins(self) -> None:
        """Run the session-end hooks once, then let the plugins' stores write what they
        buffered (bounded; also safe to call from a transport's cleanup)."""
        if self.plugins is None or self._ended:
            return
        self._ended = True
        if self._plugin_session is not None:
            await self.plugins.session_end(self._plugin_session)
        await self.plugins.aclose()

    def speak(self, text: str) -> SpeechHandle:
        """``session.say`` for texts the agent produces itself, through the text hooks."""
        if self.plugins is not None and self._plugin_session is not None:
            text = self.plugins.agent_text(self._plugin_session, text, 0)
        return self.session.say(text)

    # -- the user's message ----------------------------------------------------------------

    async def on_user_turn_completed(
        self, turn_ctx: llm.ChatContext, new_message: llm.ChatMessage
    ) -> None:
        if self.plugins is None or self._plugin_session is None:
            return
        await self._plugins_started()
        self._handled.add(new_message.id)
        msg = self.plugins.user_message(self._plugin_session, new_message.text_content or "")
        if msg.blocked:
            self.session.say(msg.reply or "")
            raise StopResponse()  # the turn (and its text) is dropped from the history
        if msg.rewritten:
            new_message.content = [msg.text]
        for note in msg.context:
            turn_ctx.add_message(role="system", content=note)

    def _typed_turn(self, chat_ctx: llm.ChatContext) -> str | None:
        """Run the user-message hooks for a typed turn; returns the reply if one blocked it."""
        if self.plugins is None or self._plugin_session is None:
            return None
        if speech_input_modality() == "audio":
            return None  # a spoken turn: on_user_turn_completed has run (or will)
        items = chat_ctx.items
        idx = next(
            (
                i
                for i in range(len(items) - 1, -1, -1)
                if isinstance(items[i], llm.ChatMessage) and getattr(items[i], "role", "") == "user"
            ),
            None,
        )
        if idx is None or items[idx].id in self._handled:
            return None
        message = items[idx]
        assert isinstance(message, llm.ChatMessage)
        self._handled.add(message.id)
        msg = self.plugins.user_message(self._plugin_session, message.text_content or "")
        if msg.rewritten:
            message.content = [msg.text]  # the same object goes into the history
        for offset, note in enumerate(msg.context):
            items.insert(idx + offset, llm.ChatMessage(role="system", content=[note]))
        return msg.reply if msg.blocked else None

    # -- nodes -----------------------------------------------------------------------------

    async def llm_node(  # type: ignore[override]
        self,
        chat_ctx: llm.ChatContext,
        tools: list[llm.FunctionTool],
        model_settings: ModelSettings,
    ) -> AsyncGenerator[llm.ChatChunk | str, None]:
        """The default LLM node, with the plugin hooks, and a failure or a timeout becomes a
        spoken apology."""
        if await self._plugins_started():
            self._refresh_instructions(chat_ctx)
        blocked = self._typed_turn(chat_ctx)
        if blocked is not None:
            yield blocked
            return
        stream = self._llm_with_deadline(chat_ctx, tools, model_settings)
        if (
            self.plugins is not None
            and self._plugin_session is not None
            and self.plugins.implements("causerie_agent_text")
        ):
            stream = self._rewrite(stream, self._plugin_session)
        async for chunk in stream:
            yield chunk

    async def _llm_with_deadline(
        self,
        chat_ctx: llm.ChatContext,
        tools: list[llm.FunctionTool],
        model_settings: ModelSettings,
    ) -> AsyncGenerator[Any, None]:  # ChatChunk, str, or livekit's FlushSentinel
        gen = Agent.default.llm_node(self, chat_ctx, tools, model_settings)  # type: ignore[arg-type]
        assert not asyncio.iscoroutine(gen)
        it = aiter(gen)
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

    async def _rewrite(
        self, stream: AsyncIterable[Any], session: PluginSession
    ) -> AsyncGenerator[Any, None]:
        """Cut the reply into sentences and pass each through ``causerie_agent_text``."""
        host = self.plugins
        assert host is not None
        buf, index = "", 0

        def emit(sentence: str) -> str:
            nonlocal index
            out = host.agent_text(session, sentence, index) if sentence.strip() else sentence
            index += 1
            return out

        async for chunk in stream:
            text: str | None = None
            rest: Any = None
            if isinstance(chunk, str):
                text = chunk
            elif (
                isinstance(chunk, llm.ChatChunk) and chunk.delta is not None and chunk.delta.content
            ):
                text = chunk.delta.content
                if chunk.delta.tool_calls or chunk.usage is not None:
                    rest = chunk.model_copy(
                        update={"delta": chunk.delta.model_copy(update={"content": None})}
                    )
            else:
                rest = chunk
            if text:
                buf += text
                parts = _SENTENCE_END.split(buf)
                for sentence, sep in zip(parts[:-1], _SENTENCE_END.findall(buf), strict=False):
                    yield emit(sentence) + sep
                buf = parts[-1]
            if rest is not None:
                if buf and isinstance(rest, llm.ChatChunk) and rest.delta and rest.delta.tool_calls:
                    yield emit(buf)
                    buf = ""
                yield rest
        if buf:
            yield emit(buf)

    async def tts_node(
        self, text: AsyncIterable[str], model_settings: ModelSettings
    ) -> AsyncGenerator[rtc.AudioFrame, None]:
        """The default TTS node; a failure ends this reply's audio (its text is still shown)
        with a short spoken apology, if the engine can still say it (a dropped connection)."""
        gen = Agent.default.tts_node(self, text, model_settings)
        try:
            async for frame in gen:
                yield frame
        except Exception as e:
            self.faults.record("tts", e)
            sorry = Agent.default.tts_node(self, _once(apology(self.language)), model_settings)
            try:
                async for frame in sorry:
                    yield frame
            except Exception as again:
                logger.warning("the apology could not be spoken either: %s", again)


async def _once(text: str) -> AsyncGenerator[str, None]:
    yield text
