"""API routes that describe themselves, and the OpenAPI 3.1 document built from them."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from starlette.convertors import IntegerConvertor
from starlette.routing import BaseRoute, Route

from web import DatabaseIdConvertor
from web.validation import Schema

PROBLEM_SCHEMA: Schema = {
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
    "required": ["type", "title", "status"],
}


@dataclass(frozen=True)
class ApiDoc:
    summary: str
    auth: str
    tag: str
    body: Schema | None = None
    response: Schema | None = None
    status: int = 200
    query: dict[str, Schema] = field(default_factory=dict)
    media_types: tuple[str, ...] = ("application/json",)


class ApiRoute(Route):
    """A starlette `Route` carrying its OpenAPI description."""

    def __init__(
        self, path: str, endpoint: Callable[..., Any], *, methods: list[str], doc: ApiDoc
    ) -> None:
        super().__init__(path, endpoint, methods=methods)
        self.doc = doc


def api(
    path: str,
    endpoint: Callable[..., Any],
    method: str,
    summary: str,
    *,
    auth: str,
    tag: str,
    body: Schema | None = None,
    response: Schema | None = None,
    status: int = 200,
    query: dict[str, Schema] | None = None,
    media_types: tuple[str, ...] = ("application/json",),
) -> ApiRoute:
    """Declare an API route. ``auth`` names who may call it ("public", "admin", ...);
    ``media_types`` are what it answers with (``response`` describes the JSON ones)."""
    doc = ApiDoc(summary, auth, tag, body, response, status, query or {}, media_types)
    return ApiRoute(path, endpoint, methods=[method], doc=doc)


def _path_schema(convertor: object) -> Schema:
    if isinstance(convertor, IntegerConvertor):
        return {"type": "integer", "minimum": 0, "maximum": int("9" * DatabaseIdConvertor.digits)}
    return {"type": "string"}


def openapi_path(route: ApiRoute) -> str:
    """The route's path without Starlette's convertors: ``/a/{id:int}`` -> ``/a/{id}``."""
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)


def _success(doc: ApiDoc) -> dict[str, Any]:
    if doc.status == 204:
        return {"description": doc.summary}  # No Content: no body, no media type
    content = {
        media_type: {"schema": doc.response or {}} if media_type.endswith("json") else {}
        for media_type in doc.media_types
    }
    return {"description": doc.summary, "content": content}


def _operation(route: ApiRoute, method: str) -> dict[str, Any]:
    doc = route.doc
    responses: dict[str, Any] = {
        str(doc.status): _success(doc),
        "default": {
            "description": "An RFC 9457 problem",
            "content": {"application/problem+json": {"schema": PROBLEM_SCHEMA}},
        },
    }
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": _path_schema(convertor)}
        for name, convertor in route.param_convertors.items()
    ] + [
        {"name": name, "in": "query", "required": False, "schema": schema}
        for name, schema in doc.query.items()
    ]
    operation: dict[str, Any] = {
        "operationId": f"{method.lower()}_{route.name}",
        "summary": doc.summary,
        "tags": [doc.tag],
        "x-singgah-auth": doc.auth,
        "parameters": parameters,
        "responses": responses,
    }
    if doc.auth != "public":
        operation["security"] = [{"bearer": []}, {"session": []}]
    if doc.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": doc.body}},
        }
    return operation


def api_routes(routes: Iterable[BaseRoute]) -> list[ApiRoute]:
    return [route for route in routes if isinstance(route, ApiRoute)]


def openapi_document(routes: Iterable[BaseRoute], base_url: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in api_routes(routes):
        for method in sorted(route.methods or ()):
            if method == "HEAD":
                continue
            paths.setdefault(openapi_path(route), {})[method.lower()] = _operation(route, method)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Singgah API", "version": "1"},
        "servers": [{"url": base_url}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "singgah_session"},
            }
        },
    }
