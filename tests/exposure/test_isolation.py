"""Isolation monitoring: placement, daily reports, missed reports, danger signs, emergencies,
health contacts and officials' regions."""

from dataclasses import replace
from datetime import date

import sqlalchemy as sa

from checkin.tables import travellers
from exposure.isolation import (
    DailyReport,
    IsolationRules,
    danger_signs,
    delete_isolation_before,
    queue_reminders,
)
from exposure.tables import isolation_alerts, isolations, notifications
from tests.exposure.test_exposure_api import world
from tests.factories import START, bearer_for, make_user, make_venue, make_visitor
from venues.registry import VenueKind
from web.accounts import Role, audit_entries
from web.jobs import run_jobs_once

HEALTHY = {"symptoms": ["cough"], "temperature": 37.2, "spo2": 98, "at_home": True}


async def isolated_case(client, db, region="16.71", facility_id=None):
    """A visitor who is a confirmed case in ``region``, placed in isolation by an official of
    Sumatera Selatan (16); returns the visitor, the official's headers and the isolation."""
    person = await make_visitor(client)
    await client.put("/api/me/profile", headers=person["headers"], json={"phone": "081234567890"})
    official = await bearer_for(db, await make_user(db, Role.HEALTH_OFFICIAL, region="16"))
    case = await client.post(
        "/api/cases",
        headers=official,
        json={"visitor_id": person["visitor_id"], "positive_on": "2026-11-22",
              "region_code": region},
    )  # fmt: skip
    body = {"case_id": case.json()["id"]}
    if facility_id is not None:
        body["facility_id"] = facility_id
    placed = await client.post("/api/isolations", headers=official, json=body)
    assert placed.status_code == 201, placed.text
    return person, official, placed.json()[0]


def test_danger_signs_are_breathlessness_low_oxygen_and_high_fever() -> None:
    rules = IsolationRules(spo2_danger=94)
    assert danger_signs(DailyReport(symptoms=("cough",), temperature=38.9, spo2=94), rules) == []
    assert danger_signs(
        DailyReport(symptoms=("shortness_of_breath",), temperature=39.0, spo2=93), rules
    ) == ["shortness_of_breath", "low_spo2", "high_fever"]
    assert danger_signs(DailyReport(spo2=93), IsolationRules(spo2_danger=90)) == []


async def test_a_case_is_placed_for_the_configured_days_once(client, db) -> None:
    person, official, isolation = await isolated_case(client, db)
    assert isolation["reason"] == "case" and isolation["region_code"] == "16.71"
    assert (isolation["starts_on"], isolation["ends_on"]) == ("2026-11-22", "2026-12-05")

    again = await client.post(
        "/api/isolations", headers=official, json={"case_id": isolation["id"]}
    )
    assert again.json()[0]["id"] == isolation["id"]
    assert await db.fetch_val(sa.select(sa.func.count()).select_from(isolations)) == 1
    mine = (await client.get("/api/me/isolation", headers=person["headers"])).json()
    assert mine["isolation"]["id"] == isolation["id"]
    assert mine["active"] is True and mine["reported_today"] is False
    assert mine["emergency_number"] == "119"
    audit = await audit_entries(db)
    assert audit[0]["action"] == "isolation_placed"
    assert audit[0]["details"]["isolations"] == [isolation["id"]]


