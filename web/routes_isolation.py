"""API for isolation monitoring: officials place people and watch them, visitors report daily
and press the emergency button, and regions have health contacts."""

from __future__ import annotations

import csv
import io
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from exposure.isolation import (
    NEEDS,
    SYMPTOMS,
    DailyReport,
    HealthContact,
    Isolation,
    current_isolation,
    delete_health_contact,
    health_contact_for,
    isolate_case,
    isolate_run_contacts,
    isolate_traveller,
    list_health_contacts,
    monitored,
    open_alerts,
    person_region,
    raise_emergency,
    reported_on,
    save_health_contact,
    settle_alert,
    submit_report,
)
from exposure.runs import find_run
from venues.regions import covers, find_region
from venues.registry import find_venue
from web.accounts import User, record_audit
from web.errors import Forbidden, NotFound
from web.exposure_scope import isolation_rules, official, scope_of
from web.openapi import api
from web.responses import JSONResponse
from web.validation import ID, obj, read_json
from web.visitors import require_visitor_id

PLACE = {
    **obj(
        {
            "case_id": ID,
            "run_id": ID,
            "traveller_id": ID,
            "facility_id": ID,
        }
    ),
    "oneOf": [{"required": ["case_id"]}, {"required": ["run_id"]}, {"required": ["traveller_id"]}],
}
ISOLATION = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "reason": {"enum": ["case", "contact", "traveller"]},
        "region_code": {"type": "string"},
        "facility_id": {"type": ["integer", "null"]},
        "starts_on": {"type": "string", "format": "date"},
        "ends_on": {"type": "string", "format": "date"},
    },
}
MONITORED = {
    "type": "object",
    "properties": {
        **ISOLATION["properties"],
        "report_missing": {"type": "boolean"},
        "symptoms_flagged": {"type": "integer"},
        "emergencies": {"type": "integer"},
        "ending_soon": {"type": "boolean"},
    },
}
REPORT = obj(
    {
        "symptoms": {"type": "array", "items": {"enum": list(SYMPTOMS)}, "uniqueItems": True},
        "temperature": {"type": "number", "minimum": 30, "maximum": 45},
        "spo2": {"type": "integer", "minimum": 50, "maximum": 100},
        "at_home": {"type": "boolean"},
        "needs": {"type": "array", "items": {"enum": list(NEEDS)}, "uniqueItems": True},
    },
    ("symptoms", "at_home"),
)
CONTACT = obj(
    {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "phone": {"type": "string", "minLength": 3, "maxLength": 32},
        "hours": {"type": "string", "maxLength": 200},
    },
    ("name", "phone"),
)
CSV_FIELDS = (
    "id",
    "reason",
    "region_code",
    "facility_name",
    "starts_on",
    "ends_on",
    "last_report_on",
    "report_missing",
    "symptoms_flagged",
    "emergencies",
    "ending_soon",
)


async def scoped_facility(request: Request, user: User, facility_id: int | None) -> int | None:
    """A facility the official may assign: one inside their region."""
    if facility_id is None:
        return None
    venue = await find_venue(request.app.state.db, facility_id)
    scope = scope_of(user)
    if scope is not None and not covers(scope, venue.region_code):
        raise Forbidden(f"the facility {facility_id} is outside your region {scope}")
    return facility_id


async def place(request: Request, user: User, body: dict[str, Any]) -> list[Isolation]:
    """Isolate a case's people, a run's close contacts or a traveller; audited."""
    state = request.app.state
    now = state.clock.now()
    scope = scope_of(user)
    options = {
        "now": now,
        "rules": isolation_rules(request),
        "facility_id": await scoped_facility(request, user, body.get("facility_id")),
        "created_by": user.id,
    }
    if "case_id" in body:
        placed = await isolate_case(state.db, body["case_id"], scope, **options)
        source = ("case", body["case_id"])
    elif "run_id" in body:
        await find_run(state.db, body["run_id"], None)  # its contacts in scope, as in contacts
        placed = await isolate_run_contacts(state.db, body["run_id"], scope, **options)
        source = ("exposure_run", body["run_id"])
    else:
        placed = [await isolate_traveller(state.db, body["traveller_id"], scope, **options)]
        source = ("traveller", body["traveller_id"])
    await record_audit(
        state.db,
        now,
        user.id,
        "isolation_placed",
        source[0],
        str(source[1]),
        {"isolations": [i.id for i in placed], "facility_id": options["facility_id"]},
    )
    return placed


async def isolations_create(request: Request) -> JSONResponse:
    user = await official(request)
    body = await read_json(request, PLACE)
    return JSONResponse([i.public() for i in await place(request, user, body)], 201)


