"""Positive cases: who they are (visitors), where (a region, for officials' scope), and when
they were infectious.

The infectious window starts ``days_before`` days (2 by default) before symptom onset, or before
the positive test without symptoms, at midnight in the configured time zone, and never before the
look-back (14 days). It ends when the case is registered (isolation starts). A case from an
official is confirmed at once; one from an accredited lab is pending until an official confirms.
Each status a case takes is a ``case_status`` notification to the people it is about, written
in the same transaction as the status.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from databases import Database

from certificates.colour import CaseStatus, ColourRules
from checkin.tables import visitors
from checkin.visitors import PersonalDataKeys
from checkin.wallet import PROFILE_AND_CERTIFICATES, VisitorStatus, status_from_rows
from exposure.errors import CaseNotConfirmed, CaseNotFound, InvalidCase
from exposure.outbox import queue_notifications
from exposure.tables import case_people, cases, exposures


@dataclass(frozen=True)
class CaseRules:
    days_before: int = 2
    lookback_days: int = 14
    timezone: str = "Asia/Jakarta"


@dataclass(frozen=True)
class Case:
    id: int
    region_code: str
    positive_on: date
    onset_on: date | None
    window_start: int
    window_end: int
    status: str
    source: str
    created_at: int
    people: tuple[str, ...] = ()

    def public(self) -> dict[str, Any]:
        from checkin.visits import iso

        return {
            "id": self.id,
            "status": self.status,
            "source": self.source,
            "region_code": self.region_code,
            "positive_on": self.positive_on.isoformat(),
            "onset_on": self.onset_on.isoformat() if self.onset_on else None,
            "window": {"start": iso(self.window_start), "end": iso(self.window_end)},
            "people": len(self.people),
        }


def infectious_window(
    positive_on: date, onset_on: date | None, now: datetime, rules: CaseRules
) -> tuple[int, int]:
    """(start, end) in epoch seconds; `InvalidCase` for dates that cannot be."""
    today = now.astimezone(ZoneInfo(rules.timezone)).date()
    if positive_on > today:
        raise InvalidCase("the positive result date is in the future")
    if onset_on is not None and onset_on > today:
        raise InvalidCase("the symptom onset date is in the future")
    if positive_on < today - timedelta(days=rules.lookback_days):
        raise InvalidCase(
            f"the positive result is older than the {rules.lookback_days}-day look-back"
        )
    first_day = (onset_on or positive_on) - timedelta(days=rules.days_before)
    start = datetime.combine(first_day, time(0), ZoneInfo(rules.timezone))
    earliest = now - timedelta(days=rules.lookback_days)
    end = int(now.timestamp())
    window_start = int(max(start, earliest).timestamp())
    if window_start >= end:
        raise InvalidCase(f"the infectious window is older than {rules.lookback_days} days")
    return window_start, end


async def create_case(
    db: Database,
    *,
    visitor_ids: list[str],
    region_code: str,
    positive_on: date,
    onset_on: date | None,
    now: datetime,
    rules: CaseRules,
    source: str = "official",
    created_by: int | None = None,
) -> Case:
    """A case for the person behind ``visitor_ids`` (one person may have several: a phone and a
    staff-assisted record found by NIK). Confirmed when an official registers it."""
    start, end = infectious_window(positive_on, onset_on, now, rules)
    status = "confirmed" if source == "official" else "pending"
    moment = int(now.timestamp())
    async with db.transaction():
        case_id = await db.fetch_val(
            sa.insert(cases)
            .values(
                region_code=region_code,
                positive_on=positive_on.isoformat(),
                onset_on=onset_on.isoformat() if onset_on else None,
                window_start=start,
                window_end=end,
                status=status,
                source=source,
                created_at=moment,
                created_by=created_by,
                confirmed_at=moment if status == "confirmed" else None,
                confirmed_by=created_by if status == "confirmed" else None,
            )
            .returning(cases.c.id)
        )
        for visitor_id in dict.fromkeys(visitor_ids):
            await db.execute(sa.insert(case_people).values(case_id=case_id, visitor_id=visitor_id))
        await queue_status_notices(db, case_id, status, positive_on, visitor_ids, moment)
    return Case(
        case_id,
        region_code,
        positive_on,
        onset_on,
        start,
        end,
        status,
        source,
        moment,
        tuple(dict.fromkeys(visitor_ids)),
    )


def _case(row: Any, people: tuple[str, ...]) -> Case:
    return Case(
        id=row["id"],
        region_code=row["region_code"],
        positive_on=date.fromisoformat(row["positive_on"]),
        onset_on=date.fromisoformat(row["onset_on"]) if row["onset_on"] else None,
        window_start=row["window_start"],
        window_end=row["window_end"],
        status=row["status"],
        source=row["source"],
        created_at=row["created_at"],
        people=people,
    )


def in_region(column: sa.ColumnElement[str], prefix: str | None) -> sa.ColumnElement[bool]:
    """``column`` is the region ``prefix`` or inside it; no prefix means everywhere."""
    if prefix is None:
        return sa.true()
    return sa.or_(column == prefix, column.like(prefix + ".%"))


async def find_case(db: Database, case_id: int, region_prefix: str | None = None) -> Case:
    """The case, if it is inside ``region_prefix`` (the official's scope, in the query)."""
    row = await db.fetch_one(
        sa.select(cases).where(cases.c.id == case_id, in_region(cases.c.region_code, region_prefix))
    )
    if row is None:
        raise CaseNotFound(f"there is no case {case_id} in your region")
    people = await db.fetch_all(
        sa.select(case_people.c.visitor_id).where(case_people.c.case_id == case_id)
    )
    return _case(row, tuple(p[0] for p in people))


async def list_cases(
    db: Database, region_prefix: str | None, status: str | None = None
) -> list[Case]:
    query = (
        sa.select(cases)
        .where(in_region(cases.c.region_code, region_prefix))
        .order_by(cases.c.created_at.desc(), cases.c.id.desc())
    )
    if status:
        query = query.where(cases.c.status == status)
    rows = await db.fetch_all(query)
    people: dict[int, list[str]] = {}
    if rows:
        for link in await db.fetch_all(
            sa.select(case_people).where(case_people.c.case_id.in_([row["id"] for row in rows]))
        ):
            people.setdefault(link["case_id"], []).append(link["visitor_id"])
    return [_case(row, tuple(people.get(row["id"], ()))) for row in rows]


async def confirm_case(db: Database, case: Case, now: datetime, confirmed_by: int) -> Case:
    if case.status == "confirmed":
        return case
    moment = int(now.timestamp())
    async with db.transaction():
        await db.execute(
            sa.update(cases)
            .where(cases.c.id == case.id)
            .values(status="confirmed", confirmed_at=moment, confirmed_by=confirmed_by)
        )
        await queue_status_notices(
            db, case.id, "confirmed", case.positive_on, list(case.people), moment
        )
    return Case(**{**case.__dict__, "status": "confirmed"})


async def queue_status_notices(
    db: Database,
    case_id: int,
    status: str,
    positive_on: date,
    visitor_ids: list[str],
    now: int,
) -> None:
    """Tell the people a case is about that it now has ``status`` (pending: a lab reported a
    positive result; confirmed: an official did or confirmed it). Once per case, status and
    person. The payload holds the status and the test date only."""
    await queue_notifications(
        db,
        [
            {
                "recipient_kind": "visitor",
                "recipient_id": visitor_id,
                "kind": "case_status",
                "payload": json.dumps(
                    {
                        "kind": "case_status",
                        "status": status,
                        "positive_on": positive_on.isoformat(),
                    },
                    sort_keys=True,
                ),
                "dedupe_key": f"case_status:{case_id}:{status}:{visitor_id}",
                "created_at": now,
            }
            for visitor_id in dict.fromkeys(visitor_ids)
        ],
    )


def require_confirmed(found: list[Case]) -> None:
    pending = [case.id for case in found if case.status != "confirmed"]
    if pending:
        raise CaseNotConfirmed(f"confirm these cases before running exposures: {pending}")


async def visitors_by_hash(db: Database, column: str, value_hash: str) -> list[str]:
    rows = await db.fetch_all(
        sa.select(visitors.c.id).where(visitors.c[column] == value_hash).order_by(visitors.c.id)
    )
    return [row[0] for row in rows]


# The door decision of every check-in reads these: built once.
POSITIVE_ON = (
    sa.select(sa.func.max(cases.c.positive_on))
    .select_from(cases.join(case_people, case_people.c.case_id == cases.c.id))
    .where(case_people.c.visitor_id == sa.bindparam("visitor_id"), cases.c.status == "confirmed")
    .scalar_subquery()
    .label("positive")
)
CLOSE_CONTACT_AT = (
    sa.select(sa.func.max(exposures.c.last_exposed_at))
    .where(
        exposures.c.visitor_id == sa.bindparam("visitor_id"),
        exposures.c.risk == "close",
        exposures.c.last_exposed_at >= sa.bindparam("since"),
    )
    .scalar_subquery()
    .label("contact")
)
CASE_STATUS = sa.select(POSITIVE_ON, CLOSE_CONTACT_AT)
# The whole door in one read: the wallet's profile and certificates rows, each with the case
# columns (uncorrelated subqueries: computed once per statement, not per row).
DOOR_FACTS = PROFILE_AND_CERTIFICATES.add_columns(POSITIVE_ON, CLOSE_CONTACT_AT)


def _case_status(row: Any) -> CaseStatus:
    positive, contact = row["positive"], row["contact"]
    return CaseStatus(
        positive_at=datetime.combine(date.fromisoformat(positive), time(0), UTC)
        if positive
        else None,
        close_contact_at=datetime.fromtimestamp(contact, UTC) if contact else None,
    )


async def case_status(db: Database, visitor_id: str, now: datetime, days: int = 14) -> CaseStatus:
    """What the door colour needs from cases and exposures: the latest confirmed positive
    result and the latest close-contact exposure within ``days``."""
    row = await db.fetch_one(CASE_STATUS, {"visitor_id": visitor_id, "since": _since(now, days)})
    return _case_status(row)


async def door_status(
    db: Database, keys: PersonalDataKeys, visitor_id: str, now: datetime, rules: ColourRules
) -> VisitorStatus:
    """The visitor's colour now, from their certificates and what is known of cases and
    exposures (`case_status`), in one read: every check-in's door decision makes it."""
    values = {"visitor_id": visitor_id, "since": _since(now, rules.close_contact_days)}
    rows = await db.fetch_all(DOOR_FACTS, values)
    case = _case_status(rows[0]) if rows else CaseStatus(positive_at=None, close_contact_at=None)
    return status_from_rows(keys, visitor_id, rows, now, rules, case)


def _since(now: datetime, days: int) -> int:
    return int((now - timedelta(days=days)).timestamp())
