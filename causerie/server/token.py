"""``GET /token?room=...&identity=...`` (or ``POST /token`` with that JSON body): a LiveKit
access token for one room, for a browser or an app.

Answers ``{"url": LIVEKIT_URL, "token": JWT}``; an optional ``name`` is the display name.
The token joins that room only, publishes a microphone, subscribes, sends data, and expires
after ``CAUSERIE_TOKEN_TTL`` seconds; with ``CAUSERIE_TOKEN_DISPATCH`` (default on) it also
carries a room configuration dispatching the worker named ``LIVEKIT_AGENT_NAME`` when the
room is created.

Errors are JSON ``{"error": code, "message": text}``, checked in this order:

- 429 ``rate_limited``: more than ``CAUSERIE_TOKEN_RATE_LIMIT`` requests a minute from one client
- 401 ``unauthorized``: ``CAUSERIE_TOKEN_API_KEY`` is set and the ``X-API-Key`` header (or
  ``Authorization: Bearer``) does not match
- 422 ``invalid_request``: a bad ``room`` or ``identity``; ``field`` names it
- 503 ``livekit_not_configured``: ``missing`` names the ``LIVEKIT_*`` variables to set; no
  token is ever made from half a configuration

``POST /api/page-token`` (same body) is for the talk page served here: it needs no API key,
but only answers a request whose ``Origin`` is this server's own (403 ``forbidden_origin``
otherwise), so the key never reaches a browser. ``CAUSERIE_TOKEN_PAGE=false`` turns it off.

CORS: origins in ``CAUSERIE_TOKEN_CORS_ORIGINS`` (comma-separated, ``*`` for any) may call it
from another site; same-origin pages need nothing. CORS is a middleware, not a route:

    app.include_router(token_router(settings))
    install_token_cors(app, settings)
"""

from __future__ import annotations

import datetime
import json
import logging
import math
import re
import secrets
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict
from starlette.datastructures import QueryParams

from ..errors import ConfigError
from ..transports.livekit.settings import EnvSettings, LiveKitSettings
from ..transports.livekit.tokens import (
    IDENTITY_RE,
    IDENTITY_RULE,
    ROOM_RE,
    ROOM_RULE,
    check_identity,
    check_room,
    user_token,
)
from .api_docs import errors, json_body, query
from .query_params import repeated
from .security import PathCORSMiddleware

logger = logging.getLogger(__name__)

AGENT_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
AGENT_KEY_RULE = "an agent's key: 1-64 lowercase letters, digits, '-' or '_'"


MAX_BODY_BYTES = 4096
MAX_CLIENTS = 10_000
"""Rate-limit buckets kept; the least recently seen client is forgotten first."""


