"""Run scenario files against an agent definition, in text, with the real agent: the
configured LLM, the tools and plugins of agent.yaml, livekit's ``AgentSession.run()``.

Each scenario gets a fresh temporary data folder (orders) and store (``metrics.store_url``:
memory) unless it sets them itself, so runs never touch ``var/`` and repeat identically.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..appkit.tool import resources_of
from ..errors import CauserieError
from ..runtime import Conversation, Runtime
from .checks import TurnRecord, check_events, check_reply, check_state, check_tools
from .model import Scenario, Session, Turn, find_scenarios, load_scenario
from .services import started

_PATH_KEYS = ("catalogue", "knowledge_base", "data_dir", "path", "instructions_file")


@dataclass
class ScenarioResult:
    path: Path
    name: str
    turns: list[TurnRecord] = field(default_factory=list)
    error: str | None = None
    refused: str | None = None
    """The expected start-up error, when the scenario expected one."""
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.error is None and all(not t.failures for t in self.turns)

    @property
    def failures(self) -> int:
        return sum(len(t.failures) for t in self.turns) + (1 if self.error else 0)


def _overrides(scn: Scenario, data_dir: str) -> dict[str, Any]:
    # The store too (memory across sessions is kept there), unless the scenario names one.
    out: dict[str, Any] = {
        "tool_options.data_dir": data_dir,
        "metrics.store_url": f"sqlite:///{Path(data_dir).resolve() / 'causerie.sqlite3'}",
    }
    for key, value in scn.set.items():
        if key.rsplit(".", 1)[-1] in _PATH_KEYS and isinstance(value, str):
            value = str(scn.resolve(Path(value)))  # relative to the scenario file
        out[key] = value
    if scn.language:
        out["language"] = scn.language
    return out


class _Agentry:
    """The scenario's runtime (the LLM and tools, built once per scenario) and the STT for
    audio turns (built on the first one)."""

    def __init__(self, runtime: Runtime, registry: Any) -> None:
        from ..providers.info import BuildContext

        self.runtime, self.loaded, self.registry = runtime, runtime.loaded, registry
        spec = self.loaded.spec
        loaded = self.loaded
        self.ctx = BuildContext(language=spec.language, env=loaded.env, base_dir=loaded.base_dir)
        self._stt: Any = None

    @classmethod
    async def build(cls, loaded: Any, registry: Any) -> _Agentry:
        return cls(await Runtime.build(loaded, registry, stages=("llm",)), registry)

    async def transcribe(self, path: Path) -> str:
        from livekit import rtc

        from ..audio.wav import read_wav

        if self._stt is None:
            self._stt = await asyncio.to_thread(
                self.registry.build, "stt", self.loaded.spec.stt, self.ctx
            )
        pcm = read_wav(path, 16000)
        frame = rtc.AudioFrame(pcm.samples.astype("int16").tobytes(), 16000, 1, len(pcm.samples))
        event = await self._stt.recognize(frame)
        return event.alternatives[0].text if event.alternatives else ""

    async def aclose(self) -> None:
        await self.runtime.aclose()
        close = getattr(self._stt, "aclose", None)
        if close is not None:
            await close()


async def _run_session(
    scn: Scenario, sess: Session, agentry: _Agentry, out: list[TurnRecord]
) -> None:
    loaded = agentry.loaded
    conversation = Conversation(
        agentry.runtime,
        transport="test",
        identity=sess.identity or scn.identity,
        language=(sess.language or scn.language or loaded.spec.base_language).split("-")[0],
        greeting=False,
    )
    events: list[dict[str, Any]] = []
    conversation.events.subscribe(events.append)
    prices = {}
    shop = resources_of(conversation.agent.tools).get("shop")  # the shop app's catalogue
    if shop is not None:
        prices = {pid: p.price for pid, p in shop.catalogue.products.items()}
    session = conversation.session
    await conversation.start()
    try:
        for turn in sess.turns:
            if turn.audio is not None:  # relative to the scenario file
                turn = turn.model_copy(update={"audio": scn.resolve(turn.audio)})
            out.append(
                await _run_turn(session, agentry, turn, events, prices, conversation.client_action)
            )
    finally:
        await conversation.aclose()


async def _run_turn(
    session: Any,
    agentry: _Agentry,
    turn: Turn,
    events: list[dict[str, Any]],
    prices: dict[str, float],
    handle_client_action: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]],
) -> TurnRecord:
    rec = TurnRecord(label=turn.label())
    first = len(events)
    t0 = time.perf_counter()
    result = None
    if turn.client_action is not None:
        done = await handle_client_action(dict(turn.client_action))
        if session.current_speech is not None:
            await session.current_speech
        rec.reply = done["message"]
    else:
        text = turn.user if turn.user is not None else await agentry.transcribe(turn.audio)  # type: ignore[arg-type]
        if turn.audio is not None:
            rec.label += f" -> {text!r}"
        result = await session.run(user_input=text)
        replies = []
        for ev in result.events:
            if ev.type == "function_call":
                try:
                    args = json.loads(ev.item.arguments or "{}")
                except ValueError:
                    args = {"_raw": ev.item.arguments}
                rec.calls.append((ev.item.name, args))
            elif ev.type == "function_call_output":
                rec.outputs.append((ev.item.name, ev.item.output, ev.item.is_error))
            elif ev.type == "message" and ev.item.role == "assistant":
                replies.append(ev.item.text_content or "")
        rec.reply = " ".join(r for r in replies if r)
    rec.seconds = time.perf_counter() - t0
    rec.events = events[first:]
    rec.state = copy.deepcopy(session.userdata.state)
    if result is not None:
        check_tools(rec, turn.expect, result)
    check_reply(rec, turn.expect)
    check_events(rec, turn.expect)
    check_state(rec, turn.expect, prices)
    return rec


def _build_only(loaded: Any) -> None:
    """Build the tools and plugins (where a bad catalogue or plugin name is refused)."""
    from ..plugins import load_plugins
    from ..tools import build_tools

    build_tools(loaded)
    load_plugins(loaded)


async def run_scenario(
    scn: Scenario, *, default_config: Path | None, registry: Any
) -> ScenarioResult:
    from ..config.loader import load_config

    res = ScenarioResult(path=scn.path, name=scn.name)
    t0 = time.perf_counter()
    agentry: _Agentry | None = None
    with tempfile.TemporaryDirectory(prefix="causerie-scenario-") as tmp:
        try:
            async with started(scn, Path(tmp)) as env:
                config = scn.resolve(scn.config) if scn.config else default_config
                environ = {**os.environ, **env}
                loaded = load_config(
                    config, environ=environ, overrides=_overrides(scn, tmp), registry=registry
                )
                agentry = await _Agentry.build(loaded, registry)
                if scn.expect_error:
                    _build_only(loaded)
                    res.error = (
                        f"expected the agent to refuse to start ({scn.expect_error}), "
                        "but it started"
                    )
                for sess in scn.sessions if not scn.expect_error else []:
                    await _run_session(scn, sess, agentry, res.turns)
        except CauserieError as e:
            missing = [t for t in scn.expect_error if t.lower() not in str(e).lower()]
            if not scn.expect_error:
                res.error = str(e)
            elif missing:
                res.error = f"the error should mention {missing}:\n{e}"
            else:
                res.refused = str(e)
        except Exception as e:
            res.error = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=4)}"
        finally:
            if agentry is not None:
                await agentry.aclose()
    res.seconds = time.perf_counter() - t0
    return res


async def run_paths(
    paths: list[Path],
    *,
    default_config: Path | None,
    registry: Any,
    name_filter: str | None = None,
    on_result: Callable[[ScenarioResult], None] | None = None,
) -> list[ScenarioResult]:
    results = []
    for path in find_scenarios(paths):
        try:
            scn = load_scenario(path)
        except CauserieError as e:
            res = ScenarioResult(path=path, name=path.stem, error=str(e))
        else:
            if name_filter and name_filter.lower() not in f"{scn.name} {path.name}".lower():
                continue
            res = await run_scenario(scn, default_config=default_config, registry=registry)
        results.append(res)
        if on_result is not None:
            on_result(res)
    return results
