"""The API application factory (`uvicorn --factory api.app:create_app`)."""

from __future__ import annotations

import gc
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline

from api import health
from api.auth.principal_cache import PrincipalCache, start_listener
from api.collector import freeze_warmup_survivors
from api.deps import AppState
from api.errors import ERROR_RESPONSES, install_error_handlers
from api.middleware import RequestContextMiddleware, RequestLimitsMiddleware, SecurityHeadersMiddleware
from api.openapi import install_openapi
from api.routing import include_by_prefix
from callaudit import __version__
from callaudit.logging import configure_logging
from callaudit.runtime import prepare
from callaudit.settings import Settings, get_settings
from resources.database import async_session_factory, create_api_engine
from resources.redis import create_async_redis

DOCS_ASSETS_URL = "/api-docs/assets"


def _api_router() -> APIRouter:
    """Everything under `/api`, one router per domain."""
    from api import admin, recordings, runlogs
    from api.analytics import router as analytics
    from api.audits import launching as audit_launches
    from api.audits import router as audits
    from api.auth import router as auth
    from api.automation import router as automation
    from api.chat import router as chat
    from api.fiches import router as fiches
    from api.products import router as products
    from api.realtime import router as realtime
    from api.reports import router as reports
    from api.reviews import router as reviews
    from api.scorecards import router as scorecards
    from api.transcriptions import router as transcriptions
    from api.webhooks import router as webhooks

    router = APIRouter(prefix="/api", responses=ERROR_RESPONSES)
    domains = (
        auth.router,
        admin.router,
        fiches.router,
        recordings.router,
        transcriptions.router,
        scorecards.router,
        reviews.router,  # before `/audits/{audit_id}`: `/audits/disputes` is a path
        runlogs.router,
        audits.router,
        audit_launches.router,
        realtime.router,
        webhooks.router,
        automation.router,
        products.router,
        reports.api,
        chat.router,
        analytics.router,
    )
    for domain in domains:
        include_by_prefix(router, domain)
    return router


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    instance_id = settings.hostname or f"pid-{os.getpid()}"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = prepare(settings, start_embedded=False)
        engine = create_api_engine(runtime.database_url, pool_size=10, max_overflow=20)
        redis = create_async_redis(runtime.redis_url)
        http = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=3.0), trust_env=False)
        state = app.state.callaudit = AppState(
            settings=settings,
            instance_id=instance_id,
            engine=engine,
            sessionmaker=async_session_factory(engine),
            redis=redis,
            http=http,
        )
        if settings.auth_principal_cache_seconds > 0:
            state.principals = PrincipalCache(settings.auth_principal_cache_seconds)
            # Straight to Postgres: a transaction pooler in front of DATABASE_URL does not keep a LISTEN.
            direct = settings.direct_url.get_secret_value() if settings.direct_url else runtime.database_url
            state.cleanups.append(start_listener(state.principals, direct))
        # What exists now (modules, mappers, the app) lives as long as the app: out of the collector's
        # sight, a full collection walks what requests left, not ~570k objects (decision 112).
        gc.freeze()
        stop_freezing = freeze_warmup_survivors()
        try:
            yield
        finally:
            stop_freezing()
            gc.unfreeze()
            for cleanup in reversed(state.cleanups):
                await cleanup()
            await http.aclose()
            await redis.aclose()
            await engine.dispose()

    # Swagger UI and ReDoc from the assets packaged in `fastapi-offline`, never a CDN: self-hosted
    # installations are often air-gapped or behind a proxy.
    app = FastAPIOffline(
        title="callaudit API",
        version=__version__,
        description="Call-audit platform: fiches, recordings, transcriptions, audits, automation.",
        lifespan=lifespan,
        docs_url="/api-docs",
        redoc_url="/api-redoc",
        openapi_url="/api-docs.json",
        static_url=DOCS_ASSETS_URL,
    )
    install_error_handlers(app)
    install_openapi(app)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials=True,
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=["X-Request-Id", "X-Backend-Instance", "Retry-After"],
    )
    # Innermost of the three, so its own 408/413/431 answers carry the request id and security headers.
    app.add_middleware(
        RequestLimitsMiddleware,
        max_bytes=settings.api_max_body_bytes,
        max_header_bytes=settings.api_max_header_bytes,
        timeout=settings.api_body_timeout_seconds,
    )
    app.add_middleware(RequestContextMiddleware, instance_id=instance_id)
    app.add_middleware(SecurityHeadersMiddleware)
    app.include_router(health.router)
    app.include_router(_api_router())
    from api.reports.errors import install_report_error_pages
    from api.reports.router import pages as report_pages
    from api.reports.signin import pages as sign_in_pages

    app.include_router(report_pages, responses=ERROR_RESPONSES)
    app.include_router(sign_in_pages, responses=ERROR_RESPONSES)
    install_report_error_pages(app)
    return app
