"""LiveKit's server API (rooms, dispatch) with errors a user can act on."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from livekit import api

from ...errors import CauserieError
from .settings import Credentials, LiveKitUnreachable

API_TIMEOUT = 10.0


class LiveKitRequestError(CauserieError):
    """The server answered, and said no (bad credentials, unknown room...)."""


class RoomNotFound(CauserieError):
    exit_code = 2

    def __init__(self, room: str) -> None:
        self.room = room
        super().__init__(
            f"room {room!r} does not exist on the LiveKit server; a client creates it by joining "
            "(the web page, or `causerie call --room NAME`)"
        )


def describe(error: BaseException) -> str:
    """A short reason: 'connection refused' rather than aiohttp's connection-key dump."""
    if isinstance(error, aiohttp.ClientConnectorError) and error.os_error is not None:
        errno = error.os_error.errno
        return os.strerror(errno).lower() if errno else str(error.os_error)
    if isinstance(error, asyncio.TimeoutError):
        return "no answer (timed out)"
    return str(error) or type(error).__name__


@asynccontextmanager
async def livekit_api(
    creds: Credentials, request_timeout: float = API_TIMEOUT
) -> AsyncIterator[api.LiveKitAPI]:
    """A ``LiveKitAPI``; a network failure inside the block becomes :class:`LiveKitUnreachable`,
    a refusal :class:`LiveKitRequestError`."""
    lkapi = api.LiveKitAPI(
        creds.url, creds.api_key, creds.secret, timeout=aiohttp.ClientTimeout(total=request_timeout)
    )
    try:
        yield lkapi
    except (TimeoutError, aiohttp.ClientConnectionError, OSError) as e:
        raise LiveKitUnreachable(creds.url, describe(e)) from None
    except api.ServerError as e:
        hint = " (check LIVEKIT_API_KEY and LIVEKIT_API_SECRET)" if e.status in (401, 403) else ""
        raise LiveKitRequestError(
            f"the LiveKit server refused the request: {e.message}{hint}"
        ) from None
    finally:
        await lkapi.aclose()  # type: ignore[no-untyped-call, unused-ignore]
