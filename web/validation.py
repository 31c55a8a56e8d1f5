"""Reading request bodies: JSON checked against a JSON Schema, forms checked for CSRF.

The same schemas describe the request bodies in the OpenAPI document, so the contract and its
enforcement cannot drift apart.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator
from starlette.requests import Request

from web.errors import MalformedJSON, UnsupportedMediaType, ValidationFailed

Schema = dict[str, Any]
# Ids are signed 64-bit database keys: a larger number names nothing and cannot even be bound
# as a query parameter, so the schema refuses it (422) before any query does (500).
ID: Schema = {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}


class Validators:
    """A schema's two validators. ``jsonschema`` is the reference: its errors are the ones a
    client sees. ``jsonschema-rs`` (compiled Rust, about 40 times faster on a check-in body:
    0.5 against 19 us) only answers "valid?" first, so a valid body, nearly every body, costs
    no more than that. Where it refuses, the reference decides and lists the errors; so the
    body is accepted exactly when the reference accepts it, as long as the fast check accepts
    no body the reference refuses (it is the stricter of the two: ECMA-262 patterns, where
    ``$`` does not match before a final newline and ``\\d`` is ASCII digits only; both treat
    ``format`` as an annotation; tests/web/test_validation.py checks them against each other)."""

    __slots__ = ("fast", "full")

    def __init__(self, schema: Schema) -> None:
        self.full = Draft202012Validator(schema)
        self.fast = jsonschema_rs.Draft202012Validator(schema)


@cache
def _validators(schema_json: str) -> Validators:
    return Validators(json.loads(schema_json))


# Schemas are module constants: one validator per schema object, found without serialising
# the schema on every request (the object is held, so its id is not reused).
_BY_SCHEMA: dict[int, tuple[Schema, Validators]] = {}


def validators_for(schema: Schema) -> Validators:
    known = _BY_SCHEMA.get(id(schema))
    if known is None or known[0] is not schema:
        known = _BY_SCHEMA[id(schema)] = (schema, _validators(json.dumps(schema, sort_keys=True)))
    return known[1]


def validation_errors(schema: Schema, document: Any) -> list[dict[str, str]]:
    """Every violation as ``{"pointer": "#/field", "detail": "..."}``, sorted by place."""
    validators = validators_for(schema)
    if validators.fast.is_valid(document):
        return []
    validator = validators.full
    return [
        {
            "pointer": "#/" + "/".join(str(part) for part in error.absolute_path),
            "detail": error.message,
        }
        for error in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.path)))
    ]


def storable(text: str) -> bool:
    """No NUL (PostgreSQL text refuses it) and no unpaired surrogate (JSON's \\ud800 escapes,
    not encodable as UTF-8): valid JSON either way, but no database column can hold them."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def unstorable_text(document: Any, pointer: str = "#") -> list[dict[str, str]]:
    """Every string (or key) in ``document`` that is not `storable`: refused before a query
    fails on it with a 500."""
    if isinstance(document, str):
        ok = storable(document)
        return [] if ok else [{"pointer": pointer, "detail": "text with NUL or lone surrogates"}]
    if isinstance(document, dict):
        keys = [error for key in document for error in unstorable_text(key, pointer)]
        items = list(document.items())
    elif isinstance(document, list):
        keys, items = [], list(enumerate(document))
    else:
        return []
    return keys + [e for k, v in items for e in unstorable_text(v, f"{pointer}/{k}")]


async def read_json(request: Request, schema: Schema) -> dict[str, Any]:
    """The request's JSON body once it matches ``schema``; a problem+json 4xx otherwise."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise UnsupportedMediaType(
            f"send the body as application/json, not {content_type or 'nothing'}"
        )
    raw = await request.body()
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedJSON(f"the body is not valid JSON: {exc}") from exc
    errors = unstorable_text(document) or validation_errors(schema, document)
    if errors:
        summary = "; ".join(f"{e['pointer']}: {e['detail']}" for e in errors[:3])
        raise ValidationFailed(f"the body does not match the schema: {summary}", errors=errors)
    return document


def query_value(request: Request, name: str, schema: Schema) -> str | None:
    """The query parameter ``name`` once it matches ``schema`` (the one the OpenAPI document
    declares for it); None when absent; a problem+json 422 otherwise."""
    value = request.query_params.get(name)
    if value is None:
        return None
    errors = validation_errors(schema, value)
    if errors:
        detail = f"the query parameter {name} does not match the schema: {errors[0]['detail']}"
        raise ValidationFailed(detail, errors=[{**e, "pointer": f"?{name}"} for e in errors])
    return value


def obj(properties: dict[str, Schema], required: tuple[str, ...] = ()) -> Schema:
    """A JSON object schema that rejects unknown fields."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }
