"""``create_gateway_app``: the OpenAI-compatible server over an agent definition's providers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request

from ..agent.pipeline import Pipeline, Progress, build_pipeline
from ..config.loader import LoadedConfig
from ..providers.registry import Registry
from ..server.query_params import one_value_each
from ..server.sessions import keep_stt_ready
from . import chat, models, speech, transcriptions
from .auth import ConcurrencyLimiter, KeyRing
from .engines import Engines
from .errors import APIError, documented, install_handlers
from .metrics import GatewayMetrics
from .middleware import MetricsMiddleware, UploadLimitMiddleware, endpoint_of
from .settings import GatewaySettings
from .state import Gateway


def create_gateway_app(
    settings: GatewaySettings,
    *,
    loaded: LoadedConfig,
    registry: Registry,
    pipeline: Pipeline | None = None,
    metrics: GatewayMetrics | None = None,
    progress: Progress | None = None,
    on_ready: Callable[[], None] | None = None,
) -> FastAPI:
    """Give ``pipeline`` to share one already built (tests, benchmarks); else it is built at
    startup and closed at shutdown."""
    gw = Gateway(settings=settings, metrics=metrics or GatewayMetrics())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        built = pipeline
        if built is None:
            built = await asyncio.to_thread(build_pipeline, loaded, registry, progress)
        gw.engines = Engines(built, loaded, registry, grace=settings.request_timeout)
        await keep_stt_ready(built.stt, settings.stt_workers, progress)
        if on_ready is not None:
            on_ready()
        try:
            yield
        finally:
            await gw.engines.aclose()
            if pipeline is None:
                await built.aclose()

    app = FastAPI(
        title="Causerie gateway",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(one_value_each)],  # ?model=a&model=b: which one?
    )
    app.state.gateway = gw
    app.state.keyring = KeyRing(settings.keys())
    app.state.limiter = ConcurrencyLimiter(settings.max_concurrent_per_key, settings.retry_after)

    def count(request: Request, err: APIError) -> None:
        gw.failed(endpoint_of(request.url.path), err)

    install_handlers(app, on_error=count)
    for module in (transcriptions, speech, chat, models):
        # Any route may answer: bad input, key, unknown model, size, rate, engine failure or
        # timeout.
        app.include_router(module.router, responses=documented(400, 401, 404, 413, 429, 502, 504))
    app.add_middleware(
        UploadLimitMiddleware, max_bytes=settings.max_upload_bytes, metrics=gw.metrics
    )
    app.add_middleware(MetricsMiddleware, metrics=gw.metrics)
    return app
