"""The FastAPI app: ``create_app`` builds the pipeline once at startup (models load before
the first request is served) and shares it with every session."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from ..agent.faults import Faults
from ..agent.pipeline import Pipeline, Progress, build_pipeline
from ..agents.folder import AgentFolder
from ..agents.runtimes import AgentRuntimes
from ..config.loader import LoadedConfig
from ..config.themes import Themes
from ..metrics.runtime import MetricsRuntime
from ..plugins.stores import PluginStores
from ..transports.bridge import ToolsFactory
from .agents_api import agents_router
from .metrics_api import MetricsApiSettings, metrics_router
from .query_params import one_value_each
from .routes import router
from .security import (
    BodyLimitMiddleware,
    SecurityHeadersMiddleware,
    content_security_policy,
    install_error_handlers,
    livekit_origins,
)
from .sessions import SessionHook, SessionManager, keep_stt_ready
from .settings import ServerSettings
from .studio_api import studio_router
from .token import RateLimiter, TokenSettings, install_token_cors, token_router
from .ui import i18n_router, ui_router

logger = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"


def create_app(
    settings: ServerSettings | None = None,
    *,
    loaded: LoadedConfig,
    registry: object | None = None,
    pipeline: Pipeline | None = None,
    progress: Progress | None = None,
    on_ready: Callable[[], None] | None = None,
    faults: Faults | None = None,
    tools_factory: ToolsFactory | None = None,
    session_hooks: list[SessionHook] | None = None,
    metrics: MetricsRuntime | None = None,
    api_settings: MetricsApiSettings | None = None,
    agents: AgentFolder | None = None,
) -> FastAPI:
    """The server app. Give ``pipeline`` to share one you built (tests, benchmarks); else it
    is built at startup from ``loaded`` and ``registry`` and closed at shutdown. ``metrics``
    records every session (default: ``metrics:`` of the agent definition; docs/METRICS.md).
    ``api_settings``: the admin and metrics tokens (default: ``CAUSERIE_*`` variables).
    ``agents``: every definition served (default: ``loaded`` alone); ``loaded`` is the
    default agent's (docs/STUDIO.md)."""
    settings = settings or ServerSettings()
    # A missing theme is a config error now, not a broken page later.
    themes = Themes(loaded.base_dir / "themes")
    theme = themes.require(loaded.spec.ui.theme)
    token_settings = TokenSettings.from_env(loaded.env)
    recorder = metrics or MetricsRuntime.from_spec(loaded.spec.metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from ..compat.aiortc import allow_loopback_candidates
        from ..providers.registry import Registry

        # The process's one monkeypatch (aioice: offer 127.0.0.1), before any offer.
        allow_loopback_candidates()
        own = pipeline is None
        reg = registry if isinstance(registry, Registry) else Registry.from_entry_points()
        if pipeline is None:
            built = await asyncio.to_thread(build_pipeline, loaded, reg, progress)
        else:
            built = pipeline
        # One set of plugin stores for every session; the agent's store is the recorder's
        # (one connection pool, one buffer), the conversation_memory plugin's default.
        m = loaded.spec.metrics
        shared = {recorder.spec.store_url: recorder.store}
        plugin_stores = PluginStores(m.store_url, transcripts=m.transcripts, shared=shared)
        folder = agents or AgentFolder(folder=None, main=loaded.path)
        main_key = loaded.path.stem if loaded.path is not None else "agent"
        runtimes = AgentRuntimes(
            folder, registry=reg, env=loaded.env, preloaded={main_key: loaded}, progress=progress
        )
        runtimes.share(loaded, built)
        app.state.agents = runtimes
        manager = SessionManager(
            loaded=loaded,
            pipeline=built,
            max_sessions=settings.max_sessions,
            faults=faults,
            max_input_seconds=settings.max_input_seconds,
            tools_factory=tools_factory,
            session_hooks=[*(session_hooks or []), recorder.session_hook],
            plugin_stores=plugin_stores,
            agents=runtimes,
        )
        app.state.manager = manager
        app.state.pipeline = built
        warm = settings.max_sessions if settings.warm_sessions is None else settings.warm_sessions
        await keep_stt_ready(built.stt, min(warm, settings.max_sessions), progress)
        await recorder.start()
        # What startup built lives as long as the server: keep the collector off it. A full
        # collection walked it all, holding every session's audio 120-150 ms at 12 sessions.
        gc.collect()
        gc.freeze()
        if on_ready is not None:
            on_ready()
        try:
            yield
        finally:
            try:
                await manager.aclose()
                await plugin_stores.aclose()
                await runtimes.aclose()
                if own:
                    await built.aclose()
            finally:
                await recorder.aclose()  # after the sessions: their ends are recorded
                gc.unfreeze()  # collectable again, where the process goes on (tests)

    app = FastAPI(
        title="Causerie",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(one_value_each)],  # ?agent=a&agent=b: which one?
    )
    app.state.settings = settings
    app.state.loaded = loaded
    app.state.metrics = recorder
    # New sessions per client address a minute (WebSocket and WebRTC together).
    app.state.session_limiter = RateLimiter(settings.session_rate_limit)
    install_error_handlers(app)
    app.include_router(router)
    # /metrics, /api/metrics, /api/sessions, /api/events, /dashboard: docs/METRICS.md
    r = recorder
    api_settings = api_settings or MetricsApiSettings()  # CAUSERIE_ADMIN_TOKEN
    app.state.api_settings = api_settings
    app.include_router(
        metrics_router(
            r.store,
            prometheus=r.prometheus,
            feed=r.feed,
            settings=api_settings,
            origins=settings.allowed_origins,
        )
    )
    # /api/agents, /api/providers, /api/voice-preview, /studio: docs/STUDIO.md
    app.include_router(agents_router(r.store, api_settings.admin_token))
    app.include_router(studio_router(api_settings.admin_token))
    app.include_router(token_router(token_settings, env=loaded.env))  # docs/DEPLOY.md
    install_token_cors(app, token_settings)
    # Strings, theme and agent language of the pages: docs/THEMES.md
    app.include_router(i18n_router(loaded.spec.ui.language or loaded.spec.language))
    app.include_router(ui_router(loaded.spec, themes, theme, page_token=token_settings.page))
    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")
    # The LiveKit page connects to the LiveKit server; nothing else leaves this origin.
    csp = content_security_policy(livekit_origins(loaded.env.get("LIVEKIT_URL")))
    app.add_middleware(SecurityHeadersMiddleware, csp=csp)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    return app
