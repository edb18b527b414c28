"""Registry entry for the silero VAD built into livekit-agents' local inference."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, ParamSpec, TypeVar

from pydantic import Field

from ...config.options import Options
from ...config.spec import ProviderSpec
from ..info import BuildContext, ProviderInfo

P = ParamSpec("P")
T = TypeVar("T")


class InlineExecutor(Executor):
    """Runs each call at once, in the caller's thread. The native model scores a 32 ms
    window in ~20 us; livekit's default, a one-thread pool per stream, spent ~160 us of CPU
    per window handing it over and back (and kept a thread per session)."""

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as e:  # as a pool's worker does: the caller's await raises it
            future.set_exception(e)
        return future


class SileroOptions(Options):
    """``vad.options``. A short silence: the VAD's end of speech ends the turn."""

    min_silence_duration: float = Field(default=0.2, ge=0.05, le=3.0)
    min_speech_duration: float = Field(default=0.05, ge=0.01, le=1.0)
    prefix_padding_duration: float = Field(default=0.3, ge=0.0, le=2.0)
    activation_threshold: float = Field(default=0.5, ge=0.05, le=0.95)


def _build(spec: ProviderSpec, ctx: BuildContext) -> Any:
    from livekit.agents import inference

    opts: SileroOptions = PROVIDER.parse_options(spec)
    return inference.VAD(model="silero", executor=InlineExecutor(), **opts.model_dump())


PROVIDER = ProviderInfo(
    kind="vad",
    name="silero",
    build=_build,
    description="Silero VAD from livekit-agents' local inference (in-process, no download)",
    offline=True,
    models=("silero",),
    options=SileroOptions,
)
