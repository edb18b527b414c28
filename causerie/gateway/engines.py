"""The engines behind the endpoints: the agent definition's providers, built once, and the
model ids and voices clients may ask for."""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict
from typing import Any

from livekit.agents import tts as lk_tts
from livekit.agents import utils

from ..agent.pipeline import Pipeline, required
from ..config.loader import LoadedConfig
from ..errors import ProviderError
from ..providers.info import BuildContext
from ..providers.registry import Registry
from .errors import APIError, bad_request

logger = logging.getLogger(__name__)

_VOICE = re.compile(r"^[\w.+\-/]{1,64}$")
_MAX_VOICES = 8
"""Extra voices kept built at once (each may hold a model)."""


class Engines:
    def __init__(
        self, pipeline: Pipeline, loaded: LoadedConfig, registry: Registry, grace: float = 60.0
    ) -> None:
        """``grace``: seconds an evicted voice stays open for the requests still using it
        (the request timeout)."""
        self.pipeline = pipeline
        self.loaded = loaded
        self.registry = registry
        described = pipeline.describe()
        self._models: dict[str, dict[str, str]] = {}
        for kind in ("stt", "tts", "llm"):
            canonical = described[kind]
            provider = loaded.spec.provider(kind).provider
            self._models[kind] = {canonical: canonical, provider: canonical}
        spec = loaded.spec.tts
        self.default_voice = spec.voice or str(getattr(pipeline.tts, "voice", "") or "default")
        self._voices: OrderedDict[str, lk_tts.TTS] = OrderedDict()
        self._lock = asyncio.Lock()
        self._grace = grace
        self._retiring: dict[asyncio.Task[None], lk_tts.TTS] = {}

    def models(self) -> list[tuple[str, str]]:
        """(id, kind) of every model served, canonical ids only."""
        return [(next(iter(ids.values())), kind) for kind, ids in self._models.items()]

    def model(self, kind: str, requested: str) -> str:
        """The canonical id for ``requested``, or a 404 in OpenAI's words."""
        ids = self._models[kind]
        if requested in ids:
            return ids[requested]
        raise APIError(
            404,
            f"the model {requested!r} does not exist on this gateway for this endpoint; "
            f"use one of: {', '.join(ids)}",
            code="model_not_found",
            param="model",
        )

    async def tts_for(self, voice: str | None) -> lk_tts.TTS:
        """The configured TTS for its own voice, else one built with ``voice`` (cached)."""
        tts = required(self.pipeline.tts, "tts")
        if not voice or voice in (self.default_voice, "default"):
            return tts
        if not _VOICE.match(voice):
            raise bad_request(
                "voice: 1 to 64 letters, digits or . + - / _", param="voice", code="invalid_voice"
            )
        async with self._lock:
            if voice in self._voices:
                self._voices.move_to_end(voice)
                return self._voices[voice]
            spec = self.loaded.spec
            pspec = spec.tts.model_copy(update={"voice": voice})
            ctx = BuildContext(
                language=spec.language, env=self.loaded.env, base_dir=self.loaded.base_dir
            )
            try:
                built = await asyncio.to_thread(self.registry.build, "tts", pspec, ctx)
            except ProviderError as e:
                raise bad_request(f"voice: {e}", param="voice", code="invalid_voice") from None
            if not isinstance(built, lk_tts.TTS):
                raise TypeError(
                    f"tts {pspec.provider}: {type(built).__name__} is not a livekit TTS"
                )
            self._voices[voice] = built
            if len(self._voices) > _MAX_VOICES:
                _, old = self._voices.popitem(last=False)
                task = asyncio.create_task(self._retire(old), name="gateway.retire-voice")
                self._retiring[task] = old
                task.add_done_callback(self._retiring.pop)
            return built

    async def _retire(self, tts: lk_tts.TTS) -> None:
        await asyncio.sleep(self._grace)  # a request that took it may still be speaking
        await _close(tts)

    async def aclose(self) -> None:
        retiring = dict(self._retiring)
        await utils.aio.cancel_and_wait(*retiring)
        for t in [*self._voices.values(), *retiring.values()]:
            await _close(t)
        self._voices.clear()


async def _close(obj: Any) -> None:
    try:
        await obj.aclose()
    except Exception:
        logger.exception("closing %r", obj)
