"""Who is asking: the staff user behind a session cookie or an API token, and CSRF checks.

A request authenticated by the session cookie that changes state must prove it came from our
own pages: forms carry a ``csrf_token`` field and scripts send an ``X-CSRF-Token`` header, both
an HMAC of the browser's CSRF cookie under the secret key (double submit). Bearer-token calls
carry no ambient credential and need no CSRF token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from starlette.datastructures import FormData
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from web.accounts import API_TOKEN_PREFIX, Role, User, api_token_user, session_user
from web.errors import CsrfFailed, Forbidden, Unauthenticated

SESSION_COOKIE = "singgah_session"
CSRF_COOKIE = "singgah_csrf"
VISITOR_COOKIE = "singgah_visitor"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_UNSET = object()


def bearer_token(request: HTTPConnection) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


async def current_user(request: Request) -> User | None:
    """The staff user making the request, resolved once per request."""
    cached = getattr(request.state, "user", _UNSET)
    if cached is not _UNSET:
        return cached  # type: ignore[return-value]
    state = request.app.state
    now = state.clock.now()
    user: User | None = None
    token = bearer_token(request)
    if token and token.startswith(API_TOKEN_PREFIX):
        user = await api_token_user(state.db, token, now)
        if user is None:
            raise Unauthenticated("the API token is unknown or revoked")
    elif cookie := request.cookies.get(SESSION_COOKIE):
        user = await session_user(state.db, cookie, now)
        if user and request.method not in SAFE_METHODS and request.url.path.startswith("/api/"):
            check_csrf(request, request.headers.get(CSRF_HEADER))
    request.state.user = user
    return user


async def require_user(request: Request, *roles: Role) -> User:
    """The signed-in user, who must hold one of ``roles`` (any role when none are given)."""
    user = await current_user(request)
    if user is None:
        raise Unauthenticated("sign in, or send an API token as 'Authorization: Bearer ...'")
    if roles and user.role not in roles:
        allowed = ", ".join(role.value for role in roles)
        raise Forbidden(f"this needs one of the roles: {allowed}; you are {user.role.value}")
    return user


def _csrf_for(request: HTTPConnection, cookie: str) -> str:
    secret = request.app.state.settings.secret()
    return hmac.new(secret, b"csrf:" + cookie.encode(), hashlib.sha256).hexdigest()


def _new_csrf_cookie(request: HTTPConnection) -> str:
    """A CSRF cookie for a browser that has none. One with an identity (a staff session or a
    visitor token) gets a cookie derived from it: pages fetched at once (the service worker
    caches several) then all set the same cookie, where random ones would overwrite each other
    and void the forms already on screen. A browser without an identity gets a random one."""
    identity = request.cookies.get(SESSION_COOKIE) or request.cookies.get(VISITOR_COOKIE)
    if not identity:
        return secrets.token_urlsafe(32)
    secret = request.app.state.settings.secret()
    return hmac.new(secret, b"csrf-cookie:" + identity.encode(), hashlib.sha256).hexdigest()


def csrf_token(request: Request) -> str:
    """The token to embed in a form or page; sets the CSRF cookie when the browser has none."""
    cookie = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf_cookie", None)
    if cookie is None:
        cookie = _new_csrf_cookie(request)
        request.state.new_csrf_cookie = cookie
    return _csrf_for(request, cookie)


def check_csrf(request: HTTPConnection, submitted: str | None) -> None:
    cookie = request.cookies.get(CSRF_COOKIE)
    if (
        not cookie
        or not submitted
        or not hmac.compare_digest(_csrf_for(request, cookie), submitted)
    ):
        raise CsrfFailed("the form has expired or did not come from this site; reload and retry")


async def read_form(request: Request) -> FormData:
    """A submitted form, after its CSRF token has been checked."""
    form = await request.form()
    submitted = form.get(CSRF_FIELD)
    check_csrf(request, submitted if isinstance(submitted, str) else None)
    return form


def set_session_cookie(
    response: Response, request: Request, token: str, lifetime: timedelta
) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(lifetime.total_seconds()),
        httponly=True,
        secure=request.app.state.settings.secure_cookies,
        samesite="lax",
        path="/",
    )
