"""Case status notifications: a lab's pending case and an official's confirmation reach the
person the case is about, in the same transaction, pushed small and in the inbox in two
languages."""

from __future__ import annotations

import json
from datetime import date

import pytest
import sqlalchemy as sa

from exposure.cases import CaseRules, confirm_case, create_case, find_case
from exposure.outbox import Sender, subscribe
from exposure.push import PushEncoder, VapidKeys
from exposure.tables import cases, notifications
from tests.factories import bearer_for, make_user, make_visitor
from tests.pushservice import PushService
from web.accounts import Role

RULES = CaseRules(timezone="Asia/Jakarta")


async def no_venues(db, kind: str, recipient: str) -> list[tuple[str, str]]:
    return []


async def case_notices(db) -> list[tuple[str, str, dict]]:
    rows = await db.fetch_all(
        sa.select(notifications.c.recipient_id, notifications.c.kind, notifications.c.payload)
        .where(notifications.c.kind == "case_status")
        .order_by(notifications.c.id)
    )
    return [(row[0], row[1], json.loads(row[2])) for row in rows]


async def lab_case(db, visitor_ids: list[str], clock) -> int:
    created = await create_case(
        db,
        visitor_ids=visitor_ids,
        region_code="16.71",
        positive_on=date(2026, 11, 21),
        onset_on=None,
        now=clock.now(),
        rules=RULES,
        source="issuer",
    )
    return created.id


async def refuse_case_notices(db) -> None:
    """A trigger that makes writing a case_status notification fail."""
    if db.url.dialect == "postgresql":
        await db.execute(
            sa.text(
                "CREATE FUNCTION refuse_notice() RETURNS trigger AS $$ BEGIN "
                "IF NEW.kind = 'case_status' THEN RAISE EXCEPTION 'refused'; END IF; "
                "RETURN NEW; END $$ LANGUAGE plpgsql"
            )
        )
        await db.execute(
            sa.text(
                "CREATE TRIGGER refuse_notice BEFORE INSERT ON notifications "
                "FOR EACH ROW EXECUTE FUNCTION refuse_notice()"
            )
        )
    else:
        await db.execute(
            sa.text(
                "CREATE TRIGGER refuse_notice BEFORE INSERT ON notifications "
                "WHEN NEW.kind = 'case_status' BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        )


async def test_each_status_is_a_notice_for_the_people_of_the_case(client, db, clock) -> None:
    phone, by_nik = [await make_visitor(client) for _ in range(2)]
    people = [phone["visitor_id"], by_nik["visitor_id"]]
    case_id = await lab_case(db, people, clock)
    pending = {"kind": "case_status", "status": "pending", "positive_on": "2026-11-21"}
    assert await case_notices(db) == [(who, "case_status", pending) for who in people]
    case = await find_case(db, case_id)
    await confirm_case(db, case, clock.now(), confirmed_by=1)
    await confirm_case(db, await find_case(db, case_id), clock.now(), confirmed_by=1)
    confirmed = {**pending, "status": "confirmed"}
    later = sorted((await case_notices(db))[2:], key=lambda notice: notice[0])
    assert later == [(who, "case_status", confirmed) for who in sorted(people)]


async def test_the_notice_and_the_status_change_commit_together(client, db, clock) -> None:
    visitor = await make_visitor(client)
    case_id = await lab_case(db, [visitor["visitor_id"]], clock)
    await refuse_case_notices(db)
    with pytest.raises(Exception, match="refused"):
        await confirm_case(db, await find_case(db, case_id), clock.now(), confirmed_by=1)
    assert (await find_case(db, case_id)).status == "pending"
    with pytest.raises(Exception, match="refused"):
        await lab_case(db, [visitor["visitor_id"]], clock)
    assert await db.fetch_val(sa.select(sa.func.count()).select_from(cases)) == 1


async def test_a_case_status_is_pushed_small_and_shown_in_both_languages(client, db, clock) -> None:
    visitor = await make_visitor(client)
    official = await bearer_for(db, await make_user(db, Role.HEALTH_OFFICIAL, region="16"))
    case_id = await lab_case(db, [visitor["visitor_id"]], clock)
    confirmed = await client.post(f"/api/cases/{case_id}/confirm", headers=official)
    assert confirmed.status_code == 200

    with PushService() as service:
        device = service.device("phone")
        keys = device.keys()
        moment = int(clock.now().timestamp())
        await subscribe(db, "visitor", visitor["visitor_id"], device.endpoint, **keys, now=moment)
        encoder = PushEncoder(VapidKeys.generate(), "mailto:ops@singgah.example")
        sender = Sender(db, encoder, no_venues, clock.now)
        try:
            assert await sender.run_until_idle() == {"delivered": 2}
        finally:
            await sender.aclose()
    pushed = sorted(service.payloads("phone"), key=lambda p: p["id"])
    assert [{k: v for k, v in p.items() if k != "id"} for p in pushed] == [
        {"kind": "case_status", "url": "/alerts", "status": "pending"},
        {"kind": "case_status", "url": "/alerts", "status": "confirmed"},
    ]
    assert {r.headers["urgency"] for r in service.received} == {"high"}

    titles = {}
    for language in ("id", "en"):
        inbox = await client.get(
            "/api/me/notifications",
            headers={**visitor["headers"], "accept-language": language},
        )
        titles[language] = [n["title"] for n in inbox.json() if n["kind"] == "case_status"]
    assert titles == {
        "id": [
            "Petugas kesehatan mengonfirmasi kasus positif Anda: mulai isolasi",
            "Hasil positif Anda dari laboratorium tercatat; petugas kesehatan akan mengonfirmasi",
        ],
        "en": [
            "A health official confirmed your positive case: start isolating",
            "Your positive result from a lab was recorded; a health official will confirm it",
        ],
    }
    page = await client.get("/alerts", headers={**visitor["headers"], "accept-language": "en"})
    assert "Your positive case is confirmed." in page.text
    assert "Test date: 2026-11-21" in page.text