class TokenSettings(EnvSettings):
    """``CAUSERIE_TOKEN_*`` settings."""

    model_config = SettingsConfigDict(env_prefix="CAUSERIE_TOKEN_")

    api_key: SecretStr | None = Field(default=None, description="When set, callers must send it.")
    ttl: int = Field(default=600, ge=30, le=86400, description="Token lifetime, seconds.")
    rate_limit: int = Field(
        default=30, ge=1, le=100_000, description="Requests per client a minute."
    )
    cors_origins: list[str] = Field(default_factory=list, description="Comma-separated; * for any.")
    dispatch: bool = Field(default=True, description="Tokens dispatch LIVEKIT_AGENT_NAME's worker.")
    trust_proxy: bool = Field(
        default=False,
        description="Rate-limit by X-Forwarded-For, and take X-Forwarded-Host as this server's "
        "host (only behind a trusted proxy).",
    )
    page: bool = Field(
        default=True,
        description="POST /api/page-token mints tokens for pages of this server's own origin.",
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [o.strip().rstrip("/") for o in v.split(",") if o.strip()]
        return v


class RateLimiter:
    """A token bucket per client: ``rate`` requests a minute, bursts up to ``rate``."""

    def __init__(self, rate: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(rate)
        self.per_second = rate / 60.0
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, client: str) -> float:
        """0 when allowed (one request counted), else the seconds until the next is."""
        now = self.clock()
        tokens, last = self._buckets.pop(client, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.per_second)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.per_second
        self._buckets[client] = (tokens, now)
        while len(self._buckets) > MAX_CLIENTS:
            self._buckets.popitem(last=False)
        return wait


def _error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": code, "message": message, **extra}, status_code=status)


NAME_RULE = "1-64 characters, no control characters"


def check_name(name: str) -> str | None:
    """None when ``name`` is a valid display name, else the rule it breaks."""
    bad = any(unicodedata.category(c).startswith("C") for c in name)
    return NAME_RULE if bad or not 1 <= len(name.strip()) <= 64 else None


def same_origin(request: Request, *, trust_proxy: bool = False) -> bool:
    """The request comes from a page of this server: its ``Origin`` is our host (browsers
    send ``Origin`` with every POST) and, when the browser says, ``Sec-Fetch-Site`` agrees."""
    origin = request.headers.get("origin", "")
    site = request.headers.get("sec-fetch-site")
    if not origin or (site is not None and site != "same-origin"):
        return False
    parts = urlsplit(origin)
    host = request.headers.get("host", "")
    if trust_proxy and (forwarded := request.headers.get("x-forwarded-host")):
        host = forwarded.split(",")[0].strip()
    return parts.scheme in ("http", "https") and bool(host) and parts.netloc.lower() == host.lower()


def install_token_cors(app: FastAPI, settings: TokenSettings) -> None:
    """Starlette's CORS for ``/token`` alone, for ``settings.cors_origins``."""
    if settings.cors_origins:
        app.add_middleware(
            PathCORSMiddleware,
            paths=("/token",),
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "X-API-Key", "Authorization"],
            max_age=600,
        )


