"""Which visitor is asking: the bearer token (the web app) or the visitor cookie (plain pages).

A visitor token is checked by its MAC alone. Writes authenticated by the cookie need the CSRF
token like staff sessions; bearer calls do not (no ambient credential).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from checkin.errors import InvalidVisitorToken
from checkin.visitors import TOKEN_PREFIX, visitor_id_from_token
from checkin.visits import CheckinRules
from web.auth import CSRF_HEADER, SAFE_METHODS, VISITOR_COOKIE, bearer_token, check_csrf

VISITOR_COOKIE_DAYS = 400


def checkin_rules(request: Request) -> CheckinRules:
    settings = request.app.state.settings
    return CheckinRules(
        max_visit_minutes=settings.max_visit_hours * 60,
        repeat_window_seconds=settings.repeat_scan_minutes * 60,
        retention_days=settings.retention_days,
    )


def visitor_token_of(request: Request) -> tuple[str | None, bool]:
    """The visitor token sent, and whether it came from the cookie."""
    token = bearer_token(request)
    if token and token.startswith(TOKEN_PREFIX):
        return token, False
    return request.cookies.get(VISITOR_COOKIE), True


def optional_visitor_id(request: Request) -> str | None:
    token, _ = visitor_token_of(request)
    if not token:
        return None
    try:
        return visitor_id_from_token(request.app.state.personal_keys, token)
    except InvalidVisitorToken:
        return None


def require_visitor_id(request: Request) -> str:
    token, from_cookie = visitor_token_of(request)
    if not token:
        raise InvalidVisitorToken(
            "send the visitor token as 'Authorization: Bearer sgv_...' (POST /api/visitors)"
        )
    visitor_id = visitor_id_from_token(request.app.state.personal_keys, token)
    is_api_write = request.method not in SAFE_METHODS and request.scope["path"].startswith("/api/")
    if from_cookie and is_api_write:
        check_csrf(request, request.headers.get(CSRF_HEADER))
    return visitor_id


def remember_visitor(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        VISITOR_COOKIE,
        token,
        max_age=VISITOR_COOKIE_DAYS * 86400,
        httponly=True,
        secure=request.app.state.settings.secure_cookies,
        samesite="lax",
        path="/",
    )