async def test_close_contacts_of_a_run_and_travellers_are_placed(client, db, kek, clock) -> None:
    people = await world(client, db, kek, clock)
    official = await bearer_for(db, await make_user(db, Role.HEALTH_OFFICIAL, region="16"))
    case = await client.post(
        "/api/cases",
        headers=official,
        json={"visitor_id": people["case"]["visitor_id"], "positive_on": "2026-11-23"},
    )
    run = await client.post(
        "/api/exposure-runs",
        headers=official,
        json={"case_ids": [case.json()["id"]], "dry_run": False},
    )
    placed = await client.post(
        "/api/isolations", headers=official, json={"run_id": run.json()["id"]}
    )
    assert [i["reason"] for i in placed.json()] == ["contact"]
    # The contact's last exposure was on 22 November (WIB); 14 days from then.
    assert placed.json()[0]["starts_on"] == "2026-11-22"
    assert placed.json()[0]["ends_on"] == "2026-12-05"
    mine = (await client.get("/api/me/isolation", headers=people["close"]["headers"])).json()
    assert mine["isolation"]["reason"] == "contact"
    assert (await client.get("/api/me/isolation", headers=people["low"]["headers"])).json()[
        "isolation"
    ] is None

    checkpoint = await make_venue(db, kek, kind=VenueKind.BORDER_CHECKPOINT, region_code="16.71")
    traveller_id = await db.fetch_val(
        sa.insert(travellers)
        .values(
            visitor_id=people["stranger"]["visitor_id"],
            checkpoint_id=checkpoint.id,
            destination_region_code="31.71",
            mode="road",
            details_sealed=b"sealed",
            details_key_id="k1",
            registered_at=int(START.timestamp()),
        )
        .returning(travellers.c.id)
    )
    refused = await client.post(
        "/api/isolations", headers=official, json={"traveller_id": traveller_id}
    )
    assert refused.status_code == 404
    jakarta = await bearer_for(db, await make_user(db, Role.HEALTH_OFFICIAL, region="31"))
    placed = await client.post(
        "/api/isolations", headers=jakarta, json={"traveller_id": traveller_id}
    )
    assert placed.status_code == 201
    assert placed.json()[0]["reason"] == "traveller"
    assert placed.json()[0]["region_code"] == "31.71"


async def test_a_rule_isolates_close_contacts_of_every_confirmed_run(
    app, client, db, kek, clock
) -> None:
    app.state.settings = replace(app.state.settings, isolate_close_contacts=True, isolation_days=10)
    people = await world(client, db, kek, clock)
    official = await bearer_for(db, await make_user(db, Role.HEALTH_OFFICIAL, region="16"))
    case = await client.post(
        "/api/cases",
        headers=official,
        json={"visitor_id": people["case"]["visitor_id"], "positive_on": "2026-11-23"},
    )
    await client.post(
        "/api/exposure-runs",
        headers=official,
        json={"case_ids": [case.json()["id"]], "dry_run": True},
    )
    assert await db.fetch_val(sa.select(sa.func.count()).select_from(isolations)) == 0
    await client.post(
        "/api/exposure-runs",
        headers=official,
        json={"case_ids": [case.json()["id"]], "dry_run": False},
    )
    mine = (await client.get("/api/me/isolation", headers=people["close"]["headers"])).json()
    assert mine["isolation"]["ends_on"] == "2026-12-01"


async def test_daily_reports_and_missed_reports_follow_the_clock(client, db, clock) -> None:
    person, official, isolation = await isolated_case(client, db)
    listed = (await client.get("/api/isolations", headers=official)).json()
    assert [(p["id"], p["report_missing"]) for p in listed] == [(isolation["id"], True)]

    sent = await client.post("/api/me/isolation/reports", headers=person["headers"], json=HEALTHY)
    assert sent.status_code == 201 and sent.json() == {"danger_signs": []}
    listed = (await client.get("/api/isolations", headers=official)).json()
    assert listed[0]["report_missing"] is False and listed[0]["last_report_on"] == "2026-11-22"
    assert listed[0]["symptoms_flagged"] == 0 and listed[0]["ending_soon"] is False
    assert (await client.get("/api/me/isolation", headers=person["headers"])).json()[
        "reported_today"
    ]

    clock.advance(days=1)
    listed = (await client.get("/api/isolations", headers=official)).json()
    assert listed[0]["report_missing"] is True and listed[0]["last_report_on"] == "2026-11-22"

    clock.advance(days=12)  # 5 December, the last day
    assert (await client.get("/api/isolations", headers=official)).json()[0]["ending_soon"]
    clock.advance(days=1)
    assert (await client.get("/api/isolations", headers=official)).json() == []
    late = await client.post("/api/me/isolation/reports", headers=person["headers"], json=HEALTHY)
    assert late.status_code == 404


async def test_bad_reports_are_refused(client, db) -> None:
    person, _, _ = await isolated_case(client, db)
    for body in (
        {**HEALTHY, "symptoms": ["hiccups"]},
        {**HEALTHY, "spo2": 120},
        {"symptoms": []},
        {**HEALTHY, "extra": 1},
    ):
        refused = await client.post(
            "/api/me/isolation/reports", headers=person["headers"], json=body
        )
        assert refused.status_code == 422, body
    stranger = await make_visitor(client)
    outside = await client.post(
        "/api/me/isolation/reports", headers=stranger["headers"], json=HEALTHY
    )
    assert outside.status_code == 404


