"""The server's guards: the admin token as a FastAPI security dependency, security headers
on every response, a request body bound, the allowed ``Origin`` of WebSocket and SSE
requests, and the list of routes a server without an admin token leaves open.

Public routes are an explicit list (:data:`PUBLIC_ROUTES`, each with its reason); every other
route of the app must depend on :class:`AdminAuth`. ``tests/integration/test_security.py``
walks ``app.routes`` so that a new route cannot be forgotten.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ADMIN_VARIABLE = "CAUSERIE_ADMIN_TOKEN"

PUBLIC_ROUTES: Mapping[str, str] = {
    "/": "the talk page",
    "/healthz": "health check: provider names and session counts, no transcript",
    "/api/offer": "starts a conversation (WebRTC); bounded by max_sessions and a per-IP rate",
    "/api/ws": "a conversation over WebSocket; Origin checked, per-IP rate, idle timeout",
    "/api/ui": "the page's language and theme",
    "/api/page-token": "LiveKit token for this server's own pages (same Origin only)",
    "/token": "LiveKit token: its own API key (CAUSERIE_TOKEN_API_KEY) and rate limit",
    "/metrics": "Prometheus: its own token (CAUSERIE_METRICS_TOKEN)",
    "/dashboard": "the dashboard's static page (its data needs the admin token)",
    "/studio": "the studio's static page (its data needs the admin token)",
    "/api/agents": "the agents' keys, names and languages: the talk page's selector",
    "/dashboard/{name:path}": "the dashboard's static files",
    "/i18n/index.json": "the pages' languages",
    "/i18n/{name}": "the pages' strings",
    "/theme/{relpath:path}": "the agent's theme files",
    "/themes/{name}": "a theme's file list",
    "/themes/{name}/{relpath:path}": "a theme's files",
    "/static": "the pages' scripts and styles",
    "/openapi.json": "the API's schema",
    "/docs": "the API's documentation page",
}
"""Routes reachable without the admin token, and why that is safe."""


class Unauthorized(HTTPException):
    def __init__(self, variable: str) -> None:
        super().__init__(
            401,
            f"send 'Authorization: Bearer <token>' with the token in {variable}",
            headers={"WWW-Authenticate": "Bearer"},
        )


_bearer = HTTPBearer(
    auto_error=False, description=f"The admin token ({ADMIN_VARIABLE}) when it is set."
)


class AdminAuth:
    """``Depends(AdminAuth(token))``: a no-op without a token; else a constant-time check of
    ``Authorization: Bearer``, or 401 naming ``variable``."""

    def __init__(self, token: SecretStr | None, variable: str = ADMIN_VARIABLE) -> None:
        self.token = token.get_secret_value().encode() if token is not None else b""
        self.variable = variable

    @property
    def enabled(self) -> bool:
        return bool(self.token)

    def __repr__(self) -> str:
        return f"AdminAuth(enabled={self.enabled}, variable={self.variable!r})"

    def check(self, creds: HTTPAuthorizationCredentials | None) -> None:
        if not self.token:
            return
        given = creds.credentials.strip().encode() if creds is not None else b""
        if not secrets.compare_digest(given, self.token):
            raise Unauthorized(self.variable)

    async def __call__(
        self, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> None:
        self.check(creds)


class APIError(HTTPException):
    """An error answered as ``{"error": code, "message": message}`` with ``status``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(status, message)
        self.code = code


_HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}
_PLACE_CODES = {"query": "invalid_query", "path": "invalid_path"}


def _problem(error: Mapping[str, Any]) -> tuple[str, str, str]:
    """(where: query/path/body..., field, message) of one pydantic error. A validator's own
    message (ours name the field) is kept as it is."""
    loc = [str(p) for p in error.get("loc", ())]
    where, field = (loc[0] if loc else "?"), ".".join(loc[1:])
    cause = (error.get("ctx") or {}).get("error")
    text = str(cause) if error.get("type") == "value_error" and cause else None
    if text is None:
        text = f"{field or where}: {error.get('msg', 'invalid')}"
    return where, field or where, text


