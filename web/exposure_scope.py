"""The rules that connect settings and officials' scopes to the exposure engine."""

from __future__ import annotations

from datetime import date

from starlette.requests import Request

from checkin.visitors import check_nik, find_visitor, lookup_hash, normalise_phone
from exposure.cases import Case, CaseRules, find_case, visitors_by_hash
from exposure.isolation import IsolationRules
from exposure.matching import MatchRules
from venues.regions import covers, find_region
from web.accounts import Role, User
from web.auth import require_user
from web.errors import Forbidden, ValidationFailed

CASE_ROLES = (Role.ADMIN, Role.HEALTH_OFFICIAL)


def case_rules(request: Request) -> CaseRules:
    settings = request.app.state.settings
    return CaseRules(
        days_before=settings.infectious_days_before,
        lookback_days=settings.retention_days,
        timezone=settings.timezone,
    )


def match_rules(request: Request) -> MatchRules:
    settings = request.app.state.settings
    return MatchRules(
        close_seconds=settings.close_contact_minutes * 60,
        aerosol_tail=settings.aerosol_tail,
        max_visit_seconds=settings.max_visit_hours * 3600,
    )


def isolation_rules(request: Request) -> IsolationRules:
    settings = request.app.state.settings
    return IsolationRules(
        days=settings.isolation_days, spo2_danger=settings.spo2_danger, timezone=settings.timezone
    )


def scope_of(user: User) -> str | None:
    """The region prefix an official may act in; None for admins (everywhere)."""
    return None if user.role is Role.ADMIN else user.region_prefix


async def official(request: Request) -> User:
    return await require_user(request, *CASE_ROLES)


async def scoped_case(request: Request, case_id: int) -> tuple[User, Case]:
    user = await official(request)
    return user, await find_case(request.app.state.db, case_id, scope_of(user))


async def case_people_from(request: Request, body: dict) -> list[str]:
    """The visitors a case is, from a visitor id, a NIK or a phone number."""
    state = request.app.state
    if "visitor_id" in body:
        return [(await find_visitor(state.db, body["visitor_id"])).id]
    if "nik" in body:
        nik_hash = lookup_hash(state.personal_keys, "nik", check_nik(body["nik"]))
        return await visitors_by_hash(state.db, "nik_hash", nik_hash)
    phone_hash = lookup_hash(state.personal_keys, "phone", normalise_phone(body["phone"]))
    return await visitors_by_hash(state.db, "phone_hash", phone_hash)


async def case_region(request: Request, user: User, body: dict) -> str:
    """The region a new case belongs to: given, else from the NIK, else the official's own;
    always inside the official's scope."""
    scope = scope_of(user)
    region = body.get("region_code")
    if region is None and "nik" in body:
        region = f"{body['nik'][:2]}.{body['nik'][2:4]}"
    region = region or scope
    if region is None:
        raise ValidationFailed("give the case's region_code")
    if scope is not None and not covers(scope, region):
        raise Forbidden(f"the case's region {region} is outside your region {scope}")
    await find_region(request.app.state.db, region)
    return region


def parse_day(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ValidationFailed(f"{field} {text!r} is not a date (YYYY-MM-DD)") from exc
