"""One error model: typed exceptions that carry their status, rendered in one place.

API routes (``/api/...``, ``/.well-known/...``, ``/healthz``) answer RFC 9457
``application/problem+json``::

    {"type": "/problems/<slug>", "title": ..., "status": ..., "detail": ..., "instance": path}

plus extension members (``errors`` for validation, ``retry_after``...). Browser routes get a
readable HTML page with the same title and detail. Domain packages raise their own errors with
``status``, ``slug`` and ``title`` class attributes; `DOMAIN_ERRORS` lists their base classes.
A 500 logs the traceback and shows none.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any, Protocol

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from certificates.errors import CertificateError
from checkin.errors import CheckinError
from exposure.errors import ExposureError
from venues.errors import VenueError
from web.database import RETRYABLE_ERRORS
from web.responses import JSONResponse

logger = logging.getLogger("singgah.errors")

PROBLEM_CONTENT_TYPE = "application/problem+json"
API_PREFIXES = ("/api/", "/.well-known/", "/healthz")

DOMAIN_ERRORS: tuple[type[Exception], ...] = (
    VenueError,
    CertificateError,
    CheckinError,
    ExposureError,
)

HTTP_SLUGS = {
    400: ("bad-request", "Bad request"),
    401: ("unauthenticated", "Authentication required"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    409: ("conflict", "Conflict"),
    413: ("payload-too-large", "Request body too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("validation-failed", "Validation failed"),
    429: ("too-many-requests", "Too many requests"),
    431: ("headers-too-large", "Request headers too large"),
    500: ("internal-error", "Internal server error"),
    503: ("unavailable", "Service unavailable"),
}


class ProblemLike(Protocol):
    status: int
    slug: str
    title: str


class Problem(Exception):
    """An HTTP error raised by `web` itself. Subclasses fix the status and slug."""

    status = 400
    slug = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.extensions = extensions


class BadRequest(Problem):
    pass


class MalformedJSON(Problem):
    slug = "malformed-json"
    title = "Malformed JSON"


class Unauthenticated(Problem):
    status = 401
    slug = "unauthenticated"
    title = "Authentication required"


class Forbidden(Problem):
    status = 403
    slug = "forbidden"
    title = "Forbidden"


class NotFound(Problem):
    status = 404
    slug = "not-found"
    title = "Not found"


class Conflict(Problem):
    status = 409
    slug = "conflict"
    title = "Conflict"


class PayloadTooLarge(Problem):
    status = 413
    slug = "payload-too-large"
    title = "Request body too large"


class HeadersTooLarge(Problem):
    status = 431
    slug = "headers-too-large"
    title = "Request headers too large"


class UnsupportedMediaType(Problem):
    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported media type"


class ValidationFailed(Problem):
    status = 422
    slug = "validation-failed"
    title = "Validation failed"


class CsrfFailed(Problem):
    status = 403
    slug = "csrf-failed"
    title = "Form expired or forged"


class TooManyRequests(Problem):
    status = 429
    slug = "too-many-requests"
    title = "Too many requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.retry_after = retry_after


def wants_problem_json(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIXES)


def render_problem(
    request: Request,
    *,
    status: int,
    slug: str,
    title: str,
    detail: str,
    extensions: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": f"/problems/{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        **(extensions or {}),
    }
    if wants_problem_json(request):
        return JSONResponse(body, status, headers=headers, media_type=PROBLEM_CONTENT_TYPE)
    if status == 401 and request.method == "GET":
        return RedirectResponse(f"/login?next={request.url.path}", 303)
    templates = request.app.state.templates
    return templates.TemplateResponse(
        request, "error.html", {"problem": body}, status_code=status, headers=headers
    )


async def handle_problem(request: Request, exc: Exception) -> Response:
    problem: ProblemLike = exc  # type: ignore[assignment]
    extensions = dict(getattr(exc, "extensions", {}))
    headers = (
        {"Retry-After": str(extensions["retry_after"])} if "retry_after" in extensions else None
    )
    return render_problem(
        request,
        status=problem.status,
        slug=problem.slug,
        title=problem.title,
        detail=str(exc),
        extensions=extensions,
        headers=headers,
    )


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    slug, title = HTTP_SLUGS.get(exc.status_code, ("http-error", "HTTP error"))
    generic = not exc.detail or exc.detail.lower() == title.lower()
    detail = f"{request.method} {request.url.path}: {title.lower()}" if generic else exc.detail
    headers = dict(exc.headers or {})
    return render_problem(
        request, status=exc.status_code, slug=slug, title=title, detail=detail, headers=headers
    )


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return render_problem(
        request,
        status=500,
        slug="internal-error",
        title="Internal server error",
        detail="Something went wrong on our side. It has been logged.",
    )


DATABASE_BUSY_SECONDS = 1


def is_sqlite_busy(exc: sqlite3.OperationalError) -> bool:
    """SQLite's "database is locked": another process held the write lock past the busy
    timeout (the extended codes, such as SQLITE_BUSY_SNAPSHOT, keep the primary in the low
    byte)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_BUSY


async def handle_database_refusal(request: Request, exc: Exception) -> Response:
    """The database refused the request's transaction so that others could go on (a deadlock's
    victim, a serialisation failure, SQLite's write lock held past the busy timeout): nothing
    of it was saved, and the same request a moment later will do. Anything else it raises is
    unexpected (500)."""
    if isinstance(exc, sqlite3.OperationalError) and not is_sqlite_busy(exc):
        return await handle_unexpected(request, exc)
    logger.warning(
        "database refused %s %s: %s", request.method, request.url.path, type(exc).__name__
    )
    return render_problem(
        request,
        status=503,
        slug="database-busy",
        title="Database busy",
        detail="The database was busy with other changes and saved nothing of this request; "
        "send it again.",
        extensions={"retry_after": DATABASE_BUSY_SECONDS},
        headers={"Retry-After": str(DATABASE_BUSY_SECONDS)},
    )


def exception_handlers() -> dict[Any, Any]:
    handlers: dict[Any, Any] = {
        Problem: handle_problem,
        HTTPException: handle_http_exception,
        sqlite3.OperationalError: handle_database_refusal,
        **dict.fromkeys(RETRYABLE_ERRORS, handle_database_refusal),
        Exception: handle_unexpected,
    }
    handlers.update(dict.fromkeys(DOMAIN_ERRORS, handle_problem))
    return handlers
