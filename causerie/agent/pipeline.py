"""Providers built once per process and shared by every session (models load once)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from livekit.agents import llm as lk_llm
from livekit.agents import stt as lk_stt
from livekit.agents import tts as lk_tts
from livekit.agents import vad as lk_vad

from ..config.loader import LoadedConfig
from ..config.spec import PROVIDER_KINDS, AgentSpec, ProviderKind, ProviderSpec
from ..providers.info import BuildContext, Stage
from ..providers.registry import Registry

if TYPE_CHECKING:
    from livekit.agents.inference import TurnDetector

    from ..config.spec import TurnSpec
    from .lm_turn import LmTurnDetector

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]
T = TypeVar("T")


@dataclass
class Pipeline:
    """A stage is None where a runtime built only some (``chat``: the LLM alone)."""

    stt: lk_stt.STT | None
    llm: lk_llm.LLM | None
    tts: lk_tts.TTS | None
    vad: lk_vad.VAD | None
    turn_detector: TurnDetector | LmTurnDetector | None = None
    load_seconds: dict[str, float] = field(default_factory=dict)
    chains: dict[str, list[str]] = field(default_factory=dict)
    """Stage -> its providers in order, for stages given as a fallback chain."""

    @classmethod
    def from_stages(
        cls,
        stages: Mapping[str, Stage | None],
        *,
        turn_detector: TurnDetector | LmTurnDetector | None = None,
        load_seconds: dict[str, float] | None = None,
        chains: dict[str, list[str]] | None = None,
    ) -> Pipeline:
        """The pipeline of stages built by kind (:func:`build_stage`), each its kind's class."""
        return cls(
            stt=_of(stages, "stt", (lk_stt.STT,)),
            llm=_of(stages, "llm", (lk_llm.LLM,)),
            tts=_of(stages, "tts", (lk_tts.TTS,)),
            vad=built_vad(stages),
            turn_detector=turn_detector,
            load_seconds=load_seconds or {},
            chains=chains or {},
        )

    def describe(self) -> dict[str, str]:
        """Stage -> its provider (the first of a chain)."""
        from .fallback import describe

        out: dict[str, str] = {}
        for kind in PROVIDER_KINDS:
            obj = getattr(self, kind)
            labels = getattr(obj, "chain_labels", None)
            out[kind] = labels[0] if labels else describe(obj)
        return out

    async def aclose(self) -> None:
        for obj in (self.stt, self.llm, self.tts):
            close = getattr(obj, "aclose", None)
            if close is not None:
                try:
                    await close()
                except Exception:
                    logger.exception("closing %r", obj)


def _of(stages: Mapping[str, Stage | None], kind: str, base: tuple[type[T], ...]) -> T | None:
    # ``base`` in a tuple: livekit's base classes are abstract, and mypy refuses those
    # where a bare ``type[T]`` is expected.
    obj = stages.get(kind)
    if obj is None or isinstance(obj, base):
        return obj
    raise TypeError(f"{kind}: {type(obj).__name__} is not a livekit {base[0].__name__}")


def required(stage: T | None, kind: str) -> T:
    """A stage the caller cannot do without (a full pipeline always has it)."""
    if stage is None:
        raise RuntimeError(f"this pipeline was built without its {kind} stage")
    return stage


def built_vad(built: Mapping[str, Stage | None]) -> lk_vad.VAD | None:
    """The VAD built so far (built first: an STT stage may need it)."""
    return _of(built, "vad", (lk_vad.VAD,))


TURN_MODEL_MIN_SILENCE = 0.25
"""livekit's turn model refuses a VAD that ends speech sooner than this."""


def _vad_for_turn_model(pspec: ProviderSpec) -> ProviderSpec:
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
    """Build and preload every stage. Blocking (models load): call it in a thread. A stage
    given as a list becomes a fallback chain (:mod:`.fallback`)."""
    spec = loaded.spec
    built: dict[str, Stage] = {}
    timings: dict[str, float] = {}
    chains: dict[str, list[str]] = {}
    # The VAD first: a chain with a non-streaming STT needs it.
    for kind in PIPELINE_ORDER:
        t0 = time.perf_counter()
        built[kind] = build_stage(kind, loaded, registry, progress, vad=built_vad(built))
        if len(spec.chain(kind)) > 1:
            chains[kind] = [p.label for p in spec.chain(kind)]
        timings[kind] = time.perf_counter() - t0
    turn_detector = None
    if spec.turn.detection != "vad":
        if progress:
            progress(f"loading turn detection: {spec.turn.detection}")
        t0 = time.perf_counter()
        turn_detector = build_turn_detector(spec.turn)
        timings["turn_model"] = time.perf_counter() - t0
    return Pipeline.from_stages(
        built, turn_detector=turn_detector, load_seconds=timings, chains=chains
    )


PIPELINE_ORDER: tuple[ProviderKind, ...] = ("vad", "stt", "llm", "tts")


def build_turn_detector(turn: TurnSpec) -> TurnDetector | LmTurnDetector | None:
    """``turn.detection``'s model (blocking: it loads); None for plain VAD endpointing."""
    if turn.detection == "turn_model":
        from livekit.agents import inference

        return inference.TurnDetector(version="v1-mini")
    if turn.detection == "lm":
        from .lm_turn import LmTurnDetector

        return LmTurnDetector.load(turn.lm_threshold)
    return None


def build_stage(
    kind: ProviderKind,
    loaded: LoadedConfig,
    registry: Registry,
    progress: Progress | None = None,
    *,
    vad: lk_vad.VAD | None = None,
) -> Stage:
    """One stage's provider, or its fallback chain; ``vad`` (the pipeline's) for an STT
    stage: a chain wraps a non-streaming STT with it, and a realtime STT may end
    utterances on it."""
    from .fallback import build_chain

    spec = loaded.spec
    ctx = BuildContext(language=spec.language, env=loaded.env, base_dir=loaded.base_dir, vad=vad)
    objs = [_build_one(kind, p, registry, ctx, progress) for p in _chain(kind, spec)]
    return build_chain(kind, objs, timeout=spec.fallback.timeout, vad=vad)


def _chain(kind: ProviderKind, spec: AgentSpec) -> list[ProviderSpec]:
    pspecs = spec.chain(kind)
    if kind == "vad" and spec.turn.detection == "turn_model":
        pspecs = [_vad_for_turn_model(pspecs[0])]
    return [
        p.model_copy(update={"options": {**p.options, "agent_name": spec.name}})
        if kind == "llm" and p.provider == "scripted" and "agent_name" not in p.options
        else p
        for p in pspecs
    ]


def _build_one(
    kind: ProviderKind,
    pspec: ProviderSpec,
    registry: Registry,
    ctx: BuildContext,
    progress: Progress | None,
) -> Stage:
    if progress:
        progress(f"loading {kind}: {pspec.label}")
    obj = registry.build(kind, pspec, ctx)
    # Convention: a provider with heavy state offers a blocking ``preload()``; we are in a
    # worker thread here, so the first session does not stall the event loop loading it.
    preload = getattr(obj, "preload", None)
    if callable(preload):
        preload()
    return obj