async def watched(request: Request) -> list[dict[str, Any]]:
    user = await official(request)
    state = request.app.state
    people = await monitored(
        state.db, scope_of(user), now=state.clock.now(), rules=isolation_rules(request)
    )
    return [person.public() for person in people]


async def isolations_index(request: Request) -> JSONResponse:
    return JSONResponse(await watched(request))


async def isolations_csv(request: Request) -> Response:
    user = await official(request)
    people = await watched(request)
    state = request.app.state
    await record_audit(
        state.db,
        state.clock.now(),
        user.id,
        "isolations_exported",
        "isolation",
        "*",
        {"rows": len(people), "scope": scope_of(user)},
    )
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(people)
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="isolations.csv"',
            "Cache-Control": "no-store",
        },
    )


async def viewed_alerts(request: Request) -> list[dict[str, Any]]:
    """Open alerts in the official's region with emergency contact data; the view is audited
    (without the data)."""
    user = await official(request)
    state = request.app.state
    found = await open_alerts(state.db, state.personal_keys, scope_of(user))
    await record_audit(
        state.db,
        state.clock.now(),
        user.id,
        "isolation_alerts_viewed",
        "isolation_alert",
        "*",
        {"alerts": len(found), "scope": scope_of(user)},
    )
    return found


async def alerts_index(request: Request) -> JSONResponse:
    return JSONResponse(await viewed_alerts(request))


async def settle(request: Request, action: str) -> None:
    user = await official(request)
    state = request.app.state
    alert_id = request.path_params["alert_id"]
    now = state.clock.now()
    await settle_alert(state.db, alert_id, scope_of(user), action=action, now=now, user_id=user.id)
    await record_audit(
        state.db, now, user.id, f"isolation_alert_{action}d", "isolation_alert", str(alert_id)
    )


async def alert_acknowledge(request: Request) -> Response:
    await settle(request, "acknowledge")
    return Response(status_code=204)


async def alert_resolve(request: Request) -> Response:
    await settle(request, "resolve")
    return Response(status_code=204)


async def my_isolation(request: Request, visitor_id: str) -> dict[str, Any]:
    """What the visitor's isolation pages show: the period, whether today's report is in, the
    person's health contact and the emergency number."""
    state = request.app.state
    rules = isolation_rules(request)
    today = rules.today(state.clock.now())
    isolation = await current_isolation(state.db, visitor_id, today)
    region = await person_region(state.db, visitor_id, today)
    contact = await health_contact_for(state.db, region) if region else None
    return {
        "isolation": isolation.public() if isolation else None,
        "active": bool(isolation and isolation.is_active(today)),
        "reported_today": bool(isolation and await reported_on(state.db, isolation.id, today)),
        "health_contact": contact.public() if contact else None,
        "emergency_number": state.settings.emergency_number,
    }


async def me_isolation(request: Request) -> JSONResponse:
    return JSONResponse(await my_isolation(request, require_visitor_id(request)))


async def isolation_of(request: Request, visitor_id: str) -> Isolation:
    state = request.app.state
    today = isolation_rules(request).today(state.clock.now())
    isolation = await current_isolation(state.db, visitor_id, today)
    if isolation is None:
        raise NotFound("you are not in isolation")
    return isolation


async def report_today(request: Request, visitor_id: str, report: DailyReport) -> list[str]:
    state = request.app.state
    return await submit_report(
        state.db,
        await isolation_of(request, visitor_id),
        report,
        now=state.clock.now(),
        rules=isolation_rules(request),
    )


async def me_report(request: Request) -> JSONResponse:
    visitor_id = require_visitor_id(request)
    body = await read_json(request, REPORT)
    report = DailyReport(
        symptoms=tuple(body["symptoms"]),
        temperature=body.get("temperature"),
        spo2=body.get("spo2"),
        at_home=body["at_home"],
        needs=tuple(body.get("needs", ())),
    )
    return JSONResponse({"danger_signs": await report_today(request, visitor_id, report)}, 201)


async def emergency(request: Request, visitor_id: str) -> int:
    state = request.app.state
    isolation = await isolation_of(request, visitor_id)
    return await raise_emergency(state.db, state.personal_keys, isolation, now=state.clock.now())


async def me_emergency(request: Request) -> JSONResponse:
    alert_id = await emergency(request, require_visitor_id(request))
    number = request.app.state.settings.emergency_number
    return JSONResponse({"alert_id": alert_id, "emergency_number": number}, 201)


