"""Pages for isolation: the visitor's isolation (daily form, emergency button, health contact)
and the officials' watch list, alerts and health contacts."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from exposure.errors import ExposureError
from exposure.isolation import NEEDS, SYMPTOMS, DailyReport, list_health_contacts, monitored
from venues.errors import VenueError
from web.auth import read_form
from web.errors import Problem, ValidationFailed
from web.exposure_scope import isolation_rules, official, scope_of
from web.pages import render
from web.routes_isolation import (
    emergency,
    my_isolation,
    place,
    report_today,
    settle,
    store_contact,
    viewed_alerts,
)
from web.visitors import optional_visitor_id


def _number(form: FormData, name: str, kind: type[int] | type[float]) -> int | float | None:
    text = str(form.get(name, "")).strip().replace(",", ".")
    if not text:
        return None
    try:
        return kind(text)
    except ValueError as exc:
        raise ValidationFailed(f"{name} {text!r} is not a number") from exc


def report_from(form: FormData) -> DailyReport:
    return DailyReport(
        symptoms=tuple(str(s) for s in form.getlist("symptom")),
        temperature=_number(form, "temperature", float),
        spo2=_number(form, "spo2", int),  # type: ignore[arg-type]
        at_home=form.get("at_home") != "no",
        needs=tuple(str(n) for n in form.getlist("need")),
    )


async def my_isolation_page(
    request: Request, error: str | None = None, status: int = 200
) -> Response:
    visitor_id = optional_visitor_id(request)
    mine = await my_isolation(request, visitor_id) if visitor_id else None
    return render(
        request,
        "isolation_me.html",
        status,
        mine=mine,
        symptoms=SYMPTOMS,
        needs=NEEDS,
        error=error,
        sent=request.query_params.get("sent"),
        emergency=request.app.state.settings.emergency_number,
    )


async def my_report(request: Request) -> Response:
    form = await read_form(request)
    visitor_id = optional_visitor_id(request)
    if visitor_id is None:
        return RedirectResponse("/me/isolation", 303)
    try:
        signs = await report_today(request, visitor_id, report_from(form))
    except (ExposureError, Problem) as exc:
        return await my_isolation_page(request, str(exc), 422)
    return RedirectResponse("/me/isolation?sent=" + ("danger" if signs else "report"), 303)


async def my_emergency(request: Request) -> Response:
    await read_form(request)
    visitor_id = optional_visitor_id(request)
    if visitor_id is None:
        return RedirectResponse("/me/isolation", 303)
    try:
        await emergency(request, visitor_id)
    except (ExposureError, Problem) as exc:
        return await my_isolation_page(request, str(exc), 422)
    return RedirectResponse("/me/isolation?sent=emergency", 303)


async def watch_page(request: Request, error: str | None = None, status: int = 200) -> Response:
    user = await official(request)
    state = request.app.state
    people = await monitored(
        state.db, scope_of(user), now=state.clock.now(), rules=isolation_rules(request)
    )
    return render(
        request,
        "isolation.html",
        status,
        people=people,
        alerts=await viewed_alerts(request),
        error=error,
    )


async def watch_place(request: Request) -> Response:
    user = await official(request)
    form = await read_form(request)
    source = str(form.get("source", ""))
    number = str(form.get("number", "")).strip()
    facility = str(form.get("facility_id", "")).strip()
    if source not in {"case_id", "run_id", "traveller_id"} or not number.isdigit():
        return await watch_page(request, "choose a case, a run or a traveller and its number", 422)
    body = {source: int(number), **({"facility_id": int(facility)} if facility.isdigit() else {})}
    try:
        await place(request, user, body)
    except (ExposureError, VenueError, Problem) as exc:
        return await watch_page(request, str(exc), 422)
    return RedirectResponse("/isolation", 303)


async def watch_settle(request: Request) -> Response:
    form = await read_form(request)
    action = "resolve" if form.get("action") == "resolve" else "acknowledge"
    await settle(request, action)
    return RedirectResponse("/isolation", 303)


async def contacts_page(request: Request, error: str | None = None, status: int = 200) -> Response:
    user = await official(request)
    found = await list_health_contacts(request.app.state.db, scope_of(user))
    return render(request, "health_contacts.html", status, contacts=found, error=error)


async def contacts_save(request: Request) -> Response:
    user = await official(request)
    form = await read_form(request)
    fields = {
        key: str(form.get(key, "")).strip() for key in ("region_code", "name", "phone", "hours")
    }
    try:
        await store_contact(request, user, fields)
    except (ExposureError, VenueError, Problem) as exc:
        return await contacts_page(request, str(exc), 422)
    return RedirectResponse("/health-contacts", 303)


routes = [
    Route("/me/isolation", my_isolation_page, methods=["GET"]),
    Route("/me/isolation/report", my_report, methods=["POST"]),
    Route("/me/isolation/emergency", my_emergency, methods=["POST"]),
    Route("/isolation", watch_page, methods=["GET"]),
    Route("/isolation", watch_place, methods=["POST"]),
    Route("/isolation/alerts/{alert_id:int}", watch_settle, methods=["POST"]),
    Route("/health-contacts", contacts_page, methods=["GET"]),
    Route("/health-contacts", contacts_save, methods=["POST"]),
]
