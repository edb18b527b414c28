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
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from ..metrics.export import MEDIA_TYPES, export_session
from ..metrics.feed import LiveFeed
from ..metrics.prometheus import CONTENT_TYPE, PrometheusMetrics, StoreStatus
from ..metrics.query import (
    QueryError,
    by_provider,
    failovers,
    load_window,
    series,
    sessions_by_id,
    summarize,
)
from ..store.interfaces import RecordReader
from .api_docs import content
from .api_docs import errors as documented
from .dashboard import dashboard_routes
from .live_events import event_stream, summary_dict
from .queries import (
    ErrorsQuery,
    ExportQuery,
    NoQuery,
    SeriesQuery,
    SessionId,
    SessionsQuery,
    SummaryQuery,
)
from .query_params import one_value_each
from .security import AdminAuth, APIError, install_error_handlers, origin_allowed
from .ui import i18n_router

logger = logging.getLogger(__name__)


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


def _store_errors(store: RecordReader) -> Callable[[], AsyncIterator[None]]:
    """A dependency: a store that is down answers 503 (any other error stays a 500)."""

    async def guard() -> AsyncIterator[None]:
        try:
            yield
        except QueryError as e:
            raise APIError(422, "invalid_query", str(e)) from None
        except Exception as e:
            if not store.is_transient(e):
                raise
            logger.warning("store unavailable: %s", e)
            raise APIError(503, "store_unavailable", f"the store is not answering: {e}") from None

    return guard


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
    # Every route of this router needs the admin token (when set); a store down is a 503.
    router = APIRouter(
        dependencies=[
            Depends(AdminAuth(cfg.admin_token)),
            Depends(_store_errors(store)),
        ],
        responses=documented(401, 422, 503),
    )

    @router.get("/api/metrics/summary")
    async def summary(q: Annotated[SummaryQuery, Query()]) -> Response:
        w = await load_window(store, q.window)
        started = await store.list_sessions(since=w.since, limit=1)
        errors = await store.list_errors(since=w.since, limit=1000)
        body: dict[str, Any] = {
            "window": q.window,
            "since": w.since,
            "until": w.until,
            "turns": len(w.turns),
            "truncated": w.truncated,
            "metrics": summarize(w.turns),
            "sessions": {"started": started.total, "active": await store.count_active()},
            "errors": len(errors),
        }
        if q.by == "provider":
            known = await sessions_by_id(store, {t.session_id for t in w.turns}, w.since)
            body["by_provider"] = by_provider(w.turns, known)
            body["failovers"] = failovers(w.turns)
        return JSONResponse(body)

    @router.get("/api/metrics/series")
    async def metric_series(q: Annotated[SeriesQuery, Query()]) -> Response:
        w = await load_window(store, q.window)
        step = q.step or q.window  # set by SeriesQuery
        return JSONResponse(
            {
                "since": w.since,
                "until": w.until,
                "step": step,
                "truncated": w.truncated,
                "series": {m: series(w.turns, m, w.since, w.until, step) for m in q.metric},
            }
        )

    @router.get("/api/errors")
    async def errors(q: Annotated[ErrorsQuery, Query()]) -> Response:
        rows = await store.list_errors(
            since=time.time() - q.window, session_id=q.session, limit=q.limit
        )
        return JSONResponse({"items": [e.to_dict() for e in rows]})

    @router.get("/api/sessions")
    async def sessions(q: Annotated[SessionsQuery, Query()]) -> Response:
        page = await store.list_sessions(
            limit=q.limit,
            offset=q.offset,
            transport=q.transport or None,
            outcome=q.outcome,
            agent_name=q.agent or None,
            since=q.since,
            until=q.until,
            text=q.q or None,
        )
        return JSONResponse(
            {
                "items": [summary_dict(s) for s in page.items],
                "total": page.total,
                "limit": page.limit,
                "offset": page.offset,
                "next_offset": page.next_offset,
            }
        )

    @router.get("/api/sessions/{session_id}", responses=documented(404))
    async def session_detail(session_id: SessionId, _: Annotated[NoQuery, Query()]) -> Response:
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
    async def session_delete(session_id: SessionId, _: Annotated[NoQuery, Query()]) -> Response:
        if not await store.delete_session(session_id):
            return _error(404, "not_found", f"no session {session_id!r}")
        return Response(status_code=204)

    @router.get(
        "/api/sessions/{session_id}/export",
        responses={200: content(*MEDIA_TYPES.values()), **documented(404)},
    )
    async def session_export(session_id: SessionId, q: Annotated[ExportQuery, Query()]) -> Response:
        fmt = q.export_format
        s = await store.get_session(session_id)
        if s is None:
            return _error(404, "not_found", f"no session {session_id!r}")
        errs = await store.list_errors(session_id=session_id, limit=1000)
        pieces = export_session(s, errs, fmt)

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
    async def events(request: Request, _: Annotated[NoQuery, Query()]) -> Response:
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
            event_stream(
                store,
                feed,
                heartbeat=cfg.sse_heartbeat,
                stats_interval=cfg.sse_stats_interval,
                stats=lambda: store_status(store, cfg.store_timeout),
            ),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    outer.include_router(router)
    if dashboard:
        dashboard_routes(outer)
    return outer


def metrics_app(
    store: RecordReader,
    *,
    prometheus: PrometheusMetrics | None = None,
    feed: LiveFeed | None = None,
    settings: MetricsApiSettings | None = None,
) -> FastAPI:
    """A FastAPI app with only the metrics surface (tests, or a read-only dashboard host
    over a shared store). The store is opened and closed by the caller."""
    app = FastAPI(
        title="Causerie metrics",
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(one_value_each)],  # ?agent=a&agent=b: which one?
    )
    install_error_handlers(app)
    app.include_router(metrics_router(store, prometheus=prometheus, feed=feed, settings=settings))
    app.include_router(i18n_router())  # the dashboard's strings
    return app
