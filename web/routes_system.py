"""System routes: health check and the OpenAPI document."""

from __future__ import annotations

import logging
from importlib import resources

from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.routing import Route

from web.openapi import api, openapi_document
from web.responses import JSONResponse

logger = logging.getLogger("singgah.health")

HEALTH_SCHEMA = {
    "type": "object",
    "properties": {"status": {"enum": ["ok", "degraded"]}, "database": {"type": "string"}},
    "required": ["status", "database"],
}


async def healthz(request: Request) -> JSONResponse:
    db = request.app.state.db
    try:
        await db.fetch_val("SELECT 1")
    except Exception:
        logger.exception("database health check failed")
        return JSONResponse({"status": "degraded", "database": "unreachable"}, 503)
    return JSONResponse({"status": "ok", "database": db.engine})


async def service_worker(request: Request) -> FileResponse:
    """The service worker, served from the site root so its scope is the whole site."""
    path = resources.files("web").joinpath("static/sw.js")
    return FileResponse(
        str(path), media_type="text/javascript", headers={"Cache-Control": "no-cache"}
    )


async def openapi_json(request: Request) -> JSONResponse:
    settings = request.app.state.settings
    return JSONResponse(openapi_document(request.app.routes, settings.base_url))


routes = [
    Route("/sw.js", service_worker, methods=["GET"]),
    api(
        "/healthz",
        healthz,
        "GET",
        "Health of the server and its database",
        auth="public",
        tag="system",
        response=HEALTH_SCHEMA,
    ),
    api(
        "/api/openapi.json",
        openapi_json,
        "GET",
        "This API's OpenAPI 3.1 document",
        auth="public",
        tag="system",
        response={"type": "object"},
    ),
]