def token_router(
    settings: TokenSettings | None = None,
    livekit: LiveKitSettings | None = None,
    *,
    env: Mapping[str, str] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> APIRouter:
    """The ``/token`` routes. Settings default to ``env`` (default: the process environment);
    a bad ``LIVEKIT_*`` value does not stop the server, it makes ``/token`` answer 503."""
    settings = settings or TokenSettings.from_env(env)
    problem: str | None = None
    if livekit is None:
        try:
            livekit = LiveKitSettings.from_env(env)
        except ConfigError as e:
            problem = str(e)
    limiter = RateLimiter(settings.rate_limit, clock)
    router = APIRouter()

    def client_key(request: Request) -> str:
        if settings.trust_proxy and (fwd := request.headers.get("x-forwarded-for")):
            return fwd.split(",")[0].strip()
        return request.client.host if request.client else "unknown"

    def authorized(request: Request) -> bool:
        if settings.api_key is None:
            return True
        given = request.headers.get("x-api-key")
        if given is None:
            scheme, _, value = request.headers.get("authorization", "").partition(" ")
            given = value.strip() if scheme.lower() == "bearer" else ""
        return secrets.compare_digest(given.encode(), settings.api_key.get_secret_value().encode())

    def answer(request: Request, fields: Mapping[str, Any], *, key: bool = True) -> JSONResponse:
        wait = limiter.take(client_key(request))
        if wait > 0:
            retry = math.ceil(wait)
            response = _error(
                429,
                "rate_limited",
                f"too many token requests (at most {settings.rate_limit} a minute); "
                f"retry in {retry} s",
            )
            response.headers["Retry-After"] = str(retry)
            return response
        if key and not authorized(request):
            return _error(
                401, "unauthorized", "this endpoint needs its API key in the X-API-Key header"
            )
        twice = repeated(fields) if isinstance(fields, QueryParams) else []
        if twice:  # ?room=a&room=b: which one?
            name = twice[0]
            return _error(
                422, "invalid_request", f"{name}: given more than once; give it once", field=name
            )
        room, identity = fields.get("room"), fields.get("identity")
        for name, value, check in (
            ("room", room, check_room),
            ("identity", identity, check_identity),
        ):
            if not isinstance(value, str) or not value:
                return _error(422, "invalid_request", f"{name}: required", field=name)
            if rule := check(value):
                return _error(422, "invalid_request", f"{name}: {rule}", field=name)
        assert isinstance(room, str) and isinstance(identity, str)
        display = fields.get("name") or None
        if display is not None and (not isinstance(display, str) or check_name(display)):
            return _error(422, "invalid_request", f"name: {NAME_RULE}", field="name")
        if problem is not None or livekit is None:
            return _error(503, "livekit_not_configured", problem or "LiveKit is not configured")
        missing = livekit.missing()
        if missing:
            return _error(
                503,
                "livekit_not_configured",
                f"LiveKit is not configured on this server: set {', '.join(missing)}",
                missing=missing,
            )
        agent = fields.get("agent") or None
        if agent is not None and (not isinstance(agent, str) or not AGENT_KEY_RE.match(agent)):
            return _error(422, "invalid_request", f"agent: {AGENT_KEY_RULE}", field="agent")
        creds = livekit.require()
        dispatch = livekit.agent_name if settings.dispatch and livekit.agent_name else None
        token = user_token(
            creds,
            room=room,
            identity=identity,
            ttl=datetime.timedelta(seconds=settings.ttl),
            name=display,
            dispatch_agent=dispatch,
            # Several agents per server: the worker's job talks to this one (docs/STUDIO.md).
            dispatch_metadata=json.dumps({"agent": agent}) if agent else "",
        )
        logger.info("token for %s in room %s (dispatch: %s)", identity, room, dispatch or "none")
        return JSONResponse(
            {"url": creds.url, "token": token}, headers={"Cache-Control": "no-store"}
        )

    fields = {
        "room": {"type": "string", "pattern": ROOM_RE.pattern, "description": ROOM_RULE},
        "identity": {
            "type": "string",
            "pattern": IDENTITY_RE.pattern,
            "description": IDENTITY_RULE,
        },
        "name": {"type": "string", "description": NAME_RULE},
        "agent": {"type": "string", "pattern": AGENT_KEY_RE.pattern, "description": AGENT_KEY_RULE},
    }
    body = json_body(
        {"type": "object", "required": ["room", "identity"], "properties": fields},
        required=False,
    )
    params = query(*((n, s, s["description"]) for n, s in fields.items()))
    for p in params["parameters"][:2]:
        p["required"] = True
    ok = {
        "description": "A LiveKit access token",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["url", "token"],
                    "properties": {"url": {"type": "string"}, "token": {"type": "string"}},
                }
            }
        },
    }

    @router.get("/token", responses={200: ok, **errors(401, 422, 429, 503)}, openapi_extra=params)
    async def get_token(request: Request) -> Response:
        # Not typed Query parameters: FastAPI would validate them before the rate limit and
        # the API key, and a caller without the key must learn nothing about the fields.
        return answer(request, request.query_params)

    async def read_body(request: Request) -> dict[str, Any] | JSONResponse:
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return _error(413, "body_too_large", f"the body is over {MAX_BODY_BYTES} bytes")
        try:
            data = json.loads(body or b"{}")
        except (ValueError, UnicodeDecodeError):
            data = None
        if not isinstance(data, dict):
            return _error(
                400, "bad_json", 'the body must be a JSON object: {"room": ..., "identity": ...}'
            )
        return data

    @router.post(
        "/token", responses={200: ok, **errors(400, 401, 413, 422, 429, 503)}, openapi_extra=body
    )
    async def post_token(request: Request) -> Response:
        data = await read_body(request)
        if isinstance(data, JSONResponse):
            return data
        return answer(request, data)

    @router.post(
        "/api/page-token",
        responses={200: ok, **errors(400, 403, 404, 413, 422, 429, 503)},
        openapi_extra=body,
    )
    async def page_token(request: Request) -> Response:
        """For the talk page of this server: no API key, our own origin only, no CORS."""
        if not settings.page:
            return _error(
                404, "not_found", "page tokens are turned off here (CAUSERIE_TOKEN_PAGE=false)"
            )
        if not same_origin(request, trust_proxy=settings.trust_proxy):
            return _error(
                403,
                "forbidden_origin",
                "page tokens are only for pages served by this server; other callers use "
                "/token with the API key",
            )
        data = await read_body(request)
        if isinstance(data, JSONResponse):
            return data
        return answer(request, data, key=False)

    return router
