"""faster-whisper STT (optional extra ``causerie[whisper]``), in-process on the CPU.

Whisper is not a streaming model: the session wraps it with livekit's ``StreamAdapter``,
which cuts utterances with the VAD and decodes each one whole. Within a buffer, faster-whisper's
own VAD (Silero, shipped in its wheel) drops the silences before decoding (``vad_filter``:
by default on for buffers over ``_VAD_AUTO_S``, such as a file given to ``recognize()``; the
session's utterances are cut by its VAD already): a long buffer is decoded speech segment by
speech segment, and its silences give no hallucinated text. The language Whisper decoded
in (detected when none is set) is the FINAL's ``language``. Models are never downloaded at run time
(``local_files_only``): ``stt.model`` is a CTranslate2 model folder, or a size name already
in the local Hugging Face cache.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
from livekit import rtc
from livekit.agents import stt
from livekit.agents.language import LanguageCode
from pydantic import Field, field_validator

from ...audio.wav import resample
from ...config.options import Options
from ...config.spec import ProviderSpec
from ...errors import ProviderError
from ..info import BuildContext, ProviderInfo
from .batch_stt import BatchSTT

_MODEL_FILES = ("model.bin", "config.json")  # what every CTranslate2 Whisper folder holds
_VAD_AUTO_S = 10.0


class WhisperSTT(BatchSTT):
    def __init__(
        self,
        model: Any,
        *,
        model_name: str,
        language: str | None,
        beam_size: int = 1,
        vad_filter: bool | None = None,
    ) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=False, interim_results=False))
        self._model = model
        self._model_name = model_name
        self._language = language
        self._beam_size = beam_size
        self._vad_filter = vad_filter

    @property
    def model(self) -> str:
        return self._model_name

    @property
    def provider(self) -> str:
        return "whisper"

    async def _recognize_frame(
        self, frame: rtc.AudioFrame, language: str | None
    ) -> stt.SpeechEvent:
        pcm = np.frombuffer(frame.data, dtype=np.int16)
        if frame.num_channels > 1:
            pcm = pcm.reshape(-1, frame.num_channels).mean(axis=1).astype(np.int16)
        pcm = resample(pcm, frame.sample_rate, 16000)
        audio = pcm.astype(np.float32) / 32768.0
        # Whisper wants a bare code ("en"), callers may pass "en-US".
        lang = self._language
        if language:
            lang = LanguageCode(language).language
        # CTranslate2 releases the GIL: a thread keeps the event loop free.
        text, used = await asyncio.to_thread(self._transcribe, audio, lang)
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            # The language Whisper actually decoded in (detected when none was set).
            alternatives=[stt.SpeechData(language=LanguageCode(used), text=text)],
        )

    def _transcribe(self, audio: np.ndarray, language: str | None) -> tuple[str, str]:
        segments, info = self._model.transcribe(
            audio,
            language=language,
            beam_size=self._beam_size,
            vad_filter=(
                len(audio) > _VAD_AUTO_S * 16000 if self._vad_filter is None else self._vad_filter
            ),
            condition_on_previous_text=False,
        )
        text = " ".join(s.text.strip() for s in segments).strip()
        return text, info.language


def load_model(name: str, base_dir: Path | None, options: dict[str, Any]) -> Any:
    from faster_whisper import WhisperModel

    path = Path(name)
    if not path.is_absolute() and base_dir is not None and (base_dir / path).exists():
        path = base_dir / path
    if path.is_dir() and not all((path / f).is_file() for f in _MODEL_FILES):
        raise ProviderError(
            f"stt provider 'whisper': {str(path)!r} is not a CTranslate2 Whisper model folder "
            f"(it lacks {' and '.join(f for f in _MODEL_FILES if not (path / f).is_file())}). "
            "Models are not downloaded at run time: convert a Whisper model with "
            "ct2-transformers-converter, or set stt.model to a size already in the Hugging "
            "Face cache (tiny, base, small...)."
        )
    if path.exists() and not path.is_dir():
        raise ProviderError(
            f"stt provider 'whisper': {str(path)!r} is a file; stt.model must be a CTranslate2 "
            "Whisper model folder (with model.bin and config.json) or a size name"
        )
    target = str(path) if path.exists() else name
    try:
        return WhisperModel(
            target,
            device=str(options.get("device", "cpu")),
            compute_type=str(options.get("compute_type", "int8")),
            cpu_threads=int(options.get("cpu_threads", 0)),
            local_files_only=True,
        )
    except Exception as e:
        raise ProviderError(
            f"stt provider 'whisper': cannot load model {name!r} "
            f"({type(e).__name__}: {str(e)[:160]}). "
            "Models are not downloaded at run time: set stt.model to a local CTranslate2 Whisper "
            "folder (e.g. converted with ct2-transformers-converter), or a size already in the "
            "Hugging Face cache."
        ) from e


class WhisperOptions(Options):
    """``stt.options`` (the model folder or size is ``stt.model``)."""

    device: str = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = Field(default=0, ge=0, description="0: CTranslate2 decides.")
    beam_size: int = Field(default=1, ge=1, le=20)
    vad_filter: bool | None = Field(
        default=None, description=f"null: on for buffers over {_VAD_AUTO_S:.0f} s."
    )

    @field_validator("vad_filter", mode="before")
    @classmethod
    def _strict_bool(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, bool):
            raise ValueError(
                f"must be true, false or null (automatic: buffers over {_VAD_AUTO_S:.0f} s), "
                f"got {value!r}"
            )
        return value


def _build(spec: ProviderSpec, ctx: BuildContext) -> WhisperSTT:
    opts: WhisperOptions = PROVIDER.parse_options(spec)
    name = spec.model or "small"
    model = load_model(name, ctx.base_dir, opts.model_dump())
    language = ctx.language_for(spec).split("-")[0]
    if language not in model.supported_languages:  # else English-only models answer in English
        only = " (the model is English-only)" if model.supported_languages == ["en"] else ""
        raise ValueError(f"model {name!r} cannot transcribe language {language!r}{only}")
    return WhisperSTT(
        model,
        model_name=name,
        language=language,
        beam_size=opts.beam_size,
        vad_filter=opts.vad_filter,
    )


PROVIDER = ProviderInfo(
    kind="stt",
    name="whisper",
    build=_build,
    description="faster-whisper on the CPU from a local model folder (accurate, not streaming)",
    modules=("faster_whisper",),
    extra="whisper",
    offline=True,
    models=("tiny", "base", "small"),
    model_hint="models/faster-whisper-small",
    options=WhisperOptions,
)