async def contacts_index(request: Request) -> JSONResponse:
    user = await official(request)
    found = await list_health_contacts(request.app.state.db, scope_of(user))
    return JSONResponse([c.public() for c in found])


async def scoped_region(request: Request, user: User, region_code: str) -> str:
    scope = scope_of(user)
    if scope is not None and not covers(scope, region_code):
        raise Forbidden(f"the region {region_code} is outside your region {scope}")
    return (await find_region(request.app.state.db, region_code)).code


async def store_contact(request: Request, user: User, fields: dict[str, str]) -> HealthContact:
    state = request.app.state
    region = await scoped_region(request, user, fields["region_code"])
    now = state.clock.now()
    saved = await save_health_contact(
        state.db,
        HealthContact(region, fields["name"], fields["phone"], fields.get("hours", "")),
        now=now,
        user_id=user.id,
    )
    await record_audit(state.db, now, user.id, "health_contact_saved", "region", region)
    return saved


async def contact_put(request: Request) -> JSONResponse:
    user = await official(request)
    body = await read_json(request, CONTACT)
    region = request.path_params["region_code"]
    return JSONResponse(
        (await store_contact(request, user, {**body, "region_code": region})).public()
    )


async def contact_delete(request: Request) -> Response:
    user = await official(request)
    state = request.app.state
    region = await scoped_region(request, user, request.path_params["region_code"])
    if not await delete_health_contact(state.db, region):
        raise NotFound(f"the region {region} has no health contact")
    await record_audit(
        state.db, state.clock.now(), user.id, "health_contact_deleted", "region", region
    )
    return Response(status_code=204)


OFFICIALS = "admin, health official (own region)"
ALERT = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "kind": {"enum": ["danger", "emergency"]},
        "contact": {"type": ["object", "null"]},
    },
}
routes = [
    api(
        "/api/isolations",
        isolations_create,
        "POST",
        "Place a case's people, a run's close contacts or a traveller in isolation",
        auth=OFFICIALS,
        tag="isolation",
        body=PLACE,
        response={"type": "array", "items": ISOLATION},
        status=201,
    ),
    api(
        "/api/isolations",
        isolations_index,
        "GET",
        "People isolating today in your region, most urgent first",
        auth=OFFICIALS,
        tag="isolation",
        response={"type": "array", "items": MONITORED},
    ),
    api(
        "/api/isolations.csv",
        isolations_csv,
        "GET",
        "People isolating today in your region as CSV (audited)",
        auth=OFFICIALS,
        tag="isolation",
        media_types=("text/csv",),
    ),
    api(
        "/api/isolation-alerts",
        alerts_index,
        "GET",
        "Open danger and emergency alerts in your region, with contact data (audited)",
        auth=OFFICIALS,
        tag="isolation",
        response={"type": "array", "items": ALERT},
    ),
    api(
        "/api/isolation-alerts/{alert_id:int}/acknowledge",
        alert_acknowledge,
        "POST",
        "Acknowledge an alert",
        auth=OFFICIALS,
        tag="isolation",
        status=204,
    ),
    api(
        "/api/isolation-alerts/{alert_id:int}/resolve",
        alert_resolve,
        "POST",
        "Resolve an alert",
        auth=OFFICIALS,
        tag="isolation",
        status=204,
    ),
    api(
        "/api/health-contacts",
        contacts_index,
        "GET",
        "Health contacts of regions in your region",
        auth=OFFICIALS,
        tag="isolation",
        response={"type": "array", "items": {"type": "object"}},
    ),
    api(
        "/api/health-contacts/{region_code}",
        contact_put,
        "PUT",
        "Set a region's health contact",
        auth=OFFICIALS,
        tag="isolation",
        body=CONTACT,
        response={"type": "object"},
    ),
    api(
        "/api/health-contacts/{region_code}",
        contact_delete,
        "DELETE",
        "Remove a region's health contact",
        auth=OFFICIALS,
        tag="isolation",
        status=204,
    ),
    api(
        "/api/me/isolation",
        me_isolation,
        "GET",
        "The visitor's isolation, today's report, health contact and emergency number",
        auth="visitor",
        tag="isolation",
        response={"type": "object"},
    ),
    api(
        "/api/me/isolation/reports",
        me_report,
        "POST",
        "Today's isolation report; answers with its danger signs",
        auth="visitor",
        tag="isolation",
        body=REPORT,
        response={"type": "object"},
        status=201,
    ),
    api(
        "/api/me/isolation/emergency",
        me_emergency,
        "POST",
        "The emergency button: alerts the facility with the visitor's contact data",
        auth="visitor",
        tag="isolation",
        response={"type": "object"},
        status=201,
    ),
]