def install_error_handlers(app: FastAPI) -> None:
    """Errors as JSON ``{"error", "message"}`` (the server's shape) instead of ``detail``."""

    async def unauthorized(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        return JSONResponse(
            {"error": "unauthorized", "message": exc.detail},
            status_code=401,
            headers=exc.headers,
        )

    async def too_large(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        return JSONResponse({"error": "body_too_large", "message": exc.detail}, status_code=413)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        # Starlette's and FastAPI's own errors (unknown path, unparsable body) in our shape.
        assert isinstance(exc, StarletteHTTPException)
        code = getattr(exc, "code", None) or _HTTP_CODES.get(exc.status_code, "http_error")
        return JSONResponse(
            {"error": code, "message": str(exc.detail)},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        # FastAPI's own 422 ({"detail": [...]}) in the server's shape, naming each field.
        assert isinstance(exc, RequestValidationError)
        errors = exc.errors()
        problems = [_problem(e) for e in errors]
        fields = {p[1]: str(e.get("msg", "invalid")) for p, e in zip(problems, errors, strict=True)}
        places = {where for where, _, _ in problems}
        code = _PLACE_CODES.get(places.pop(), "invalid_request") if len(places) == 1 else None
        message = "; ".join(dict.fromkeys(text for _, _, text in problems)) or "invalid request"
        return JSONResponse(
            {"error": code or "invalid_request", "message": message, "fields": fields},
            status_code=422,
        )

    app.add_exception_handler(Unauthorized, unauthorized)
    app.add_exception_handler(BodyTooLarge, too_large)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)


def guards(route: object) -> list[AdminAuth]:
    """The :class:`AdminAuth` dependencies of a route (its own or its routers')."""
    dependant = getattr(route, "dependant", None)
    stack = list(dependant.dependencies) if dependant is not None else []
    found = []
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, AdminAuth):
            found.append(dep.call)
        stack.extend(dep.dependencies)
    return found


def all_routes(app: FastAPI) -> list[Any]:
    """Every route of the app, included routers flattened (FastAPI >= 0.16x keeps included
    routers as one entry of ``app.routes``); each has ``path`` and, for endpoints,
    ``methods`` and ``dependant`` with its routers' dependencies."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: app.routes is already flat
        return list(app.routes)
    return list(iter_route_contexts(app.routes))


def open_routes(app: FastAPI) -> list[str]:
    """Routes behind a token that is not set: open to whoever reaches the server."""
    found = {
        f"{path} ({auth.variable} not set)"
        for route in all_routes(app)
        if (path := getattr(route, "path", None))
        for auth in guards(route)
        if not auth.enabled
    }
    return sorted(found)


def uvicorn_limits(max_header_bytes: int, max_ws_message_bytes: int) -> dict[str, Any]:
    """uvicorn options bounding what one client can make the server hold: h11 (its
    httptools parser accepts headers of any size), the request head and a WebSocket
    message (a bigger one closes the socket with 1009). No permessage-deflate: a socket's
    zlib state costs memory, and the audio it carries (PCM) hardly compresses, yet every
    20 ms frame was deflated (3 % of the server process's CPU at 16 sessions, py-spy)."""
    return {
        "http": "h11",
        "h11_max_incomplete_event_size": max_header_bytes,
        "ws_max_size": max_ws_message_bytes,
        "ws_per_message_deflate": False,
    }


def is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


def exposure_warning(host: str, app: FastAPI) -> str | None:
    """What ``causerie serve`` prints when it listens beyond loopback with routes whose
    token is unset; None when it is only this machine or every route is guarded."""
    exposed = open_routes(app)
    if is_loopback(host) or not exposed:
        return None
    return (
        f"WARNING: listening on {host} (not only this machine) and these routes need no "
        "token; anyone who reaches the server can read transcripts and sessions:\n  "
        + "\n  ".join(exposed)
        + "\nset CAUSERIE_ADMIN_TOKEN (and CAUSERIE_METRICS_TOKEN), or --host 127.0.0.1"
    )


# -- Origin ------------------------------------------------------------------------------

LOCAL_HOSTS = frozenset(("localhost", "127.0.0.1", "::1", "[::1]"))


def origin_allowed(headers: Mapping[str, str], allowed: Iterable[str]) -> bool:
    """A browser's ``Origin`` is this server's own, a localhost one, or listed in
    ``allowed`` (``*``: any). No ``Origin`` is allowed: only browsers send one, and only
    a browser can be made to connect by another site's page."""
    origin = headers.get("origin")
    if origin is None:
        return True
    origin = origin.rstrip("/").lower()
    listed = {o.rstrip("/").lower() for o in allowed}
    if "*" in listed or origin in listed:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https"):
        return False
    host = headers.get("host", "").lower()
    return parts.netloc == host or (parts.hostname or "") in LOCAL_HOSTS


# -- headers and body bound (pure ASGI: streams and WebSockets pass through) -------------


def content_security_policy(connect: Iterable[str] = ()) -> str:
    """No inline script or style, nothing from another site; ``connect`` adds origins the
    page may reach (the LiveKit server)."""
    extra = "".join(f" {c}" for c in connect)
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        f"media-src 'self' blob:; connect-src 'self'{extra}; worker-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


def livekit_origins(url: str | None) -> list[str]:
    """``wss://host`` and ``https://host`` for a LiveKit URL (the client uses both)."""
    if not url:
        return []
    parts = urlsplit(url.strip())
    if not parts.netloc:
        return []
    secure = parts.scheme in ("wss", "https")
    return [
        f"{'wss' if secure else 'ws'}://{parts.netloc}",
        f"{'https' if secure else 'http'}://{parts.netloc}",
    ]


class SecurityHeadersMiddleware:
    """``X-Content-Type-Options``, ``Referrer-Policy`` and a frame policy on every response;
    a Content-Security-Policy on HTML pages that set none themselves."""

    def __init__(self, app: ASGIApp, csp: str) -> None:
        self.app, self.csp = app, csp.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                add = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"),
                ]
                ctype = dict(headers).get(b"content-type", b"")
                if ctype.startswith(b"text/html"):
                    add.append((b"content-security-policy", self.csp))
                headers += [(k, v) for k, v in add if k not in names]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


class PathCORSMiddleware:
    """Starlette's ``CORSMiddleware`` for ``paths`` only: ``/token`` may be called from the
    sites in ``CAUSERIE_TOKEN_CORS_ORIGINS``, but no other route is opened to them."""

    def __init__(self, app: ASGIApp, /, *, paths: Iterable[str], **cors: Any) -> None:
        self.app, self.paths = app, frozenset(paths)
        self.cors = CORSMiddleware(app, **cors)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self.paths:
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


class BodyTooLarge(HTTPException):
    def __init__(self, max_bytes: int) -> None:
        super().__init__(
            413,
            f"the request body is larger than {max_bytes} bytes (CAUSERIE_MAX_BODY_BYTES)",
        )


class BodyLimitMiddleware:
    """413 ``body_too_large`` past ``max_bytes``: from Content-Length, else while the app
    reads the body. Routes with a smaller bound (the SDP offer, /token) check their own."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_bytes:
            exc = BodyTooLarge(self.max_bytes)
            data = json.dumps({"error": "body_too_large", "message": exc.detail}).encode()
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(data)),
            ]
            await send({"type": "http.response.start", "status": 413, "headers": headers})
            await send({"type": "http.response.body", "body": data})
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise BodyTooLarge(self.max_bytes)  # rendered by install_error_handlers
            return message

        await self.app(scope, counted, send)
