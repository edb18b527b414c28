"""HTTP and WebSocket endpoints. Errors are JSON: ``{"error": code, "message": text}``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, WebSocket
from fastapi.responses import FileResponse, JSONResponse, Response

from ..transports.admission import Busy
from .api_docs import errors, json_body
from .security import origin_allowed
from .sessions import SessionManager
from .settings import ServerSettings
from .token import RateLimiter

router = APIRouter()

AgentKey = Annotated[str | None, Query(description="the agent's key (default: the default agent)")]

_INDEX = Path(__file__).resolve().parent.parent / "web" / "index.html"
_DOCS = _INDEX.with_name("docs.html")


def _error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)


def _too_many(request: Request | WebSocket) -> str | None:
    """None when this client may start a session now, else why not (per-IP rate)."""
    limiter: RateLimiter = request.app.state.session_limiter
    client = request.client.host if request.client else "unknown"
    wait = limiter.take(client)
    if wait <= 0:
        return None
    rate = request.app.state.settings.session_rate_limit
    return (
        f"too many new sessions from {client} (at most {rate} a minute, "
        f"CAUSERIE_SESSION_RATE_LIMIT); retry in {math.ceil(wait)} s"
    )


@router.get("/", include_in_schema=False)
async def index() -> Response:
    return FileResponse(_INDEX, headers={"Cache-Control": "no-cache"})


@router.get("/docs", include_in_schema=False)
async def docs() -> Response:
    """Swagger UI over /openapi.json, vendored (web/vendor/swagger-ui): no CDN."""
    return FileResponse(_DOCS, headers={"Cache-Control": "no-cache"})


@router.get("/healthz")
async def healthz(request: Request) -> dict[str, Any]:
    manager: SessionManager = request.app.state.manager
    return {
        "status": "ok",
        "agent": request.app.state.loaded.spec.name,
        "providers": manager.pipeline.describe(),
        "sessions": manager.snapshot(),
    }


async def _read_limited(request: Request, limit: int) -> bytes | None:
    """The body, or None when it is larger than ``limit`` (never buffers more)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def _check_offer(body: bytes) -> tuple[str, str] | str:
    """(sdp, type) or an error message."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return 'the body must be JSON: {"sdp": "...", "type": "offer"}'
    if not isinstance(data, dict):
        return 'the body must be a JSON object: {"sdp": "...", "type": "offer"}'
    sdp, kind = data.get("sdp"), data.get("type")
    if kind != "offer":
        return f'"type" must be "offer", got {kind!r}'
    if not isinstance(sdp, str) or not sdp.startswith("v=0"):
        return '"sdp" must be an SDP session description (starting with "v=0")'
    if "m=audio" not in sdp:
        return "the offer has no audio section (m=audio): open the microphone before connecting"
    return sdp, kind


OFFER_SCHEMA = {
    "type": "object",
    "required": ["sdp", "type"],
    "properties": {
        "sdp": {"type": "string", "pattern": "^v=0", "description": "with an m=audio section"},
        "type": {"type": "string", "enum": ["offer"]},
    },
}
ANSWER = {
    "description": "The SDP answer",
    "content": {
        "application/json": {
            "schema": {
                **OFFER_SCHEMA,
                "properties": {
                    "sdp": {"type": "string"},
                    "type": {"type": "string", "enum": ["answer"]},
                },
            }
        }
    },
}


@router.post(
    "/api/offer",
    responses={200: ANSWER, **errors(400, 404, 413, 422, 429, 503)},
    openapi_extra=json_body(OFFER_SCHEMA),
)
async def offer(request: Request, agent: AgentKey = None) -> Response:
    """The browser's SDP offer -> our answer. 400 bad offer, 413 too large, 503 busy."""
    from aiortc import RTCSessionDescription

    from ..transports.webrtc import answer_offer

    settings: ServerSettings = request.app.state.settings
    manager: SessionManager = request.app.state.manager
    body = await _read_limited(request, settings.max_offer_bytes)
    if body is None:
        return _error(
            413, "offer_too_large", f"the offer is larger than {settings.max_offer_bytes} bytes"
        )
    checked = _check_offer(body)
    if isinstance(checked, str):
        return _error(400, "bad_offer", checked)
    agent = agent or None
    if not manager.knows(agent):
        known = ", ".join(manager.agents.keys()) if manager.agents else "none"
        return _error(404, "unknown_agent", f"no agent named {agent!r}; agents: {known}")
    if (refused := _too_many(request)) is not None:
        return _error(429, "rate_limited", refused, {"Retry-After": "60"})
    try:
        slot = manager.reserve("webrtc", agent)
    except Busy as e:
        return _error(503, "busy", str(e))
    try:
        answer, peer = await answer_offer(
            RTCSessionDescription(sdp=checked[0], type=checked[1]),
            connect_timeout=settings.connect_timeout,
            disconnect_grace=settings.disconnect_grace,
            media_timeout=settings.media_timeout,
            opus_bitrate=settings.opus_bitrate,
        )
    except ValueError as e:
        slot.release()
        return _error(400, "bad_offer", str(e))
    except BaseException:
        slot.release()
        raise
    manager.spawn(peer.run(slot), name=f"webrtc.connection[{id(peer):x}]")
    return JSONResponse({"sdp": answer.sdp, "type": answer.type})


@router.websocket("/api/ws")
async def websocket(ws: WebSocket, agent: AgentKey = None) -> None:
    from ..transports.websocket import serve_websocket

    settings: ServerSettings = ws.app.state.settings
    if not origin_allowed(ws.headers, settings.allowed_origins):
        # Refused before accepting: another site's page may not open a conversation.
        await ws.close(code=1008, reason="origin not allowed (CAUSERIE_ALLOWED_ORIGINS)")
        return
    await serve_websocket(
        ws,
        ws.app.state.manager,
        max_backlog_s=settings.max_output_backlog,
        idle_timeout=settings.idle_timeout,
        admit=lambda: _too_many(ws),
        agent=agent or None,
    )