async def test_danger_signs_are_flagged_at_once_to_the_facility(client, db, kek) -> None:
    facility = await make_venue(db, kek, kind=VenueKind.HEALTH_FACILITY, region_code="16.71")
    person, official, isolation = await isolated_case(client, db, facility_id=facility.id)
    assert isolation["facility_id"] == facility.id
    sent = await client.post(
        "/api/me/isolation/reports",
        headers=person["headers"],
        json={**HEALTHY, "spo2": 91, "needs": ["food"]},
    )
    assert sent.json() == {"danger_signs": ["low_spo2"]}
    listed = (await client.get("/api/isolations", headers=official)).json()
    assert listed[0]["symptoms_flagged"] == 1
    assert listed[0]["facility_name"] == facility.name
    alerts = (await client.get("/api/isolation-alerts", headers=official)).json()
    assert [(a["kind"], a["details"], a["contact"]) for a in alerts] == [
        ("danger", {"signs": ["low_spo2"]}, None)
    ]
    notice = await db.fetch_one(
        sa.select(notifications).where(notifications.c.kind == "isolation_alert")
    )
    assert (notice["recipient_kind"], notice["recipient_id"]) == ("facility", str(facility.id))


async def test_a_non_facility_venue_cannot_be_assigned(client, db, kek) -> None:
    mall = await make_venue(db, kek, kind=VenueKind.MALL, region_code="16.71")
    person = await make_visitor(client)
    official = await bearer_for(db, await make_user(db, Role.HEALTH_OFFICIAL, region="16"))
    case = await client.post(
        "/api/cases",
        headers=official,
        json={"visitor_id": person["visitor_id"], "positive_on": "2026-11-22"},
    )
    refused = await client.post(
        "/api/isolations", headers=official, json={"case_id": case.json()["id"],
                                                   "facility_id": mall.id}
    )  # fmt: skip
    assert refused.status_code == 422
    assert refused.json()["type"].endswith("invalid-isolation")


async def test_the_emergency_button_alerts_with_sealed_contact_data(client, db) -> None:
    person, official, _ = await isolated_case(client, db)
    pressed = await client.post("/api/me/isolation/emergency", headers=person["headers"])
    assert pressed.status_code == 201
    assert pressed.json()["emergency_number"] == "119"
    sealed = await db.fetch_val(sa.select(isolation_alerts.c.contact_sealed))
    assert b"6281234567890" not in bytes(sealed)

    alerts = (await client.get("/api/isolation-alerts", headers=official)).json()
    assert alerts[0]["kind"] == "emergency"
    assert alerts[0]["contact"] == {"name": None, "phone": "+6281234567890"}
    audit = await audit_entries(db)
    assert audit[0]["action"] == "isolation_alerts_viewed"
    assert "6281234567890" not in str(audit)
    listed = (await client.get("/api/isolations", headers=official)).json()
    assert listed[0]["emergencies"] == 1

    alert_id = alerts[0]["id"]
    acked = await client.post(f"/api/isolation-alerts/{alert_id}/acknowledge", headers=official)
    assert acked.status_code == 204
    assert (await client.get("/api/isolation-alerts", headers=official)).json()[0]["acknowledged"]
    resolved = await client.post(f"/api/isolation-alerts/{alert_id}/resolve", headers=official)
    assert resolved.status_code == 204
    assert (await client.get("/api/isolation-alerts", headers=official)).json() == []
    assert (await client.get("/api/isolations", headers=official)).json()[0]["emergencies"] == 0


async def test_officials_see_only_their_region(client, db) -> None:
    _, palembang, isolation = await isolated_case(client, db, region="16.71")
    person = (await isolated_case(client, db, region="16.72"))[0]
    await client.post("/api/me/isolation/emergency", headers=person["headers"])
    city = await bearer_for(db, await make_user(db, Role.HEALTH_OFFICIAL, region="16.71"))
    assert [p["id"] for p in (await client.get("/api/isolations", headers=city)).json()] == [
        isolation["id"]
    ]
    assert (await client.get("/api/isolation-alerts", headers=city)).json() == []
    everyone = (await client.get("/api/isolations", headers=palembang)).json()
    assert len(everyone) == 2
    alert_id = (await client.get("/api/isolation-alerts", headers=palembang)).json()[0]["id"]
    refused = await client.post(f"/api/isolation-alerts/{alert_id}/resolve", headers=city)
    assert refused.status_code == 404
    jakarta = await bearer_for(db, await make_user(db, Role.HEALTH_OFFICIAL, region="31"))
    assert (await client.get("/api/isolations", headers=jakarta)).json() == []
    other = await client.post("/api/isolations", headers=jakarta, json={"case_id": 1})
    assert other.status_code == 404
    manager = await bearer_for(db, await make_user(db, Role.VENUE_MANAGER))
    assert (await client.get("/api/isolations", headers=manager)).status_code == 403


