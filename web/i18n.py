"""Bahasa Indonesia (default) and English. The language comes from the ``lang`` cookie set by
the switch, else the browser's Accept-Language, else the configured default."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from importlib import resources

from starlette.requests import HTTPConnection

LANGUAGES = ("id", "en")
LANG_COOKIE = "lang"


@cache
def catalog(language: str) -> dict[str, str]:
    text = resources.files("web").joinpath(f"locales/{language}.json").read_text("utf-8")
    return json.loads(text)


def negotiate(request: HTTPConnection, default: str) -> str:
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    ranked: list[tuple[float, str]] = []
    for part in request.headers.get("accept-language", "").split(","):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.split("-")[0].lower()
        if primary in LANGUAGES and quality > 0:
            ranked.append((quality, primary))
    return max(ranked, key=lambda item: item[0])[1] if ranked else default


def translator(language: str) -> Callable[..., str]:
    messages = catalog(language)

    def translate(key: str, **values: object) -> str:
        return messages.get(key, key).format(**values)

    return translate
