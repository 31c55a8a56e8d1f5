"""One of each role and one of each object, for tests that try every route (the access
matrix, the API fuzz)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import httpx

from certificates.issuers import create_issuer
from exposure.cases import CaseRules, create_case
from exposure.isolation import IsolationRules, isolate_case
from exposure.matching import MatchRules
from exposure.runs import run_exposures
from tests.factories import START, bearer_for, make_user, make_venue, make_visitor, poster_token
from venues.registry import VenueKind
from web.accounts import Role
from web.database import Database
from web.scopes import assign_manager

LATER = START + timedelta(hours=30)  # the visits at START have ended: the run matches them


@dataclass
class World:
    """One of each role, a venue in 16.71 the manager runs, a visit, a case, a run with its
    notification, and an emergency alert."""

    headers: dict[str, dict[str, str]]
    ids: dict[str, str]


async def make_world(db: Database, client: httpx.AsyncClient, kek: bytes) -> World:
    venue = await make_venue(db, kek, kind=VenueKind.BORDER_CHECKPOINT)
    elsewhere = await make_venue(db, kek, region_code="31.71")
    issuer = await create_issuer(db, name="Lab", kind="lab", country="ID", now=START)
    users = {
        "admin": await make_user(db, Role.ADMIN),
        "official_16": await make_user(db, Role.HEALTH_OFFICIAL, region="16"),
        "official_31": await make_user(db, Role.HEALTH_OFFICIAL, region="31"),
        "manager_own": await make_user(db, Role.VENUE_MANAGER),
        "manager_other": await make_user(db, Role.VENUE_MANAGER),
        "checkpoint_officer": await make_user(db, Role.CHECKPOINT_OFFICER),
        "issuer": await make_user(db, Role.ISSUER, issuer_id=issuer.id),
    }
    await assign_manager(db, users["manager_own"], venue.id)
    await assign_manager(db, users["manager_other"], elsewhere.id)
    # The visitor is a close contact of a patient who checked in at the same time; the
    # patient is isolating and has pressed the emergency button.
    visitor, patient = await make_visitor(client), await make_visitor(client)
    token = await poster_token(db, kek, venue)
    visit = await client.post("/api/checkins", json={"token": token}, headers=visitor["headers"])
    await client.post("/api/checkins", json={"token": token}, headers=patient["headers"])
    case = await create_case(
        db, visitor_ids=[patient["visitor_id"]], region_code="16.71", positive_on=START.date(),
        onset_on=None, now=LATER, rules=CaseRules(timezone="UTC"),
    )  # fmt: skip
    run = await run_exposures(
        db, [case.id], now=LATER, rules=MatchRules(), dry_run=False,
        triggered_by=users["official_16"].id,
    )  # fmt: skip
    await isolate_case(db, case.id, None, now=START, rules=IsolationRules())
    alert = await client.post("/api/me/isolation/emergency", headers=patient["headers"])
    notices = await client.get("/api/me/notifications", headers=visitor["headers"])
    headers = {"anonymous": {}, "visitor": visitor["headers"]}
    for role, user in users.items():
        headers[role] = await bearer_for(db, user)
    ids = {
        "venue_id": str(venue.id),
        "visit_id": str(visit.json()["visit"]["id"]),
        "case_id": str(case.id),
        "run_id": str(run.id),
        "alert_id": str(alert.json()["alert_id"]),
        "id": str(notices.json()[0]["id"]),
        "user_id": str(users["manager_own"].id),
        "issuer_id": str(issuer.id),
        "certificate_id": "1",
        "kid": "unknown-kid",
        "code": venue.code,
        "region_code": "16.71",
        "token": token,
        "language": "en",
        "format": "png",
    }
    return World(headers, ids)