async def test_csv_export_is_audited(client, db) -> None:
    _, official, isolation = await isolated_case(client, db)
    exported = await client.get("/api/isolations.csv", headers=official)
    assert exported.status_code == 200
    lines = exported.text.splitlines()
    assert lines[0].startswith("id,reason,region_code")
    assert lines[1].startswith(f"{isolation['id']},case,16.71")
    entry = (await audit_entries(db))[0]
    assert entry["action"] == "isolations_exported" and entry["details"]["rows"] == 1


async def test_the_most_specific_health_contact_is_the_persons(client, db) -> None:
    person, official, _ = await isolated_case(client, db, region="16.71")
    assert (await client.get("/api/me/isolation", headers=person["headers"])).json()[
        "health_contact"
    ] is None
    province = {"name": "Dinkes Sumsel", "phone": "0711123456", "hours": "24 jam"}
    saved = await client.put("/api/health-contacts/16", headers=official, json=province)
    assert saved.status_code == 200
    got = (await client.get("/api/me/isolation", headers=person["headers"])).json()
    assert got["health_contact"]["name"] == "Dinkes Sumsel"
    village = {"name": "Puskesmas Ilir Barat", "phone": "0711654321", "hours": "08-16"}
    await client.put("/api/health-contacts/16.71", headers=official, json=village)
    await client.put("/api/health-contacts/16.72", headers=official, json={**village, "name": "X"})
    got = (await client.get("/api/me/isolation", headers=person["headers"])).json()
    assert got["health_contact"] == {"region_code": "16.71", **village}
    listed = (await client.get("/api/health-contacts", headers=official)).json()
    assert [c["region_code"] for c in listed] == ["16", "16.71", "16.72"]

    jakarta = await bearer_for(db, await make_user(db, Role.HEALTH_OFFICIAL, region="31"))
    refused = await client.put("/api/health-contacts/16.71", headers=jakarta, json=village)
    assert refused.status_code == 403
    gone = await client.delete("/api/health-contacts/16.71", headers=official)
    assert gone.status_code == 204
    assert (await client.delete("/api/health-contacts/16.71", headers=official)).status_code == 404
    got = (await client.get("/api/me/isolation", headers=person["headers"])).json()
    assert got["health_contact"]["region_code"] == "16"


async def test_the_job_reminds_once_a_day_until_the_report_is_in(
    client, db, clock, settings
) -> None:
    person, _, isolation = await isolated_case(client, db)

    async def reminders() -> list[str]:
        rows = await db.fetch_all(
            sa.select(notifications.c.dedupe_key).where(
                notifications.c.kind == "isolation_reminder"
            )
        )
        return sorted(r[0] for r in rows)

    assert (await run_jobs_once(db, clock, settings))["isolation_reminders"] == 1
    await run_jobs_once(db, clock, settings)
    assert await reminders() == [f"isolation_reminder:{person['visitor_id']}:2026-11-22"]
    inbox = (await client.get("/api/me/notifications", headers=person["headers"])).json()
    assert inbox[0]["payload"]["isolation_id"] == isolation["id"]
    await client.post("/api/me/isolation/reports", headers=person["headers"], json=HEALTHY)
    clock.advance(days=1)
    await client.post("/api/me/isolation/reports", headers=person["headers"], json=HEALTHY)
    assert await queue_reminders(db, clock.now(), IsolationRules()) == 0
    assert len(await reminders()) == 1


async def test_retention_deletes_ended_isolations_with_their_data(client, db, clock) -> None:
    person, _, isolation = await isolated_case(client, db)
    await client.post("/api/me/isolation/emergency", headers=person["headers"])
    assert await delete_isolation_before(db, START) == 0
    ended_after = START.replace(year=2026, month=12, day=6)
    assert await delete_isolation_before(db, ended_after) == 1
    assert await db.fetch_val(sa.select(sa.func.count()).select_from(isolation_alerts)) == 0
    assert await db.fetch_val(sa.select(sa.func.count()).select_from(isolations)) == 0
    assert date.fromisoformat(isolation["ends_on"]) < ended_after.date()
