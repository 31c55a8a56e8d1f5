"""Request body validation: the fast check (jsonschema-rs) never accepts what the reference
(jsonschema) refuses, for every schema the API declares (web/validation.py)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from web.app import all_routes
from web.openapi import api_routes
from web.routes_checkin import NEW_CHECKIN
from web.validation import ID, Schema, validation_errors, validators_for

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
ANY_JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
# Where Python's re and ECMA-262 differ: "$" before a final newline, non-ASCII digits.
TEXT_TWISTS = ("\n", " ", "\u0661", "0", "")


def api_schemas() -> list[Schema]:
    """Every body and query schema of the API, once each."""
    found: dict[int, Schema] = {}
    for route in api_routes(all_routes()):
        for schema in (route.doc.body, *route.doc.query.values()):
            if schema is not None:
                found[id(schema)] = schema
    return list(found.values())


def near(schema: Any) -> st.SearchStrategy[Any]:
    """Documents close to ``schema``'s edges: valid ones, and ones just past a limit."""
    if not isinstance(schema, dict):
        return ANY_JSON
    options = [ANY_JSON]
    if "enum" in schema:
        options.append(st.sampled_from(schema["enum"]))
    if "const" in schema:
        options.append(st.just(schema["const"]))
    if "pattern" in schema:
        matching = st.from_regex(schema["pattern"], fullmatch=True)
        twisted = st.tuples(matching, st.sampled_from(TEXT_TWISTS)).map("".join)
        options += [matching, twisted]
    if "maxLength" in schema or "minLength" in schema:
        size = schema.get("maxLength", schema.get("minLength", 0))
        options.append(st.integers(max(0, size - 1), size + 1).map(lambda n: "7" * n))
    if "minimum" in schema or "maximum" in schema:
        limits = [schema[key] for key in ("minimum", "maximum") if key in schema]
        edges = [limit + step for limit in limits for step in (-1, 0, 1)]
        options.append(st.sampled_from(edges) | st.sampled_from(edges).map(float))
    if "properties" in schema:
        fields = {name: near(sub) for name, sub in schema["properties"].items()}
        options.append(
            st.fixed_dictionaries({}, optional=fields)
            | st.fixed_dictionaries({}, optional=fields | {"unknown": ANY_JSON})
        )
    if "items" in schema:
        options.append(st.lists(near(schema["items"]), max_size=12))
    for key in ("anyOf", "oneOf", "allOf"):
        options += [near(sub) for sub in schema.get(key, [])]
    return st.one_of(options)


@pytest.mark.parametrize("schema", api_schemas(), ids=lambda s: ",".join(s.get("properties", s)))
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_the_fast_check_accepts_nothing_the_reference_refuses(schema: Schema, data) -> None:
    validators = validators_for(schema)
    document = data.draw(near(schema))
    if validators.fast.is_valid(document):
        assert validators.full.is_valid(document), document


def test_the_api_declares_schemas_to_check() -> None:
    assert len(api_schemas()) > 20


def test_errors_come_from_the_reference() -> None:
    assert validation_errors(NEW_CHECKIN, {"token": "abc"}) == []
    assert validation_errors(NEW_CHECKIN, {"token": 5, "extra": 1}) == [
        {
            "pointer": "#/",
            "detail": "Additional properties are not allowed ('extra' was unexpected)",
        },
        {"pointer": "#/token", "detail": "5 is not of type 'string'"},
    ]


def test_where_the_fast_check_is_stricter_the_reference_decides() -> None:
    # ECMA-262's "$" does not match before a final newline; Python's does: the reference
    # accepts, so the body is accepted as before (the NIK check refuses it later).
    schema = {"type": "string", "pattern": r"^\d{16}$"}
    assert not validators_for(schema).fast.is_valid("1234567890123456\n")
    assert validation_errors(schema, "1234567890123456\n") == []


def test_ids_past_64_bits_are_refused_by_both() -> None:
    validators = validators_for(ID)
    for value in (2**63, 2**64, 10**30, 0, -1):
        assert not validators.fast.is_valid(value)
        assert not validators.full.is_valid(value)
    assert validators.fast.is_valid(2**63 - 1)
