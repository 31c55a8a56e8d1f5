"""Browser pages: home, login and logout, the per-role dashboard, the language switch."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from web.accounts import Role, authenticate, end_session, start_session
from web.auth import SESSION_COOKIE, current_user, read_form, require_user, set_session_cookie
from web.errors import TooManyRequests, Unauthenticated
from web.i18n import LANG_COOKIE, LANGUAGES

# Each role's dashboard tiles: (message key, link or None while the page does not exist yet).
DASHBOARD_SECTIONS: dict[Role, tuple[tuple[str, str | None], ...]] = {
    Role.ADMIN: (
        ("dash.admin.users", None),
        ("dash.admin.keys", "/admin/keys"),
        ("dash.manager.venues", "/venues"),
        ("dash.admin.issuers", None),
        ("dash.admin.audit", None),
    ),
    Role.HEALTH_OFFICIAL: (
        ("dash.official.cases", "/cases"),
        ("dash.official.runs", "/cases"),
        ("dash.official.arrivals", "/arrivals"),
        ("dash.official.venues", "/venues"),
        ("dash.official.isolation", "/isolation"),
        ("dash.official.health_contacts", "/health-contacts"),
    ),
    Role.VENUE_MANAGER: (
        ("dash.manager.venues", "/venues"),
        ("dash.manager.occupancy", "/venues"),
        ("dash.officer.assisted", "/assisted"),
    ),
    Role.CHECKPOINT_OFFICER: (
        ("dash.officer.assisted", "/assisted"),
        ("dash.officer.travellers", "/travellers"),
    ),
    Role.ISSUER: (("dash.issuer.issue", "/certificates/issue"), ("dash.issuer.issued", None)),
}

# Sections that have a page already; the others are announced for later issues.


def local_path(target: str | None, fallback: str = "/dashboard") -> str:
    """Only same-site paths may be redirect targets (no open redirects)."""
    if not target:
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return fallback
    return target


def render(request: Request, template: str, status: int = 200, **context: object) -> Response:
    return request.app.state.templates.TemplateResponse(
        request, template, context, status_code=status
    )


async def home(request: Request) -> Response:
    await current_user(request)
    return render(request, "home.html")


async def login_form(request: Request) -> Response:
    if await current_user(request):
        return RedirectResponse(local_path(request.query_params.get("next")), 303)
    return render(request, "login.html", next=local_path(request.query_params.get("next")))


async def login_submit(request: Request) -> Response:
    form = await read_form(request)
    state = request.app.state
    settings = state.settings
    now = state.clock.now()
    email = str(form.get("email", ""))
    target = local_path(str(form.get("next", "")))
    try:
        user = await authenticate(
            state.db,
            email,
            str(form.get("password", "")),
            now=now,
            max_failures=settings.login_max_failures,
            window=timedelta(minutes=settings.login_window_minutes),
        )
    except (Unauthenticated, TooManyRequests) as exc:
        headers = (
            {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else None
        )
        response = render(
            request, "login.html", exc.status, error=str(exc), email=email, next=target
        )
        response.headers.update(headers or {})
        return response
    lifetime = timedelta(hours=settings.session_hours)
    token = await start_session(state.db, user, now, lifetime)
    response = RedirectResponse(target, 303)
    set_session_cookie(response, request, token, lifetime)
    return response


async def logout(request: Request) -> Response:
    await read_form(request)
    user = await current_user(request)
    token = request.cookies.get(SESSION_COOKIE)
    if user and token:
        await end_session(request.app.state.db, token, request.app.state.clock.now(), user)
    response = RedirectResponse("/", 303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def dashboard(request: Request) -> Response:
    user = await require_user(request)
    return render(request, "dashboard.html", sections=DASHBOARD_SECTIONS[user.role])


async def switch_language(request: Request) -> Response:
    language = request.path_params["language"]
    response = RedirectResponse(local_path(request.query_params.get("next"), "/"), 303)
    if language in LANGUAGES:
        # A preference, but hardened like every cookie: no script reads it, TLS carries it.
        response.set_cookie(
            LANG_COOKIE,
            language,
            max_age=365 * 86400,
            httponly=True,
            secure=request.app.state.settings.secure_cookies,
            samesite="lax",
            path="/",
        )
    return response


routes = [
    Route("/", home, methods=["GET"]),
    Route("/login", login_form, methods=["GET"]),
    Route("/login", login_submit, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/dashboard", dashboard, methods=["GET"]),
    Route("/lang/{language}", switch_language, methods=["GET"]),
]
