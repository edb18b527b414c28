"""What every route needs, held by the app (``app.state.gateway``) and given by dependency."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from ..providers.http import vendor_http
from .engines import Engines
from .errors import APIError
from .metrics import GatewayMetrics
from .settings import GatewaySettings

logger = logging.getLogger(__name__)


@dataclass
class Gateway:
    settings: GatewaySettings
    metrics: GatewayMetrics
    engines: Engines | None = None
    """Set once the providers are built (lifespan); routes run only after that."""

    def failed(self, endpoint: str, err: APIError) -> None:
        """Count an error answered; log the ones that are the gateway's or an engine's fault."""
        self.metrics.error(endpoint, err.status, err.code or str(err.status))
        if err.status >= 500:
            logger.warning("%s: %d %s: %s", endpoint, err.status, err.code, err.message)

    @property
    def ready(self) -> Engines:
        assert self.engines is not None, "gateway used before startup"
        return self.engines


def _gateway(request: Request) -> Gateway:
    gw: Gateway = request.app.state.gateway
    return gw


GatewayDep = Annotated[Gateway, Depends(_gateway)]


async def vendor_session() -> AsyncIterator[None]:
    """livekit's aiohttp-based plugins (Deepgram, ElevenLabs, ...) take their HTTP session
    from a LiveKit job, and a request here has none: it gets one, kept to its last byte."""
    async with vendor_http():
        yield
