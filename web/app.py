"""The composition root: ``create_app(settings)`` builds the Starlette application.

Nothing happens at import. The lifespan connects and disconnects the database; migrations run
in ``singgah serve``/``singgah migrate`` before the app starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from zoneinfo import ZoneInfo

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from certificates.colour import ColourRules, load_colour_rules
from checkin.visitors import PersonalDataKeys
from exposure.push import VapidKeys
from venues.tokens import SignatureCache
from web import (
    pages,
    pages_assisted,
    pages_certificates,
    pages_checkin,
    pages_exposure,
    pages_isolation,
    pages_venues,
    pages_visitor_app,
    pages_wallet,
    routes_accounts,
    routes_assisted,
    routes_certificates,
    routes_checkin,
    routes_exposure,
    routes_isolation,
    routes_push,
    routes_system,
    routes_venues,
    routes_visitor_app,
    routes_wallet,
)
from web.clock import Clock, SystemClock
from web.database import Database, open_database
from web.errors import exception_handlers
from web.jobs import run_forever, run_jobs_once
from web.keyring import load_personal_data_keys, personal_data_keys
from web.live import OccupancyNotifier, occupancy_notifier
from web.middleware import RequestGuardMiddleware
from web.push import build_sender, vapid_keys
from web.ratelimit import RateLimitMiddleware
from web.settings import Settings, load_settings, resolve_secrets
from web.templating import template_context

logger = logging.getLogger("singgah")

# Objects allocated between two collections of the cyclic collector's young generation.
# Python's 700 runs one every few requests (a check-in allocates a few thousand objects, nearly
# all freed at once by reference counting); 10,000 runs one every few dozen, each still short.
GC_YOUNG_OBJECTS = 10_000

# Seconds a thread waiting for the GIL waits before it asks the running one to hand it over
# (Python's default is 0.005). The SQLite pool thread finishes a group commit and needs the
# GIL to hand the result back while the event loop's thread keeps running requests; with the
# default it waited in 5 ms timed waits, woke about once per check-in, and the whole group's
# answers waited with it. 0.5 ms: a quarter of the wake-ups and a lower check-in CPU and p99
# under bench/checkin_load.py (docs/performance.md). The loop's thread itself only yields when
# another thread asks, so a process without busy threads is not affected.
GIL_SWITCH_INTERVAL_S = 0.0005


@dataclass
class AppState:
    """What the handlers share (``request.app.state``), as ordinary attributes. Starlette's
    own `State` keeps them in a dict behind ``__getattr__``, so each read first fails the
    ordinary lookup and builds an AttributeError before it finds them: 0.65 us a read against
    0.01 us here, and a check-in reads them a dozen times."""

    settings: Settings
    clock: Clock
    db: Database
    templates: Jinja2Templates
    signatures: SignatureCache
    personal_keys: PersonalDataKeys
    occupancy: OccupancyNotifier
    vapid: VapidKeys
    colour_rules: ColourRules


def format_timestamp(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")


def local_time_filter(zone: str) -> Callable[[int], str]:
    """Seconds since the epoch as a local date and time for pages, in the configured zone."""
    tz = ZoneInfo(zone)

    def local_time(seconds: int) -> str:
        moment = datetime.fromtimestamp(seconds, tz)
        return moment.strftime("%d-%m-%Y %H:%M ") + (moment.tzname() or "")

    return local_time


def all_routes() -> list[BaseRoute]:
    static = str(resources.files("web").joinpath("static"))
    return [
        # First: Starlette tries routes in order, and check-in is the hot path (paths are
        # unique, so the order changes no answer).
        *routes_checkin.routes,
        *routes_system.routes,
        *routes_accounts.routes,
        *routes_venues.routes,
        *routes_exposure.routes,
        *routes_assisted.routes,
        *routes_certificates.routes,
        *routes_wallet.routes,
        *routes_visitor_app.routes,
        *routes_isolation.routes,
        *routes_push.routes,
        *pages.routes,
        *pages_venues.routes,
        *pages_certificates.routes,
        *pages_checkin.routes,
        *pages_exposure.routes,
        *pages_assisted.routes,
        *pages_wallet.routes,
        *pages_visitor_app.routes,
        *pages_isolation.routes,
        Mount("/static", app=StaticFiles(directory=static), name="static"),
    ]


def create_app(
    settings: Settings, *, clock: Clock | None = None, database: Database | None = None
) -> Starlette:
    """The application for ``settings``. Tests may pass their own clock and database."""
    db = database or open_database(settings.resolved_database_url, settings.sqlite_pool_size)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await db.connect()
        await app.state.occupancy.start()
        # The key ids `singgah keys rotate-data-key` added: the newest seals, all open.
        app.state.personal_keys = await load_personal_data_keys(db, settings)
        jobs = asyncio.create_task(
            run_forever(
                lambda: run_jobs_once(db, app.state.clock, settings),
                settings.job_interval_seconds,
            )
        )
        sender = build_sender(db, settings, app.state.clock.now)
        pushes = asyncio.create_task(sender.run_forever())
        try:
            yield
        finally:
            for task in (jobs, pushes):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await sender.aclose()
            await app.state.occupancy.stop()
            await db.disconnect()

    templates = Jinja2Templates(
        directory=str(resources.files("web").joinpath("templates")),
        context_processors=[template_context],
    )
    templates.env.filters["timestamp"] = format_timestamp
    templates.env.filters["localtime"] = local_time_filter(settings.timezone)
    app = Starlette(
        routes=all_routes(),
        middleware=[
            Middleware(
                RequestGuardMiddleware,
                max_header_bytes=settings.max_header_bytes,
                max_body_bytes=settings.max_body_bytes,
                secure=settings.secure_cookies,
            ),
            Middleware(
                RateLimitMiddleware,
                per_ip=settings.rate_limit_ip_per_minute,
                per_visitor=settings.rate_limit_visitor_per_minute,
            ),
        ],
        exception_handlers=exception_handlers(),
        lifespan=lifespan,
    )
    app.state = AppState(
        settings=settings,
        clock=clock or SystemClock(),
        db=db,
        templates=templates,
        signatures=SignatureCache(),
        personal_keys=personal_data_keys(settings),
        occupancy=occupancy_notifier(db.url),
        vapid=vapid_keys(settings),
        # Read now, so a broken rules file stops the start instead of the first door check.
        colour_rules=load_colour_rules(settings.colour_rules_file),
    )
    return app


def settle_heap() -> None:
    """Take what start-up built (modules, tables, schemas, templates: objects that live as long
    as the process) out of the cyclic collector's sight, so that its collections of the oldest
    generation, about 100 ms each on these machines with every one of them traversed, look only
    at what requests made since; and collect the young generation less often. Reference
    counting frees nearly everything a request makes either way (docs/performance.md)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_OBJECTS, 10, 10)


def hand_over_gil_sooner() -> None:
    """`GIL_SWITCH_INTERVAL_S` for this process (each server worker sets its own)."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)


def app_from_environment() -> Starlette:
    """Factory for ``uvicorn --factory`` (each worker process calls it): reads the settings
    when called, not at import."""
    app = create_app(resolve_secrets(load_settings()))
    settle_heap()
    hand_over_gil_sooner()
    return app
