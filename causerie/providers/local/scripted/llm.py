"""``ScriptedLLM``: the rule engine behind livekit-agents' ``llm.LLM`` interface.

Replies are streamed as chunks and tool calls go through the normal function-calling path,
so a conversation that works here works unchanged with a real LLM.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from livekit.agents import llm
from livekit.agents.types import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    NotGivenOr,
)

from ....appkit.tool import resources_of
from .api_tools import ApiToolSkill
from .brain import Reply, Skill, ToolResult, Turn
from .smalltalk import SmallTalk, fallback

if TYPE_CHECKING:
    from ....appkit.registry import AppRegistry

# Skills are named in ``llm.options.skills``: the brain's own, then those the installed apps
# offer (``causerie.apps`` entry points, docs/APPS.md).
BUILTIN_SKILLS: dict[str, type[SmallTalk]] = {"smalltalk": SmallTalk}


def load_skill(name: str, agent_name: str, apps: AppRegistry | None = None) -> Skill:
    builtin = BUILTIN_SKILLS.get(name)
    if builtin is not None:
        return builtin(agent_name=agent_name)
    from ....appkit.registry import AppRegistry

    registry = apps if apps is not None else AppRegistry.from_entry_points()
    skill = registry.skill(name, agent_name=agent_name)
    if skill is None:
        known = sorted([*BUILTIN_SKILLS, *registry.skill_names])
        raise ValueError(f"unknown scripted skill {name!r}; known skills: {', '.join(known)}")
    return skill


class ScriptedLLM(llm.LLM):
    def __init__(
        self, *, skills: Sequence[Skill] | None = None, language: str = "en", chunk_words: int = 4
    ) -> None:
        super().__init__()
        self._skills: list[Skill] = list(skills) if skills is not None else [SmallTalk()]
        # Always on, asked first: it answers only for the agent's declared tools.
        self._api_tools = ApiToolSkill()
        self._language = language.split("-")[0]
        self._chunk_words = chunk_words
        self._ids = itertools.count(1)

    @property
    def model(self) -> str:
        return "+".join(s.name for s in self._skills)

    @property
    def provider(self) -> str:
        return "scripted"

    @property
    def skills(self) -> list[Skill]:
        return self._skills

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
        return _ScriptedStream(
            self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options
        )

    def next_id(self) -> str:
        return f"scripted-{next(self._ids)}"

    def decide(self, turn: Turn) -> Reply | list[Any]:
        """The whole policy, pure and synchronous (tests call it directly)."""
        if turn.tool_results:
            for skill in (self._api_tools, *self._skills):
                reply = skill.after_tools(turn)
                if reply is not None:
                    return reply
            # A tool nobody phrases: its output is written for speech, say it.
            return Reply(" ".join(r.output for r in turn.tool_results))
        for skill in (self._api_tools, *self._skills):
            resp = skill.respond(turn)
            if isinstance(resp, list):
                calls = [c for c in resp if c.name in turn.tools]
                if calls:
                    return calls
            elif resp is not None:
                return resp
        return fallback(turn)


def build_turn(chat_ctx: llm.ChatContext, tools: list[llm.Tool], language: str) -> Turn:
    items = list(chat_ctx.items)
    results: list[ToolResult] = []
    calls = {i.call_id: i for i in items if isinstance(i, llm.FunctionCall)}
    # Tool outputs after the last user message mean "phrase these results".
    for item in reversed(items):
        if isinstance(item, llm.FunctionCallOutput):
            call = calls.get(item.call_id)
            results.append(
                ToolResult(item.name, call.arguments if call else "{}", item.output, item.is_error)
            )
        elif isinstance(item, llm.FunctionCall):
            continue
        else:
            break
    results.reverse()
    current = len(results)
    outputs = [i for i in items if isinstance(i, llm.FunctionCallOutput)]
    past = [
        ToolResult(
            o.name, calls[o.call_id].arguments if o.call_id in calls else "{}", o.output, o.is_error
        )
        for o in (outputs[:-current] if current else outputs)
    ]
    history: list[tuple[str, str]] = []
    user_text = ""
    system: list[str] = []
    for item in items:
        if isinstance(item, llm.ChatMessage):
            text = item.text_content or ""
            if item.role in ("system", "developer"):
                system.append(text)
            elif item.role == "user":
                user_text = text
            history.append((item.role, text))
    names = frozenset(t.id for t in tools)
    resources = resources_of(tools)
    return Turn(
        user_text=user_text,
        language=language,
        tools=names,
        tool_results=results,
        history=history[:-1] if history and history[-1][0] == "user" else history,
        instructions="\n\n".join(s for s in system if s),
        past_tools=past,
        resources=resources,
    )


class _ScriptedStream(llm.LLMStream):
    def __init__(self, llm_: ScriptedLLM, **kwargs: Any) -> None:
        super().__init__(llm_, **kwargs)
        self._scripted = llm_

    async def _run(self) -> None:
        lm = self._scripted
        turn = build_turn(self._chat_ctx, self._tools, lm._language)
        decision = lm.decide(turn)
        req_id = lm.next_id()
        if isinstance(decision, Reply):
            words = decision.text.split(" ")
            n = lm._chunk_words
            for i in range(0, len(words), n):
                piece = " ".join(words[i : i + n]) + (" " if i + n < len(words) else "")
                self._event_ch.send_nowait(
                    llm.ChatChunk(id=req_id, delta=llm.ChoiceDelta(role="assistant", content=piece))
                )
        else:
            tool_calls = [
                llm.FunctionToolCall(
                    name=c.name, arguments=json.dumps(dict(c.arguments)), call_id=lm.next_id()
                )
                for c in decision
            ]
            self._event_ch.send_nowait(
                llm.ChatChunk(
                    id=req_id, delta=llm.ChoiceDelta(role="assistant", tool_calls=tool_calls)
                )
            )
        self._event_ch.send_nowait(
            llm.ChatChunk(
                id=req_id,
                usage=llm.CompletionUsage(completion_tokens=0, prompt_tokens=0, total_tokens=0),
            )
        )
