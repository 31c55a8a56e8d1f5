"""Pages for health officials (cases, previews, runs, contacts) and the visitor's alerts."""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from checkin.errors import CheckinError
from checkin.visits import visits_of
from exposure.cases import confirm_case, create_case, list_cases
from exposure.errors import ExposureError
from exposure.runs import find_run, notifications_for
from venues.errors import VenueError
from venues.registry import list_venues
from web.accounts import record_audit
from web.auth import read_form
from web.errors import Problem
from web.exposure_scope import (
    case_people_from,
    case_region,
    case_rules,
    official,
    parse_day,
    scope_of,
    scoped_case,
)
from web.pages import render
from web.routes_exposure import scoped_contacts, start_run
from web.routes_isolation import my_isolation
from web.visitors import optional_visitor_id


async def cases_page(request: Request, error: str | None = None, status: int = 200) -> Response:
    user = await official(request)
    found = await list_cases(request.app.state.db, scope_of(user))
    return render(
        request,
        "cases.html",
        status,
        cases=found,
        error=error,
        today=request.app.state.clock.now().date().isoformat(),
    )


async def case_create(request: Request) -> Response:
    user = await official(request)
    form = await read_form(request)
    body = {
        key: str(value).strip()
        for key, value in form.items()
        if key in {"nik", "phone", "visitor_id", "positive_on", "onset_on"} and str(value).strip()
    }
    state = request.app.state
    now = state.clock.now()
    try:
        people = await case_people_from(request, body)
        region = await case_region(request, user, body)
        case = await create_case(
            state.db,
            visitor_ids=people,
            region_code=region,
            positive_on=parse_day(body.get("positive_on", ""), "positive_on"),
            onset_on=parse_day(body["onset_on"], "onset_on") if "onset_on" in body else None,
            now=now,
            rules=case_rules(request),
            created_by=user.id,
        )
    except (KeyError, ExposureError, CheckinError, VenueError, Problem) as exc:
        message = (
            "give a NIK, a phone number or a visitor id" if isinstance(exc, KeyError) else str(exc)
        )
        return await cases_page(request, message, 422)
    await record_audit(
        state.db,
        now,
        user.id,
        "case_registered",
        "case",
        str(case.id),
        {"region_code": region, "people": len(people)},
    )
    return RedirectResponse(f"/cases/{case.id}", 303)


async def case_page(request: Request) -> Response:
    _, case = await scoped_case(request, request.path_params["case_id"])
    state = request.app.state
    found = []
    for visitor_id in case.people:
        found += await visits_of(state.db, visitor_id, state.clock.now() - timedelta(days=30))
    inside = [
        v for v in found if v.checked_in_at < case.window_end and v.ends_at > case.window_start
    ]
    names = {
        v.id: v.name for v in await list_venues(state.db, venue_ids={v.venue_id for v in inside})
    }
    return render(request, "case.html", case=case, visits=inside, names=names)


async def case_confirm(request: Request) -> Response:
    user, case = await scoped_case(request, request.path_params["case_id"])
    await read_form(request)
    state = request.app.state
    await confirm_case(state.db, case, state.clock.now(), user.id)
    await record_audit(state.db, state.clock.now(), user.id, "case_confirmed", "case", str(case.id))
    return RedirectResponse(f"/cases/{case.id}", 303)


async def run_create(request: Request) -> Response:
    form = await read_form(request)
    case_ids = [int(value) for value in form.getlist("case_id") if str(value).isdigit()]
    result = await start_run(request, case_ids, form.get("dry_run") == "true")
    return RedirectResponse(f"/exposure-runs/{result['id']}", 303)


async def run_page(request: Request) -> Response:
    user = await official(request)
    run = await find_run(request.app.state.db, request.path_params["run_id"], scope_of(user))
    contacts = [] if run["dry_run"] else await scoped_contacts(request, "contacts_viewed")
    by_venue: dict[str, list[int]] = {}
    for contact in contacts:
        counts = by_venue.setdefault(contact["venue_name"], [0, 0])
        counts[0 if contact["risk"] == "close" else 1] += 1
    return render(
        request, "run.html", run=run, contacts=contacts, by_venue=sorted(by_venue.items())
    )


async def alerts_page(request: Request) -> Response:
    visitor_id = optional_visitor_id(request)
    found = (
        await notifications_for(request.app.state.db, "visitor", visitor_id) if visitor_id else []
    )
    return render(
        request,
        "alerts.html",
        alerts=found,
        mine=await my_isolation(request, visitor_id) if visitor_id else None,
        emergency=request.app.state.settings.emergency_number,
    )


routes = [
    Route("/cases", cases_page, methods=["GET"]),
    Route("/cases", case_create, methods=["POST"]),
    Route("/cases/{case_id:int}", case_page, methods=["GET"]),
    Route("/cases/{case_id:int}/confirm", case_confirm, methods=["POST"]),
    Route("/exposure-runs", run_create, methods=["POST"]),
    Route("/exposure-runs/{run_id:int}", run_page, methods=["GET"]),
    Route("/alerts", alerts_page, methods=["GET"]),
]
