"""The HTTP session livekit's aiohttp-based plugins (Deepgram, ElevenLabs, Cartesia, Rime,
Gladia...) take from a LiveKit job. Outside one (talk, the browser server, scenarios) there
is none, so each session holds one for its life."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any


def vendor_http() -> AbstractAsyncContextManager[Any]:
    """``async with vendor_http():`` around a session. Inside a LiveKit job it is the job's
    own, left untouched."""
    from livekit.agents.utils import http_context

    return http_context.open()
