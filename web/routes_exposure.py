"""API for cases, exposure runs and their contacts, and the visitor's notifications."""

from __future__ import annotations

import csv
import io
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from checkin.visitors import read_profile
from checkin.visits import iso
from exposure.cases import confirm_case, create_case, find_case, list_cases, require_confirmed
from exposure.isolation import isolate_run_contacts
from exposure.runs import find_run, run_contacts, run_exposures
from web.accounts import record_audit
from web.exposure_scope import (
    case_people_from,
    case_region,
    case_rules,
    isolation_rules,
    match_rules,
    official,
    parse_day,
    scope_of,
    scoped_case,
)
from web.openapi import api
from web.responses import JSONResponse
from web.routes_accounts import REGION
from web.routes_push import inbox
from web.validation import ID, obj, query_value, read_json

DAY = {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"}
NEW_CASE = {
    **obj(
        {
            "visitor_id": {"type": "string", "maxLength": 64},
            "nik": {"type": "string", "pattern": r"^\d{16}$"},
            "phone": {"type": "string", "maxLength": 32},
            "positive_on": DAY,
            "onset_on": DAY,
            "region_code": REGION,
        },
        required=("positive_on",),
    ),
    "oneOf": [{"required": ["visitor_id"]}, {"required": ["nik"]}, {"required": ["phone"]}],
}
CASE_STATUS = {"enum": ["pending", "confirmed"]}
CASE = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "status": CASE_STATUS,
        "window": {"type": "object"},
        "people": {"type": "integer"},
    },
}
NEW_RUN = obj(
    {
        "case_ids": {
            "type": "array",
            "items": ID,
            "minItems": 1,
            "maxItems": 5000,
            "uniqueItems": True,
        },
        "dry_run": {"type": "boolean"},
    },
    ("case_ids", "dry_run"),
)
RUN = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "dry_run": {"type": "boolean"},
        "contacts": {
            "type": "object",
            "properties": {"close": {"type": "integer"}, "low": {"type": "integer"}},
        },
        "venues": {"type": "array"},
        "regions": {"type": "array"},
        "duration_ms": {"type": "integer"},
    },
}
CONTACT_FIELDS = (
    "visitor_id",
    "risk",
    "overlap_minutes",
    "venue_id",
    "venue_name",
    "region_code",
    "exposed_from",
    "exposed_until",
    "last_exposed_at",
    "phone",
)


async def cases_create(request: Request) -> JSONResponse:
    user = await official(request)
    body = await read_json(request, NEW_CASE)
    state = request.app.state
    now = state.clock.now()
    people = await case_people_from(request, body)
    region = await case_region(request, user, body)
    onset = parse_day(body["onset_on"], "onset_on") if "onset_on" in body else None
    case = await create_case(
        state.db,
        visitor_ids=people,
        region_code=region,
        positive_on=parse_day(body["positive_on"], "positive_on"),
        onset_on=onset,
        now=now,
        rules=case_rules(request),
        created_by=user.id,
    )
    await record_audit(
        state.db,
        now,
        user.id,
        "case_registered",
        "case",
        str(case.id),
        {"region_code": region, "people": len(people)},
    )
    return JSONResponse(case.public(), 201)


async def cases_index(request: Request) -> JSONResponse:
    user = await official(request)
    status = query_value(request, "status", CASE_STATUS)
    found = await list_cases(request.app.state.db, scope_of(user), status)
    return JSONResponse([case.public() for case in found])


async def cases_show(request: Request) -> JSONResponse:
    _, case = await scoped_case(request, request.path_params["case_id"])
    return JSONResponse(case.public())


async def cases_confirm(request: Request) -> JSONResponse:
    user, case = await scoped_case(request, request.path_params["case_id"])
    state = request.app.state
    now = state.clock.now()
    confirmed = await confirm_case(state.db, case, now, user.id)
    await record_audit(state.db, now, user.id, "case_confirmed", "case", str(case.id))
    return JSONResponse(confirmed.public())


async def start_run(request: Request, case_ids: list[int], dry_run: bool) -> dict[str, Any]:
    """Run (or preview) exposures for cases the official may act on; audited."""
    user = await official(request)
    state = request.app.state
    found = [await find_case(state.db, case_id, scope_of(user)) for case_id in case_ids]
    require_confirmed(found)
    now = state.clock.now()
    result = await run_exposures(
        state.db,
        case_ids,
        now=now,
        rules=match_rules(request),
        dry_run=dry_run,
        triggered_by=user.id,
    )
    if not dry_run and state.settings.isolate_close_contacts:
        await isolate_run_contacts(
            state.db,
            result.id,
            scope_of(user),
            now=now,
            rules=isolation_rules(request),
            created_by=user.id,
        )
    await record_audit(
        state.db,
        now,
        user.id,
        "exposure_preview" if dry_run else "exposure_run",
        "exposure_run",
        str(result.id),
        {"case_ids": case_ids, **result.counts(), "duration_ms": result.duration_ms},
    )
    return result.public()


