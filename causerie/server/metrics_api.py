"""HTTP for what was recorded: Prometheus, the dashboard and its JSON API.

``metrics_router(store, prometheus=..., feed=...)`` returns an ``APIRouter``:

======================================  =====================================================
``GET /metrics``                         Prometheus text; ``CAUSERIE_METRICS_TOKEN`` if set
``GET /api/metrics/summary``             p50/p90/p99 per metric over ``window`` (``by=provider``)
``GET /api/metrics/series``              percentiles per ``step`` over ``window``, for charts
``GET /api/sessions``                    sessions, newest first, paginated and filtered
``GET /api/sessions/{id}``               one session: transcript, per-turn metrics, errors
``DELETE /api/sessions/{id}``            delete it (204), 404 if unknown
``GET /api/sessions/{id}/export``        ``format=json|txt``, streamed as a download
``GET /api/errors``                      errors over ``window``, newest first
``GET /api/events``                      server-sent events: session starts/ends, turns, states
``GET /dashboard``                       the dashboard page (static; its data needs the token)
======================================  =====================================================

Everything under ``/api`` needs ``Authorization: Bearer $CAUSERIE_ADMIN_TOKEN`` when that
variable is set (open otherwise: the server listens on 127.0.0.1 by default). ``/metrics``
has its own token so a Prometheus server never holds the admin one; ``prometheus_router``
alone can be mounted on another app or port. Errors are JSON ``{"error", "message"}``; a
malformed query parameter is a 422 that names it and says what is expected.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from ..metrics.export import FORMATS, MEDIA_TYPES, export_session
from ..metrics.feed import LiveFeed, TooManySubscribers
from ..metrics.prometheus import CONTENT_TYPE, PrometheusMetrics, StoreStatus
from ..metrics.query import (
    LATENCY_METRICS,
    MAX_POINTS,
    QueryError,
    by_provider,
    failovers,
    load_window,
    parse_choice,
    parse_duration,
    parse_int,
    parse_time,
    series,
    sessions_by_id,
    summarize,
)
from ..metrics.records import OUTCOMES, SessionRecord
from ..store.base import MAX_PAGE
from ..store.interfaces import RecordReader
from .api_docs import DURATION, content, query
from .api_docs import errors as documented
from .security import AdminAuth, install_error_handlers, origin_allowed
from .ui import i18n_router

logger = logging.getLogger(__name__)

DASHBOARD_DIR = FilePath(__file__).resolve().parent.parent / "web" / "dashboard"
_SESSION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_MEDIA = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
}
_CSP = (
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; frame-ancestors 'none'"
)


class MetricsApiSettings(BaseSettings):
    """``CAUSERIE_ADMIN_TOKEN``, ``CAUSERIE_METRICS_TOKEN``, ``CAUSERIE_SSE_HEARTBEAT``."""

    model_config = SettingsConfigDict(env_prefix="CAUSERIE_", extra="ignore")

    admin_token: SecretStr | None = Field(
        default=None, description="Bearer token for /api/* and the dashboard's data."
    )
    metrics_token: SecretStr | None = Field(default=None, description="Bearer token for /metrics.")
    sse_heartbeat: float = Field(default=15.0, gt=0, description="Seconds between SSE keep-alives.")
    sse_stats_interval: float = Field(
        default=10.0, gt=0, description="Seconds between store-wide active-session counts."
    )
    store_timeout: float = Field(default=2.0, gt=0, description="Scrape-time store query limit.")


def _error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)


SessionId = Annotated[
    str,
    Path(
        description="1 to 128 letters, digits or . _ : -",
        json_schema_extra={"pattern": _SESSION_ID.pattern},
    ),
]
"""Documented, not validated by FastAPI: ``_guarded`` answers a bad one with a clear 422."""

Handler = Callable[..., Awaitable[Response]]


def _guarded(store: RecordReader, allowed: Iterable[str]) -> Callable[[Handler], Handler]:
    """Unknown query parameters and QueryError -> 422, store down -> 503 (the admin token is
    the router's dependency)."""
    known = frozenset(allowed)

    def wrap(fn: Handler) -> Handler:
        @functools.wraps(fn)
        async def handler(request: Request, **kw: Any) -> Response:
            unknown = sorted(set(request.query_params) - known)
            if unknown:
                allowed_text = ", ".join(sorted(known)) or "none"
                return _error(
                    422,
                    "invalid_query",
                    f"unknown query parameter(s) {', '.join(unknown)}; allowed: {allowed_text}",
                )
            sid = kw.get("session_id")
            if sid is not None and not _SESSION_ID.match(sid):
                return _error(
                    422, "invalid_path", "session id: 1 to 128 letters, digits or . _ : -"
                )
            try:
                return await fn(request, **kw)
            except QueryError as e:
                return _error(422, "invalid_query", str(e))
            except Exception as e:
                if not store.is_transient(e):
                    raise
                logger.warning("store unavailable for %s: %s", request.url.path, e)
                return _error(503, "store_unavailable", f"the store is not answering: {e}")

        return handler

    return wrap


async def store_status(store: RecordReader, timeout: float) -> StoreStatus:  # noqa: ASYNC109
    try:
        active = await asyncio.wait_for(store.count_active(), timeout)
    except asyncio.CancelledError:
        raise
    except Exception as e:
        logger.info("store did not answer the scrape: %s", e)
        return StoreStatus(up=False)
    return StoreStatus(up=True, active_sessions=active)


def prometheus_router(
    prometheus: PrometheusMetrics,
    store: RecordReader | None = None,
    settings: MetricsApiSettings | None = None,
) -> APIRouter:
    """Just ``GET /metrics``: include it in another app to bind it to another port."""
    cfg = settings or MetricsApiSettings()
    router = APIRouter()
    scrape_auth = AdminAuth(cfg.metrics_token, "CAUSERIE_METRICS_TOKEN")

    @router.get("/metrics", include_in_schema=False, dependencies=[Depends(scrape_auth)])
    async def metrics(request: Request) -> Response:
        status = await store_status(store, cfg.store_timeout) if store is not None else None
        body = await asyncio.to_thread(prometheus.render, status)  # multiprocess reads files
        return Response(body, media_type=CONTENT_TYPE)

    return router


def _summary_dict(s: SessionRecord) -> dict[str, Any]:
    d = s.to_dict()
    d.pop("turns", None)
    d.pop("transcript", None)
    return d


def _sse(event: str, data: Any, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def metrics_router(
    store: RecordReader,
    *,
    prometheus: PrometheusMetrics | None = None,
    feed: LiveFeed | None = None,
    settings: MetricsApiSettings | None = None,
    dashboard: bool = True,
    origins: Iterable[str] = (),
) -> APIRouter:
    """The whole metrics surface over ``store`` (a ``BufferedStore`` or a plain one).
    ``origins``: other sites whose pages may open the live feed (besides ours, localhost)."""
    allowed_origins = list(origins)
    cfg = settings or MetricsApiSettings()
    outer = APIRouter()
    if prometheus is not None:
        outer.include_router(prometheus_router(prometheus, store, cfg))
    # Every route of this router needs the admin token (when set).
    router = APIRouter(
        dependencies=[Depends(AdminAuth(cfg.admin_token))],
        responses=documented(401, 422, 503),
    )
    window = ("window", DURATION, "how far back: 90s, 15m, 1h, 7d or seconds")
    sid_query = ("session", {"type": "string"}, "one session id")
    limit = ("limit", {"type": "integer"}, "page size")

    def api(*allowed: str) -> Callable[[Handler], Handler]:
        return _guarded(store, allowed)

    @router.get(
        "/api/metrics/summary",
        openapi_extra=query(window, ("by", {"type": "string", "enum": ["provider"]}, "")),
    )
    @api("window", "by")
    async def summary(request: Request) -> Response:
        q = request.query_params
        seconds = parse_duration("window", q.get("window", "1h"))
        by = parse_choice("by", q["by"], ("provider",)) if "by" in q else None
        w = await load_window(store, seconds)
        started = await store.list_sessions(since=w.since, limit=1)
        errors = await store.list_errors(since=w.since, limit=1000)
        body: dict[str, Any] = {
            "window": seconds,
            "since": w.since,
            "until": w.until,
            "turns": len(w.turns),
            "truncated": w.truncated,
            "metrics": summarize(w.turns),
            "sessions": {"started": started.total, "active": await store.count_active()},
            "errors": len(errors),
        }
        if by == "provider":
            known = await sessions_by_id(store, {t.session_id for t in w.turns}, w.since)
            body["by_provider"] = by_provider(w.turns, known)
            body["failovers"] = failovers(w.turns)
        return JSONResponse(body)

    @router.get(
        "/api/metrics/series",
        openapi_extra=query(
            window,
            ("step", DURATION, "bucket size"),
            ("metric", {"type": "string"}, "comma-separated: " + ", ".join(LATENCY_METRICS)),
        ),
    )
    @api("window", "step", "metric")
    async def metric_series(request: Request) -> Response:
        q = request.query_params
        seconds = parse_duration("window", q.get("window", "1h"))
        step = parse_duration("step", q["step"]) if "step" in q else max(10.0, seconds / 60)
        if seconds / step > MAX_POINTS:
            raise QueryError(
                f"step: window/step gives more than {MAX_POINTS} points; use a larger step"
            )
        names = [m.strip() for m in q.get("metric", "voice_to_voice").split(",") if m.strip()]
        for m in names or ["(empty)"]:
            parse_choice("metric", m, LATENCY_METRICS)
        w = await load_window(store, seconds)
        return JSONResponse(
            {
                "since": w.since,
                "until": w.until,
                "step": step,
                "truncated": w.truncated,
                "series": {m: series(w.turns, m, w.since, w.until, step) for m in names},
            }
        )

    @router.get("/api/errors", openapi_extra=query(window, limit, sid_query))
    @api("window", "limit", "session")
    async def errors(request: Request) -> Response:
        q = request.query_params
        seconds = parse_duration("window", q.get("window", "24h"))
        limit = parse_int("limit", q.get("limit", "100"), 1, 1000)
        sid = q.get("session")
        if sid is not None and not _SESSION_ID.match(sid):
            raise QueryError("session: 1 to 128 letters, digits or . _ : -")
        rows = await store.list_errors(since=time.time() - seconds, session_id=sid, limit=limit)
        return JSONResponse({"items": [e.to_dict() for e in rows]})

    @router.get(
        "/api/sessions",
        openapi_extra=query(
            limit,
            ("offset", {"type": "integer"}, ""),
            ("transport", {"type": "string"}, ""),
            ("outcome", {"type": "string", "enum": list(OUTCOMES)}, ""),
            ("agent", {"type": "string"}, "agent name"),
            ("since", {"type": "string"}, "epoch seconds or ISO 8601"),
            ("until", {"type": "string"}, "epoch seconds or ISO 8601"),
            ("q", {"type": "string"}, "text in the transcript"),
        ),
    )
    @api("limit", "offset", "transport", "outcome", "agent", "since", "until", "q")
    async def sessions(request: Request) -> Response:
        q = request.query_params
        page = await store.list_sessions(
            limit=parse_int("limit", q.get("limit", "50"), 1, MAX_PAGE),
            offset=parse_int("offset", q.get("offset", "0"), 0, 10**9),
            transport=q.get("transport") or None,
            outcome=parse_choice("outcome", q["outcome"], OUTCOMES) if "outcome" in q else None,
            agent_name=q.get("agent") or None,
            since=parse_time("since", q["since"]) if q.get("since") else None,
            until=parse_time("until", q["until"]) if q.get("until") else None,
            text=q.get("q") or None,
        )
        return JSONResponse(
            {
                "items": [_summary_dict(s) for s in page.items],
                "total": page.total,
                "limit": page.limit,
                "offset": page.offset,
                "next_offset": page.next_offset,
            }
        )

    @router.get("/api/sessions/{session_id}", responses=documented(404))
    @api()
    async def session_detail(request: Request, session_id: SessionId) -> Response:
        s = await store.get_session(session_id)
        if s is None:
            return _error(404, "not_found", f"no session {session_id!r}")
        body = s.to_dict()
        body["errors"] = [
            e.to_dict() for e in await store.list_errors(session_id=session_id, limit=1000)
        ]
        return JSONResponse(body)

    @router.delete(
        "/api/sessions/{session_id}",
        status_code=204,
        responses={204: {"description": "Deleted"}, **documented(404)},
    )
    @api()
    async def session_delete(request: Request, session_id: SessionId) -> Response:
        if not await store.delete_session(session_id):
            return _error(404, "not_found", f"no session {session_id!r}")
        return Response(status_code=204)

    @router.get(
        "/api/sessions/{session_id}/export",
        responses={200: content(*MEDIA_TYPES.values()), **documented(404)},
        openapi_extra=query(("format", {"type": "string", "enum": list(FORMATS)}, "")),
    )
    @api("format")
    async def session_export(request: Request, session_id: SessionId) -> Response:
        fmt = parse_choice("format", request.query_params.get("format", "json"), FORMATS)
        s = await store.get_session(session_id)
        if s is None:
            return _error(404, "not_found", f"no session {session_id!r}")
        errs = await store.list_errors(session_id=session_id, limit=1000)
        pieces = export_session(s, errs, fmt)  # type: ignore[arg-type]

        async def body() -> AsyncIterator[str]:
            chunk: list[str] = []
            size = 0
            for piece in pieces:
                chunk.append(piece)
                size += len(piece)
                if size >= 16384:
                    yield "".join(chunk)
                    chunk, size = [], 0
                    await asyncio.sleep(0)  # let other requests run between chunks
            if chunk:
                yield "".join(chunk)

        return StreamingResponse(
            body(),
            media_type=MEDIA_TYPES[fmt],
            headers={
                "Content-Disposition": f'attachment; filename="causerie-session-{session_id}.{fmt}"'
            },
        )

    @router.get(
        "/api/events",
        responses={200: content("text/event-stream"), **documented(403, 404)},
    )
    @api()
    async def events(request: Request) -> Response:
        if not origin_allowed(request.headers, allowed_origins):
            return _error(
                403,
                "forbidden_origin",
                "this page's origin may not open the live feed (CAUSERIE_ALLOWED_ORIGINS)",
            )
        if feed is None:
            return _error(404, "no_live_feed", "this server records no sessions itself")
        if feed.subscribers >= feed.max_subscribers:
            return _error(503, "busy", f"{feed.max_subscribers} live feeds are open; retry later")
        return StreamingResponse(
            _event_stream(store, feed, cfg),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    outer.include_router(router)
    if dashboard:
        _dashboard_routes(outer)
    return outer


async def _event_stream(
    store: RecordReader, feed: LiveFeed, cfg: MetricsApiSettings
) -> AsyncIterator[str]:
    """A snapshot of the active sessions, then live events; keep-alives and a store-wide
    active count (which sees other worker processes too) in between."""
    try:
        with feed.subscribe() as sub:
            yield "retry: 3000\n\n"
            n = 0
            try:
                active = await store.list_sessions(outcome="active", limit=100)
                yield _sse(
                    "snapshot",
                    {
                        "active": [_summary_dict(s) for s in active.items],
                        "active_count": active.total,
                    },
                )
            except asyncio.CancelledError:
                raise
            except Exception as e:
                yield _sse("snapshot", {"active": [], "active_count": None, "store_error": str(e)})
            next_stats = time.monotonic() + cfg.sse_stats_interval
            while True:
                wait = max(0.05, min(cfg.sse_heartbeat, next_stats - time.monotonic()))
                try:
                    ev = await asyncio.wait_for(sub.get(), wait)
                except TimeoutError:
                    if time.monotonic() >= next_stats:
                        status = await store_status(store, cfg.store_timeout)
                        yield _sse(
                            "stats", {"active_count": status.active_sessions, "store_up": status.up}
                        )
                        next_stats = time.monotonic() + cfg.sse_stats_interval
                    else:
                        yield ": keep-alive\n\n"
                    continue
                n += 1
                yield _sse(ev["type"], ev, n)
    except TooManySubscribers as e:
        yield _sse("error", {"message": str(e)})


def _dashboard_routes(router: APIRouter) -> None:
    files = {
        p.relative_to(DASHBOARD_DIR).as_posix(): p
        for p in DASHBOARD_DIR.rglob("*")
        if p.is_file() and p.suffix in _MEDIA
    }

    def serve(name: str) -> Response:
        path = files.get(name)  # a fixed list: no path from the request reaches the disk
        if path is None:
            return _error(404, "not_found", f"no dashboard file {name!r}")
        headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
        if name.endswith(".html"):
            headers["Content-Security-Policy"] = _CSP
        return FileResponse(path, media_type=_MEDIA[path.suffix], headers=headers)

    @router.get("/dashboard", include_in_schema=False)
    async def dashboard_index() -> Response:
        return serve("index.html")

    @router.get("/dashboard/{name:path}", include_in_schema=False)
    async def dashboard_file(name: str) -> Response:
        return serve(name or "index.html")


def metrics_app(
    store: RecordReader,
    *,
    prometheus: PrometheusMetrics | None = None,
    feed: LiveFeed | None = None,
    settings: MetricsApiSettings | None = None,
) -> FastAPI:
    """A FastAPI app with only the metrics surface (tests, or a read-only dashboard host
    over a shared store). The store is opened and closed by the caller."""
    app = FastAPI(title="Causerie metrics", docs_url=None, redoc_url=None)
    install_error_handlers(app)
    app.include_router(metrics_router(store, prometheus=prometheus, feed=feed, settings=settings))
    app.include_router(i18n_router())  # the dashboard's strings
    return app
