"""``config check --strict``: build every provider (models load) and run one text turn through
the real session, then speak the reply, so a CI pipeline learns now what would fail at start."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from livekit.agents import tts as lk_tts

from ..agent.faults import Faults
from ..agent.pipeline import Progress, required
from ..config.loader import LoadedConfig
from ..errors import CauserieError
from ..providers.registry import Registry
from .conversation import Conversation
from .runtime import Runtime

GREETINGS = {"en": "Hello", "fr": "Bonjour", "de": "Hallo", "es": "Hola", "it": "Ciao"}


class SmokeTestError(CauserieError):
    """The agent was built but a turn through it failed."""

    exit_code = 1


@dataclass
class SmokeResult:
    said: str
    reply: str
    audio_seconds: float
    load_seconds: dict[str, float]


async def smoke_test(
    loaded: LoadedConfig,
    registry: Registry,
    progress: Progress | None = None,
    text: str | None = None,
) -> SmokeResult:
    """Raise :class:`SmokeTestError` (or the build's own error) on the first failure."""
    from livekit.agents.voice.run_result import RunResult

    spec = loaded.spec
    said = text or GREETINGS.get(spec.base_language, GREETINGS["en"])
    limit = spec.turn.max_response_time + 10.0  # the LLM's own deadline, then some
    errors: list[str] = []
    faults = Faults(observers=[lambda c, e: errors.append(f"{c}: {type(e).__name__}: {e}")])
    runtime = await Runtime.build(loaded, registry, progress=progress, faults=faults)
    pipeline = runtime.pipeline
    try:
        # The turn below is the test; a greeting is not a reply.
        conversation = Conversation(runtime, transport="cli", greeting=False)
        session = conversation.session
        await conversation.start()
        try:
            if progress:
                progress(f"text turn: {said!r}")
            result: RunResult[None] = await asyncio.wait_for(session.run(user_input=said), limit)
        except TimeoutError:
            raise SmokeTestError(f"no reply to {said!r} within {limit:.0f} s") from None
        finally:
            await conversation.aclose()
        reply = " ".join(
            ev.item.text_content or ""
            for ev in result.events
            if ev.type == "message" and ev.item.role == "assistant"
        ).strip()
        _raise_faults(errors)
        if not reply:
            raise SmokeTestError(f"the agent gave no reply to {said!r}")
        if progress:
            progress(f"speaking the reply with tts: {spec.tts.provider}")
        seconds = await _speak(required(pipeline.tts, "tts"), reply)
        if seconds <= 0:
            raise SmokeTestError(f"tts {spec.tts.provider!r} produced no audio for {reply!r}")
        return SmokeResult(said, reply, seconds, dict(pipeline.load_seconds))
    finally:
        await runtime.aclose()


async def _speak(tts: lk_tts.TTS, text: str) -> float:
    seconds = 0.0
    try:
        async with tts.synthesize(text) as stream:
            async for ev in stream:
                seconds += ev.frame.duration
    except Exception as e:
        raise SmokeTestError(f"tts failed: {type(e).__name__}: {e}") from e
    return seconds


def _raise_faults(errors: list[str]) -> None:
    """The session survives a provider fault by apologising; for a check, it is a failure."""
    if errors:
        raise SmokeTestError(
            "the turn ran, but the agent would apologise instead of answering: " + "; ".join(errors)
        )