async def runs_create(request: Request) -> JSONResponse:
    await official(request)  # who asks comes before what they sent
    body = await read_json(request, NEW_RUN)
    return JSONResponse(await start_run(request, body["case_ids"], body["dry_run"]), 201)


async def runs_show(request: Request) -> JSONResponse:
    user = await official(request)
    run = await find_run(request.app.state.db, request.path_params["run_id"], scope_of(user))
    return JSONResponse(run)


async def scoped_contacts(request: Request, purpose: str) -> list[dict[str, Any]]:
    """The run's contacts in the official's region, with the phone tracers need; the view of
    personal data is audited (without the data)."""
    user = await official(request)
    state = request.app.state
    run_id = request.path_params["run_id"]
    # Any run, not only one with a case in the region: its contacts at the region's venues
    # are the region's to trace, whichever region the case was in.
    await find_run(state.db, run_id, None)
    rows = await run_contacts(state.db, run_id, scope_of(user))
    contacts = []
    for row in rows:
        profile = await read_profile(state.db, state.personal_keys, row["visitor_id"])
        contacts.append(
            {
                "visitor_id": row["visitor_id"],
                "risk": row["risk"],
                "overlap_minutes": row["overlap_seconds"] // 60,
                "venue_id": row["venue_id"],
                "venue_name": row["venue_name"],
                "region_code": row["region_code"],
                "exposed_from": iso(row["exposed_from"]),
                "exposed_until": iso(row["exposed_until"]),
                "last_exposed_at": iso(row["last_exposed_at"]),
                "phone": profile.phone,
            }
        )
    await record_audit(
        state.db,
        state.clock.now(),
        user.id,
        purpose,
        "exposure_run",
        str(run_id),
        {"contacts": len(contacts), "scope": scope_of(user)},
    )
    return contacts


async def runs_contacts(request: Request) -> JSONResponse:
    return JSONResponse(await scoped_contacts(request, "contacts_viewed"))


async def runs_contacts_csv(request: Request) -> Response:
    contacts = await scoped_contacts(request, "contacts_exported")
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CONTACT_FIELDS)
    writer.writeheader()
    writer.writerows(contacts)
    name = f"exposure-run-{request.path_params['run_id']}-contacts.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


OFFICIALS = "admin, health official (own region)"
routes = [
    api(
        "/api/cases",
        cases_create,
        "POST",
        "Register a positive case (confirmed at once)",
        auth=OFFICIALS,
        tag="cases",
        body=NEW_CASE,
        response=CASE,
        status=201,
    ),
    api(
        "/api/cases",
        cases_index,
        "GET",
        "Cases in your region",
        auth=OFFICIALS,
        tag="cases",
        query={"status": CASE_STATUS},
        response={"type": "array", "items": CASE},
    ),
    api(
        "/api/cases/{case_id:int}",
        cases_show,
        "GET",
        "A case",
        auth=OFFICIALS,
        tag="cases",
        response=CASE,
    ),
    api(
        "/api/cases/{case_id:int}/confirm",
        cases_confirm,
        "POST",
        "Confirm a pending case from a lab",
        auth=OFFICIALS,
        tag="cases",
        response=CASE,
    ),
    api(
        "/api/exposure-runs",
        runs_create,
        "POST",
        "Preview (dry_run) or run exposures",
        auth=OFFICIALS,
        tag="exposure",
        body=NEW_RUN,
        response=RUN,
        status=201,
    ),
    api(
        "/api/exposure-runs/{run_id:int}",
        runs_show,
        "GET",
        "An exposure run's record",
        auth=OFFICIALS,
        tag="exposure",
        response={"type": "object"},
    ),
    api(
        "/api/exposure-runs/{run_id:int}/contacts",
        runs_contacts,
        "GET",
        "The run's contacts in your region",
        auth=OFFICIALS,
        tag="exposure",
        response={"type": "array", "items": {"type": "object"}},
    ),
    api(
        "/api/exposure-runs/{run_id:int}/contacts.csv",
        runs_contacts_csv,
        "GET",
        "The run's contacts in your region as CSV (audited)",
        auth=OFFICIALS,
        tag="exposure",
        media_types=("text/csv",),
    ),
    api(
        "/api/me/notifications",
        inbox,
        "GET",
        "Your alerts (a visitor's, or a staff account's venues'), titles in your language",
        auth="visitor token or staff account",
        tag="notifications",
        response={"type": "array", "items": {"type": "object"}},
    ),
]
