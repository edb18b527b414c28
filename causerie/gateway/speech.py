"""``POST /v1/audio/speech``: the agent's TTS, streamed as it is synthesized."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Literal

import numpy as np
from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse
from livekit.agents import APIError as ProviderAPIError
from livekit.agents import tts as lk_tts
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .audio_out import MEDIA_TYPES, SpeechEncoder, SpeechFormat
from .auth import Slot
from .errors import APIError, bad_request, ok
from .state import Gateway, GatewayDep, vendor_session
from .streams import produced
from .transcriptions import provider_failed, timed_out

ENDPOINT = "/v1/audio/speech"

router = APIRouter(dependencies=[Depends(vendor_session)])


class SpeechRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1)
    input: str
    voice: str | None = None
    speed: float = Field(default=1.0, ge=0.25, le=4.0)
    response_format: SpeechFormat = "mp3"
    stream_format: Literal["audio", "sse"] = "audio"
    instructions: str | None = None
    """Accepted for compatibility; livekit's TTS interface has no place for it."""

    @field_validator("input")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must contain text to speak")
        return v


async def _audio(
    gw: Gateway, tts: lk_tts.TTS, req: SpeechRequest, encoder: SpeechEncoder
) -> AsyncGenerator[bytes]:
    """Encoded chunks as the TTS makes them. Cancelled (client gone): the TTS stream is
    closed by its ``async with``, so nothing keeps running."""
    t0 = time.perf_counter()
    first = True
    async with tts.synthesize(req.input) as stream:
        async for ev in stream:
            frame = ev.frame
            pcm = np.frombuffer(frame.data, dtype=np.int16)
            if frame.num_channels > 1:
                pcm = pcm.reshape(-1, frame.num_channels).mean(axis=1).astype(np.int16)
            if frame.sample_rate != encoder.in_rate:
                raise APIError(500, "the TTS changed its sample rate mid-stream")
            data = encoder.push(pcm)
            if data:
                if first:
                    gw.metrics.first_byte.observe(time.perf_counter() - t0)
                    first = False
                yield data
    tail = encoder.close()
    if tail:
        yield tail
    m = gw.metrics
    if encoder.seconds > 0:
        m.rtf.labels(endpoint=ENDPOINT).observe((time.perf_counter() - t0) / encoder.seconds)
        m.audio_seconds.labels(endpoint=ENDPOINT).inc(encoder.seconds)


def _as_api_error(gw: Gateway, e: Exception) -> APIError:
    if isinstance(e, APIError):
        return e
    if isinstance(e, TimeoutError):
        return timed_out(gw.settings.request_timeout)
    return provider_failed(e)


async def _guarded(
    gw: Gateway, head: bytes, chunks: AsyncIterator[bytes], sse: bool
) -> AsyncIterator[bytes]:
    """Errors after the headers went out cannot change the status: count them and end the
    body (an SSE stream says why)."""

    async def all_chunks() -> AsyncIterator[bytes]:
        yield head
        async for data in chunks:
            yield data

    try:
        async for data in all_chunks():
            if sse:
                event = {"type": "speech.audio.delta", "audio": base64.b64encode(data).decode()}
                yield f"data: {json.dumps(event)}\n\n".encode()
            else:
                yield data
    except (ProviderAPIError, APIError, TimeoutError) as e:
        err = _as_api_error(gw, e)
        gw.failed(ENDPOINT, err)
        if sse:
            yield f"data: {json.dumps(err.body())}\n\n".encode()
        return
    if sse:
        done = {"type": "speech.audio.done", "usage": {"input_tokens": 0, "output_tokens": 0}}
        yield f"data: {json.dumps(done)}\n\n".encode()


@router.post(
    ENDPOINT, response_model=None, responses=ok(*MEDIA_TYPES.values(), "text/event-stream")
)
async def speech(gw: GatewayDep, _key: Slot, req: SpeechRequest) -> StreamingResponse:
    engines = gw.ready
    engines.model("tts", req.model)
    if len(req.input) > gw.settings.max_input_chars:
        raise bad_request(
            f"input: {len(req.input)} characters; the maximum is {gw.settings.max_input_chars}",
            param="input",
            code="string_above_max_length",
        )
    tts = await engines.tts_for(req.voice)
    encoder = SpeechEncoder(req.response_format, tts.sample_rate, req.speed)
    sse = req.stream_format == "sse"
    chunks = produced(
        lambda: _audio(gw, tts, req, encoder),
        time_limit=gw.settings.request_timeout,
        name="gateway.speech",
    )
    # Wait for the first audio here: an engine failing before it gets a real HTTP status.
    try:
        head = await anext(chunks)
    except StopAsyncIteration:
        raise APIError(502, "the engine made no audio", code="provider_error") from None
    except (ProviderAPIError, TimeoutError) as e:
        raise _as_api_error(gw, e) from None
    except BaseException:
        await chunks.aclose()
        raise
    return StreamingResponse(
        _guarded(gw, head, chunks, sse),
        media_type="text/event-stream" if sse else encoder.media_type,
    )
