"""``GET /v1/models``, ``/healthz`` and ``/metrics``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .auth import Slot
from .errors import ok
from .state import GatewayDep

router = APIRouter()


@router.get("/v1/models")
async def list_models(gw: GatewayDep, _key: Slot) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {"id": model_id, "object": "model", "created": 0, "owned_by": f"causerie-{kind}"}
            for model_id, kind in gw.ready.models()
        ],
    }


@router.get("/healthz")
async def healthz(gw: GatewayDep) -> dict[str, Any]:
    return {"status": "ok", "models": [m for m, _ in gw.ready.models()]}


@router.get("/metrics", responses=ok("text/plain"))
async def metrics(gw: GatewayDep) -> Response:
    return Response(generate_latest(gw.metrics.registry), media_type=CONTENT_TYPE_LATEST)
