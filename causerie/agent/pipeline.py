"""Providers built once per process and shared by every session (models load once)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..config.loader import LoadedConfig
from ..config.spec import PROVIDER_KINDS
from ..providers.registry import BuildContext, Registry

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass
class Pipeline:
    stt: Any
    llm: Any
    tts: Any
    vad: Any
    turn_detector: Any | None = None
    load_seconds: dict[str, float] = field(default_factory=dict)

    def describe(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for kind in PROVIDER_KINDS:
            obj = getattr(self, kind)
            provider = getattr(obj, "provider", None) or type(obj).__name__
            model = getattr(obj, "model", None)
            out[kind] = f"{provider}/{model}" if model and model != "unknown" else str(provider)
        return out

    async def aclose(self) -> None:
        for obj in (self.stt, self.llm, self.tts):
            close = getattr(obj, "aclose", None)
            if close is not None:
                try:
                    await close()
                except Exception:
                    logger.exception("closing %r", obj)


TURN_MODEL_MIN_SILENCE = 0.25
"""livekit's turn model refuses a VAD that ends speech sooner than this."""


def _vad_for_turn_model(pspec: Any) -> Any:
    silence = float(pspec.options.get("min_silence_duration", 0.2))
    if silence >= TURN_MODEL_MIN_SILENCE:
        return pspec
    logger.info(
        "turn.detection=turn_model: raising vad.options.min_silence_duration %.2f -> %.2f s",
        silence,
        TURN_MODEL_MIN_SILENCE,
    )
    options = {**pspec.options, "min_silence_duration": TURN_MODEL_MIN_SILENCE}
    return pspec.model_copy(update={"options": options})


def import_vendor_modules(loaded: LoadedConfig, registry: Registry) -> None:
    """Import the stages' vendor modules; call it on the main thread before
    :func:`build_pipeline` runs in a worker thread, because livekit plugins refuse to
    register from any other thread. A missing module is left for the build to report."""
    import importlib

    for kind in PROVIDER_KINDS:
        names = {p.provider for p in loaded.spec.chain(kind)}
        for mod in {m for name in names for m in registry.get(kind, name).modules}:
            try:
                importlib.import_module(mod)
            except ImportError:
                pass


def build_pipeline(
    loaded: LoadedConfig, registry: Registry, progress: Progress | None = None
) -> Pipeline:
    """Build and preload every stage. Blocking (models load): call it in a thread."""
    spec = loaded.spec
    ctx = BuildContext(language=spec.language, env=loaded.env, base_dir=loaded.base_dir)
    built: dict[str, Any] = {}
    timings: dict[str, float] = {}
    for kind in PROVIDER_KINDS:
        pspec = spec.provider(kind)
        if kind == "llm" and pspec.provider == "scripted" and "agent_name" not in pspec.options:
            pspec = pspec.model_copy(update={"options": {**pspec.options, "agent_name": spec.name}})
        if kind == "vad" and spec.turn.detection == "turn_model":
            pspec = _vad_for_turn_model(pspec)
        if progress:
            progress(f"loading {kind}: {pspec.provider}{'/' + pspec.model if pspec.model else ''}")
        t0 = time.perf_counter()
        obj = registry.build(kind, pspec, ctx)
        # Convention: a provider with heavy state offers a blocking ``preload()``; we are in a
        # worker thread here, so the first session does not stall the event loop loading it.
        preload = getattr(obj, "preload", None)
        if callable(preload):
            preload()
        timings[kind] = time.perf_counter() - t0
        built[kind] = obj
    turn_detector = None
    if spec.turn.detection == "turn_model":
        if progress:
            progress("loading turn model: v1-mini")
        t0 = time.perf_counter()
        from livekit.agents import inference

        turn_detector = inference.TurnDetector(version="v1-mini")
        timings["turn_model"] = time.perf_counter() - t0
    return Pipeline(turn_detector=turn_detector, load_seconds=timings, **built)
