"""``POST /v1/audio/transcriptions``: the agent's STT, through livekit's public STT API."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from livekit import rtc
from livekit.agents import APIError as ProviderAPIError
from livekit.agents import stt as lk_stt

from ..agent.pipeline import required
from .audio_in import RATE, Decoded, decode
from .auth import Slot
from .errors import APIError, bad_request, ok
from .state import Gateway, GatewayDep, vendor_session
from .transcript_formats import (
    Segment,
    Transcript,
    TranscriptFormat,
    to_json,
    to_srt,
    to_verbose,
    to_vtt,
)

ENDPOINT = "/v1/audio/transcriptions"
_FRAME = RATE // 50  # 20 ms, as a microphone would deliver

router = APIRouter(dependencies=[Depends(vendor_session)])


def _frame(samples: object) -> rtc.AudioFrame:
    data = memoryview(samples).cast("B")  # type: ignore[arg-type]
    return rtc.AudioFrame(bytes(data), RATE, 1, len(data) // 2)


def provider_failed(e: Exception) -> APIError:
    return APIError(502, f"the engine failed: {e}", code="provider_error")


def timed_out(seconds: float) -> APIError:
    return APIError(504, f"the request took longer than {seconds:g} s", code="timeout")


async def _recognize(gw: Gateway, audio: Decoded, language: str | None) -> Transcript:
    stt = required(gw.ready.pipeline.stt, "stt")
    lang = language or gw.ready.loaded.spec.stt.language or gw.ready.loaded.spec.language
    try:
        event = await stt.recognize(_frame(audio.samples), language=lang)
    except NotImplementedError:  # a streaming-only STT: its finals, joined
        try:
            text = " ".join([p async for p in _stream_stt(stt, audio, lang)])
        except ProviderAPIError as e:
            raise provider_failed(e) from None
        segments = [Segment(0.0, audio.duration, text)] if text else []
        return Transcript(text, str(lang), audio.duration, segments)
    except ProviderAPIError as e:
        raise provider_failed(e) from None
    alt = event.alternatives[0] if event.alternatives else None
    text = (alt.text if alt else "").strip()
    start, end = (alt.start_time, alt.end_time) if alt else (0.0, 0.0)
    if not end > start:
        start, end = 0.0, audio.duration
    segments = [Segment(start, end, text, alt.confidence if alt else 0.0)] if text else []
    return Transcript(text=text, language=str(lang), duration=audio.duration, segments=segments)


async def _stream_events(gw: Gateway, audio: Decoded, language: str | None) -> AsyncIterator[str]:
    """OpenAI's streamed transcript events: a delta per final, then done. A non-streaming
    STT gives one delta."""
    stt = required(gw.ready.pipeline.stt, "stt")
    settings = gw.settings
    t0 = time.perf_counter()
    parts: list[str] = []
    try:
        async with asyncio.timeout(settings.request_timeout):
            if not stt.capabilities.streaming:
                text = (await _recognize(gw, audio, language)).text
                parts.append(text)
                yield _sse({"type": "transcript.text.delta", "delta": text})
            else:
                async for piece in _stream_stt(stt, audio, language):
                    parts.append(piece)
                    delta = piece if len(parts) == 1 else " " + piece
                    yield _sse({"type": "transcript.text.delta", "delta": delta})
    except (ProviderAPIError, APIError, TimeoutError) as e:
        err = e if isinstance(e, APIError) else provider_failed(e)
        if isinstance(e, TimeoutError):
            err = timed_out(settings.request_timeout)
        gw.failed(ENDPOINT, err)
        yield _sse(err.body())
        return
    m = gw.metrics
    m.rtf.labels(endpoint=ENDPOINT).observe((time.perf_counter() - t0) / audio.duration)
    m.audio_seconds.labels(endpoint=ENDPOINT).inc(audio.duration)
    yield _sse({"type": "transcript.text.done", "text": " ".join(parts)})


async def _stream_stt(stt: lk_stt.STT, audio: Decoded, language: str | None) -> AsyncIterator[str]:
    stream = stt.stream(language=language) if language else stt.stream()
    async with stream:
        samples = audio.samples
        for i in range(0, len(samples), _FRAME):
            stream.push_frame(_frame(samples[i : i + _FRAME]))
        stream.end_input()
        async for ev in stream:
            if ev.type == lk_stt.SpeechEventType.FINAL_TRANSCRIPT and ev.alternatives:
                text = ev.alternatives[0].text.strip()
                if text:
                    yield text


def _sse(obj: object) -> str:
    return f"data: {json.dumps(obj)}\n\n"


@router.post(
    ENDPOINT,
    response_model=None,
    responses=ok("application/json", "text/plain", "text/vtt", "text/event-stream"),
)
async def transcriptions(
    gw: GatewayDep,
    _key: Slot,
    file: Annotated[UploadFile, File(description="The audio: wav, flac, ogg/opus, mp3, webm...")],
    model: Annotated[str, Form(min_length=1)],
    language: Annotated[str | None, Form(pattern=r"^[a-zA-Z]{2,3}(-[A-Za-z]{2})?$")] = None,
    prompt: Annotated[str | None, Form(max_length=4096)] = None,
    response_format: Annotated[TranscriptFormat, Form()] = "json",
    stream: Annotated[bool, Form()] = False,
    temperature: Annotated[float, Form(ge=0.0, le=1.0)] = 0.0,
) -> Response:
    """``prompt`` and ``temperature`` are accepted for compatibility; livekit's STT interface
    has no place for them, so they do not change the result."""
    gw.ready.model("stt", model)
    settings = gw.settings
    audio = await asyncio.to_thread(decode, file.file, settings.max_audio_seconds)
    if stream:
        if response_format not in ("json", "text"):
            raise bad_request(
                "response_format: streaming gives transcript events; use json or text",
                param="response_format",
            )
        return StreamingResponse(
            _stream_events(gw, audio, language), media_type="text/event-stream"
        )
    t0 = time.perf_counter()
    try:
        async with asyncio.timeout(settings.request_timeout):
            transcript = await _recognize(gw, audio, language)
    except TimeoutError:
        raise timed_out(settings.request_timeout) from None
    m = gw.metrics
    m.rtf.labels(endpoint=ENDPOINT).observe((time.perf_counter() - t0) / audio.duration)
    m.audio_seconds.labels(endpoint=ENDPOINT).inc(audio.duration)
    if response_format == "text":
        return PlainTextResponse(transcript.text + "\n")
    if response_format == "srt":
        return PlainTextResponse(to_srt(transcript))
    if response_format == "vtt":
        return PlainTextResponse(to_vtt(transcript), media_type="text/vtt")
    if response_format == "verbose_json":
        return JSONResponse(to_verbose(transcript))
    return JSONResponse(to_json(transcript))
