"""What every template sees: the translator, the language, the user and a CSRF token."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from web.auth import csrf_token
from web.i18n import negotiate, translator


def language(request: Request) -> str:
    return negotiate(request, request.app.state.settings.default_language)


def template_context(request: Request) -> dict[str, Any]:
    lang = language(request)
    return {
        "lang": lang,
        "t": translator(lang),
        "user": getattr(request.state, "user", None),
        "csrf_token": lambda: csrf_token(request),
    }
