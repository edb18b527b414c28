"""Pure ASGI middleware (streams pass through untouched): per-endpoint latency and in-flight
requests, and the upload size limit, enforced before the multipart body is parsed."""

from __future__ import annotations

import json
import time

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_body
from .metrics import GatewayMetrics

ENDPOINTS = frozenset(
    ("/v1/audio/transcriptions", "/v1/audio/speech", "/v1/chat/completions", "/v1/models")
)


def endpoint_of(path: str) -> str:
    """A metrics label: unknown paths are 'other', so they make no new label values."""
    return path if path in ENDPOINTS else "other"


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: GatewayMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        endpoint = endpoint_of(scope["path"])
        gauge = self.metrics.in_flight.labels(endpoint=endpoint)
        gauge.inc()
        try:
            await self.app(scope, receive, send)
        finally:
            gauge.dec()
            self.metrics.latency.labels(endpoint=endpoint).observe(time.perf_counter() - t0)


class UploadLimitMiddleware:
    """413 in OpenAI's error shape past ``max_bytes``: from Content-Length when given, else
    while the body is read."""

    def __init__(self, app: ASGIApp, max_bytes: int, metrics: GatewayMetrics) -> None:
        self.app, self.max_bytes, self.metrics = app, max_bytes, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._refuse(scope, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                # FastAPI re-raises an HTTPException met while reading the body; the
                # app's handler renders it (errors.py).
                raise HTTPException(413, self._message())
            return message

        await self.app(scope, limited, send)

    def _message(self) -> str:
        return (
            f"request body is larger than the gateway's limit of {self.max_bytes} bytes "
            "(CAUSERIE_GATEWAY_MAX_UPLOAD_BYTES)"
        )

    async def _refuse(self, scope: Scope, send: Send) -> None:
        body = error_body(413, self._message(), code="file_too_large", param="file")
        self.metrics.error(endpoint_of(scope["path"]), 413, "file_too_large")
        data = json.dumps(body).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(data)).encode()),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": data})
