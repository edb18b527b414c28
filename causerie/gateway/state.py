"""What every route needs, held by the app (``app.state.gateway``) and given by dependency."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from .engines import Engines
from .metrics import GatewayMetrics
from .settings import GatewaySettings


@dataclass
class Gateway:
    settings: GatewaySettings
    metrics: GatewayMetrics
    engines: Engines | None = None
    """Set once the providers are built (lifespan); routes run only after that."""

    @property
    def ready(self) -> Engines:
        assert self.engines is not None, "gateway used before startup"
        return self.engines


def _gateway(request: Request) -> Gateway:
    gw: Gateway = request.app.state.gateway
    return gw


GatewayDep = Annotated[Gateway, Depends(_gateway)]
