"""Isolation monitoring: who isolates, their daily reports, alerts, and the region's health contact.

A confirmed case, a close contact or an arriving traveller is placed in isolation for a period of
days (inclusive dates, in the configured time zone) in a region: the case's region, the exposure
venue's region or the traveller's destination. That region is the official's scope, and it picks
the person's health contact: the most specific region contact covering it. A health facility (a
venue of kind ``health_facility``) may be assigned; its officials are those whose region covers
the facility.

Every day of the period the person gets a reminder and fills a short report. Danger signs
(shortness of breath, low oxygen saturation, high fever) raise an alert at once, as does the
emergency button; an emergency alert carries the person's contact data, sealed. Alerts are
acknowledged and resolved by officials. Reminders and alerts go through the notification outbox.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from databases import Database

from checkin.tables import travellers
from checkin.visitors import PersonalDataKeys, read_profile, seal_json, unseal_json
from exposure.cases import find_case, in_region
from exposure.errors import InvalidIsolation, IsolationAlertNotFound, IsolationNotFound
from exposure.outbox import queue_notifications
from exposure.tables import (
    case_people,
    cases,
    exposures,
    health_contacts,
    isolation_alerts,
    isolation_reports,
    isolations,
)
from venues.registry import VenueKind
from venues.tables import venues

SYMPTOMS = (
    "fever",
    "cough",
    "shortness_of_breath",
    "loss_of_smell_or_taste",
    "sore_throat",
    "headache",
    "fatigue",
    "diarrhoea",
)
NEEDS = ("food", "medicine", "other")
REASONS = ("case", "contact", "traveller")
FEVER_DANGER = 39.0  # degrees Celsius: a high fever is a danger sign
ENDING_SOON_DAYS = 2


@dataclass(frozen=True)
class IsolationRules:
    days: int = 14
    spo2_danger: int = 94
    timezone: str = "Asia/Jakarta"

    def today(self, now: datetime) -> date:
        return now.astimezone(ZoneInfo(self.timezone)).date()


@dataclass(frozen=True)
class Isolation:
    id: int
    visitor_id: str
    reason: str
    region_code: str
    facility_venue_id: int | None
    starts_on: date
    ends_on: date

    def is_active(self, today: date) -> bool:
        return self.starts_on <= today <= self.ends_on

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "reason": self.reason,
            "region_code": self.region_code,
            "facility_id": self.facility_venue_id,
            "starts_on": self.starts_on.isoformat(),
            "ends_on": self.ends_on.isoformat(),
        }


@dataclass(frozen=True)
class DailyReport:
    symptoms: tuple[str, ...] = ()
    temperature: float | None = None
    spo2: int | None = None
    at_home: bool = True
    needs: tuple[str, ...] = ()


@dataclass(frozen=True)
class HealthContact:
    region_code: str
    name: str
    phone: str
    hours: str

    def public(self) -> dict[str, str]:
        return {"region_code": self.region_code, "name": self.name, "phone": self.phone,
                "hours": self.hours}  # fmt: skip


@dataclass(frozen=True)
class MonitoredPerson:
    """One isolation as an official's list shows it, with what needs their attention."""

    isolation: Isolation
    facility_name: str | None
    last_report_on: date | None
    report_missing: bool
    open_alerts: dict[str, int] = field(default_factory=dict)
    ending_soon: bool = False

    def public(self) -> dict[str, Any]:
        return {
            **self.isolation.public(),
            "visitor_id": self.isolation.visitor_id,
            "facility_name": self.facility_name,
            "last_report_on": self.last_report_on.isoformat() if self.last_report_on else None,
            "report_missing": self.report_missing,
            "symptoms_flagged": self.open_alerts.get("danger", 0),
            "emergencies": self.open_alerts.get("emergency", 0),
            "ending_soon": self.ending_soon,
        }


def danger_signs(report: DailyReport, rules: IsolationRules) -> list[str]:
    """The report's danger signs, each a stable slug; empty when there are none."""
    signs = []
    if "shortness_of_breath" in report.symptoms:
        signs.append("shortness_of_breath")
    if report.spo2 is not None and report.spo2 < rules.spo2_danger:
        signs.append("low_spo2")
    if report.temperature is not None and report.temperature >= FEVER_DANGER:
        signs.append("high_fever")
    return signs


def checked_report(report: DailyReport) -> DailyReport:
    unknown = set(report.symptoms) - set(SYMPTOMS) | set(report.needs) - set(NEEDS)
    if unknown:
        raise InvalidIsolation(f"unknown symptoms or needs: {sorted(unknown)}")
    if report.temperature is not None and not 30 <= report.temperature <= 45:
        raise InvalidIsolation("the temperature must be between 30 and 45 °C")
    if report.spo2 is not None and not 50 <= report.spo2 <= 100:
        raise InvalidIsolation("the oxygen saturation must be between 50 and 100 %")
    return report


def _isolation(row: Any) -> Isolation:
    return Isolation(
        id=row["id"],
        visitor_id=row["visitor_id"],
        reason=row["reason"],
        region_code=row["region_code"],
        facility_venue_id=row["facility_venue_id"],
        starts_on=date.fromisoformat(row["starts_on"]),
        ends_on=date.fromisoformat(row["ends_on"]),
    )


async def _check_facility(db: Database, facility_id: int | None) -> None:
    if facility_id is None:
        return
    kind = await db.fetch_val(sa.select(venues.c.kind).where(venues.c.id == facility_id))
    if kind != VenueKind.HEALTH_FACILITY:
        raise InvalidIsolation(f"venue {facility_id} is not a health facility")


async def place_in_isolation(
    db: Database,
    *,
    visitor_id: str,
    reason: str,
    region_code: str,
    starts_on: date,
    days: int,
    now: datetime,
    facility_id: int | None = None,
    created_by: int | None = None,
) -> Isolation:
    """Isolate the person from ``starts_on`` for ``days`` days. Someone already isolating over
    that period keeps their isolation, lengthened if the new one ends later: placing twice (a
    re-run, a second official) never makes two."""
    if reason not in REASONS:
        raise InvalidIsolation(f"the reason must be one of {REASONS}")
    if not 1 <= days <= 60:
        raise InvalidIsolation("an isolation lasts 1 to 60 days")
    await _check_facility(db, facility_id)
    ends_on = starts_on + timedelta(days=days - 1)
    current = await db.fetch_one(
        sa.select(isolations)
        .where(
            isolations.c.visitor_id == visitor_id,
            isolations.c.ends_on >= starts_on.isoformat(),
            isolations.c.starts_on <= ends_on.isoformat(),
        )
        .order_by(isolations.c.ends_on.desc())
        .limit(1)
    )
    if current is not None:
        found = _isolation(current)
        changes: dict[str, Any] = {}
        if ends_on > found.ends_on:
            changes["ends_on"] = ends_on.isoformat()
        if facility_id is not None and found.facility_venue_id is None:
            changes["facility_venue_id"] = facility_id
        if changes:
            await db.execute(
                sa.update(isolations).where(isolations.c.id == found.id).values(**changes)
            )
        return await find_isolation(db, found.id)
    isolation_id = await db.fetch_val(
        sa.insert(isolations)
        .values(
            visitor_id=visitor_id,
            reason=reason,
            region_code=region_code,
            facility_venue_id=facility_id,
            starts_on=starts_on.isoformat(),
            ends_on=ends_on.isoformat(),
            created_at=int(now.timestamp()),
            created_by=created_by,
        )
        .returning(isolations.c.id)
    )
    return await find_isolation(db, isolation_id)


async def isolate_case(
    db: Database,
    case_id: int,
    region_prefix: str | None,
    *,
    now: datetime,
    rules: IsolationRules,
    facility_id: int | None = None,
    created_by: int | None = None,
) -> list[Isolation]:
    """Everyone the case is (inside the official's region), from today."""
    case = await find_case(db, case_id, region_prefix)
    return [
        await place_in_isolation(
            db,
            visitor_id=visitor_id,
            reason="case",
            region_code=case.region_code,
            starts_on=rules.today(now),
            days=rules.days,
            now=now,
            facility_id=facility_id,
            created_by=created_by,
        )
        for visitor_id in case.people
    ]


async def isolate_run_contacts(
    db: Database,
    run_id: int,
    region_prefix: str | None,
    *,
    now: datetime,
    rules: IsolationRules,
    facility_id: int | None = None,
    created_by: int | None = None,
) -> list[Isolation]:
    """The run's close contacts at venues inside ``region_prefix``, each from the day of their
    last exposure, in the venue's region."""
    zone = ZoneInfo(rules.timezone)
    rows = await db.fetch_all(
        sa.select(
            exposures.c.visitor_id,
            venues.c.region_code,
            sa.func.max(exposures.c.last_exposed_at).label("last"),
        )
        .select_from(exposures.join(venues, venues.c.id == exposures.c.venue_id))
        .where(
            exposures.c.run_id == run_id,
            exposures.c.risk == "close",
            in_region(venues.c.region_code, region_prefix),
        )
        .group_by(exposures.c.visitor_id, venues.c.region_code)
        .order_by(exposures.c.visitor_id)
    )
    return [
        await place_in_isolation(
            db,
            visitor_id=row["visitor_id"],
            reason="contact",
            region_code=row["region_code"],
            starts_on=datetime.fromtimestamp(row["last"], zone).date(),
            days=rules.days,
            now=now,
            facility_id=facility_id,
            created_by=created_by,
        )
        for row in rows
    ]


async def isolate_traveller(
    db: Database,
    traveller_id: int,
    region_prefix: str | None,
    *,
    now: datetime,
    rules: IsolationRules,
    facility_id: int | None = None,
    created_by: int | None = None,
) -> Isolation:
    """A traveller bound for the official's region, from today, in their destination."""
    row = await db.fetch_one(
        sa.select(travellers.c.visitor_id, travellers.c.destination_region_code).where(
            travellers.c.id == traveller_id,
            in_region(travellers.c.destination_region_code, region_prefix),
        )
    )
    if row is None:
        raise IsolationNotFound(f"there is no traveller {traveller_id} bound for your region")
    return await place_in_isolation(
        db,
        visitor_id=row["visitor_id"],
        reason="traveller",
        region_code=row["destination_region_code"],
        starts_on=rules.today(now),
        days=rules.days,
        now=now,
        facility_id=facility_id,
        created_by=created_by,
    )


def _visible_to(region_prefix: str | None) -> sa.ColumnElement[bool]:
    """An isolation in the official's region, or assigned to a facility in it."""
    if region_prefix is None:
        return sa.true()
    return sa.or_(
        in_region(isolations.c.region_code, region_prefix),
        in_region(venues.c.region_code, region_prefix),
    )


def _scoped_isolations() -> sa.Select:
    return sa.select(isolations, venues.c.name.label("facility_name")).select_from(
        isolations.outerjoin(venues, venues.c.id == isolations.c.facility_venue_id)
    )


async def find_isolation(
    db: Database, isolation_id: int, region_prefix: str | None = None
) -> Isolation:
    row = await db.fetch_one(
        _scoped_isolations().where(isolations.c.id == isolation_id, _visible_to(region_prefix))
    )
    if row is None:
        raise IsolationNotFound(f"there is no isolation {isolation_id} in your region")
    return _isolation(row)


async def current_isolation(db: Database, visitor_id: str, today: date) -> Isolation | None:
    """The visitor's isolation that covers today, else the one starting soonest after it."""
    row = await db.fetch_one(
        sa.select(isolations)
        .where(isolations.c.visitor_id == visitor_id, isolations.c.ends_on >= today.isoformat())
        .order_by(isolations.c.starts_on, isolations.c.id)
        .limit(1)
    )
    return _isolation(row) if row else None


async def submit_report(
    db: Database,
    isolation: Isolation,
    report: DailyReport,
    *,
    now: datetime,
    rules: IsolationRules,
) -> list[str]:
    """Record today's report; danger signs raise an alert at once. Returns the signs."""
    today = rules.today(now)
    if not isolation.is_active(today):
        raise InvalidIsolation(
            f"the isolation runs {isolation.starts_on} to {isolation.ends_on}, not today"
        )
    checked_report(report)
    signs = danger_signs(report, rules)
    moment = int(now.timestamp())
    async with db.transaction():
        await db.execute(
            sa.insert(isolation_reports).values(
                isolation_id=isolation.id,
                day=today.isoformat(),
                symptoms=json.dumps(sorted(report.symptoms)),
                temperature=report.temperature,
                spo2=report.spo2,
                at_home=report.at_home,
                needs=json.dumps(sorted(report.needs)),
                danger_signs=json.dumps(signs),
                submitted_at=moment,
            )
        )
        if signs:
            await _raise_alert(db, isolation, "danger", {"signs": signs}, None, moment)
    return signs


def _contact_context(isolation_id: int, created_at: int) -> str:
    return f"isolation-alert:{isolation_id}:{created_at}"


async def _raise_alert(
    db: Database,
    isolation: Isolation,
    kind: str,
    details: dict[str, Any],
    contact: tuple[bytes, str] | None,
    moment: int,
) -> int:
    """Record the alert and tell the facility (or the region's officials) through the outbox;
    the notice carries ids only, never personal data."""
    alert_id = await db.fetch_val(
        sa.insert(isolation_alerts)
        .values(
            isolation_id=isolation.id,
            kind=kind,
            details=json.dumps(details, sort_keys=True),
            contact_sealed=contact[0] if contact else None,
            contact_key_id=contact[1] if contact else None,
            created_at=moment,
        )
        .returning(isolation_alerts.c.id)
    )
    recipient = (
        ("facility", str(isolation.facility_venue_id))
        if isolation.facility_venue_id is not None
        else ("region", isolation.region_code)
    )
    payload = {"kind": "isolation_alert", "alert": kind, "alert_id": alert_id,
               "isolation_id": isolation.id, "region_code": isolation.region_code}  # fmt: skip
    await queue_notifications(
        db,
        [
            {
                "recipient_kind": recipient[0],
                "recipient_id": recipient[1],
                "kind": "isolation_alert",
                "payload": json.dumps(payload, sort_keys=True),
                "dedupe_key": f"isolation_alert:{alert_id}",
                "created_at": moment,
            }
        ],
    )
    return alert_id


async def raise_emergency(
    db: Database, keys: PersonalDataKeys, isolation: Isolation, *, now: datetime
) -> int:
    """The emergency button: an alert with the person's name and phone, sealed for officials."""
    profile = await read_profile(db, keys, isolation.visitor_id)
    moment = int(now.timestamp())
    sealed = seal_json(
        keys,
        _contact_context(isolation.id, moment),
        {"name": profile.name, "phone": profile.phone},
    )
    async with db.transaction():
        return await _raise_alert(db, isolation, "emergency", {}, (sealed, keys.key_id), moment)


async def reports_of(db: Database, isolation_id: int) -> list[dict[str, Any]]:
    rows = await db.fetch_all(
        sa.select(isolation_reports)
        .where(isolation_reports.c.isolation_id == isolation_id)
        .order_by(isolation_reports.c.submitted_at.desc(), isolation_reports.c.id.desc())
    )
    return [
        {
            "day": row["day"],
            "symptoms": json.loads(row["symptoms"]),
            "temperature": row["temperature"],
            "spo2": row["spo2"],
            "at_home": bool(row["at_home"]),
            "needs": json.loads(row["needs"]),
            "danger_signs": json.loads(row["danger_signs"]),
            "submitted_at": row["submitted_at"],
        }
        for row in rows
    ]


async def reported_on(db: Database, isolation_id: int, day: date) -> bool:
    found = await db.fetch_val(
        sa.select(sa.func.count())
        .select_from(isolation_reports)
        .where(
            isolation_reports.c.isolation_id == isolation_id,
            isolation_reports.c.day == day.isoformat(),
        )
    )
    return bool(found)


async def monitored(
    db: Database, region_prefix: str | None, *, now: datetime, rules: IsolationRules
) -> list[MonitoredPerson]:
    """People isolating today in the official's region (or at a facility in it), most urgent
    first: open emergencies, then danger signs, then a missing report for today."""
    today = rules.today(now)
    rows = await db.fetch_all(
        _scoped_isolations()
        .where(
            _visible_to(region_prefix),
            isolations.c.starts_on <= today.isoformat(),
            isolations.c.ends_on >= today.isoformat(),
        )
        .order_by(isolations.c.ends_on, isolations.c.id)
    )
    ids = [row["id"] for row in rows]
    last = dict(
        (r[0], r[1])
        for r in await db.fetch_all(
            sa.select(isolation_reports.c.isolation_id, sa.func.max(isolation_reports.c.day))
            .where(isolation_reports.c.isolation_id.in_(ids))
            .group_by(isolation_reports.c.isolation_id)
        )
    )
    open_alerts: dict[int, dict[str, int]] = {}
    for row in await db.fetch_all(
        sa.select(
            isolation_alerts.c.isolation_id, isolation_alerts.c.kind, sa.func.count().label("n")
        )
        .where(isolation_alerts.c.isolation_id.in_(ids), isolation_alerts.c.resolved_at.is_(None))
        .group_by(isolation_alerts.c.isolation_id, isolation_alerts.c.kind)
    ):
        open_alerts.setdefault(row["isolation_id"], {})[row["kind"]] = row["n"]
    people = [
        MonitoredPerson(
            isolation=_isolation(row),
            facility_name=row["facility_name"],
            last_report_on=date.fromisoformat(last[row["id"]]) if row["id"] in last else None,
            report_missing=last.get(row["id"]) != today.isoformat(),
            open_alerts=open_alerts.get(row["id"], {}),
            ending_soon=date.fromisoformat(row["ends_on"]) - today
            < timedelta(days=ENDING_SOON_DAYS),
        )
        for row in rows
    ]
    return sorted(
        people,
        key=lambda p: (
            -p.open_alerts.get("emergency", 0),
            -p.open_alerts.get("danger", 0),
            not p.report_missing,
        ),
    )


async def open_alerts(
    db: Database, keys: PersonalDataKeys, region_prefix: str | None
) -> list[dict[str, Any]]:
    """Unresolved alerts in the official's region, newest first, with the emergency contact
    data unsealed (the caller audits the view)."""
    rows = await db.fetch_all(
        sa.select(isolation_alerts, isolations.c.region_code, isolations.c.visitor_id)
        .select_from(
            isolation_alerts.join(
                isolations, isolations.c.id == isolation_alerts.c.isolation_id
            ).outerjoin(venues, venues.c.id == isolations.c.facility_venue_id)
        )
        .where(_visible_to(region_prefix), isolation_alerts.c.resolved_at.is_(None))
        .order_by(isolation_alerts.c.created_at.desc(), isolation_alerts.c.id.desc())
    )
    return [_alert(keys, row) for row in rows]


def _alert(keys: PersonalDataKeys, row: Any) -> dict[str, Any]:
    contact = (
        unseal_json(
            keys,
            _contact_context(row["isolation_id"], row["created_at"]),
            bytes(row["contact_sealed"]),
        )
        if row["contact_sealed"]
        else None
    )
    return {
        "id": row["id"],
        "isolation_id": row["isolation_id"],
        "region_code": row["region_code"],
        "kind": row["kind"],
        "details": json.loads(row["details"]),
        "contact": contact,
        "created_at": row["created_at"],
        "acknowledged": row["acknowledged_at"] is not None,
    }


async def settle_alert(
    db: Database,
    alert_id: int,
    region_prefix: str | None,
    *,
    action: str,
    now: datetime,
    user_id: int,
) -> None:
    """Acknowledge (someone is on it) or resolve (done) an alert in the official's region;
    resolving acknowledges too."""
    visible = await db.fetch_val(
        sa.select(isolation_alerts.c.id)
        .select_from(
            isolation_alerts.join(
                isolations, isolations.c.id == isolation_alerts.c.isolation_id
            ).outerjoin(venues, venues.c.id == isolations.c.facility_venue_id)
        )
        .where(isolation_alerts.c.id == alert_id, _visible_to(region_prefix))
    )
    if visible is None:
        raise IsolationAlertNotFound(f"there is no isolation alert {alert_id} in your region")
    moment = int(now.timestamp())
    ack = sa.update(isolation_alerts).where(
        isolation_alerts.c.id == alert_id, isolation_alerts.c.acknowledged_at.is_(None)
    )
    await db.execute(ack.values(acknowledged_at=moment, acknowledged_by=user_id))
    if action == "resolve":
        await db.execute(
            sa.update(isolation_alerts)
            .where(isolation_alerts.c.id == alert_id, isolation_alerts.c.resolved_at.is_(None))
            .values(resolved_at=moment, resolved_by=user_id)
        )


async def queue_reminders(db: Database, now: datetime, rules: IsolationRules) -> int:
    """A reminder for everyone isolating today who has not reported yet, once per person and
    day (the dedupe key); returns how many isolations were due."""
    today = rules.today(now).isoformat()
    reported = sa.select(isolation_reports.c.isolation_id).where(isolation_reports.c.day == today)
    due = await db.fetch_all(
        sa.select(isolations.c.id, isolations.c.visitor_id).where(
            isolations.c.starts_on <= today,
            isolations.c.ends_on >= today,
            isolations.c.id.not_in(reported),
        )
    )
    moment = int(now.timestamp())
    await queue_notifications(
        db,
        [
            {
                "recipient_kind": "visitor",
                "recipient_id": row["visitor_id"],
                "kind": "isolation_reminder",
                "payload": json.dumps(
                    {"kind": "isolation_reminder", "isolation_id": row["id"], "day": today},
                    sort_keys=True,
                ),
                "dedupe_key": f"isolation_reminder:{row['visitor_id']}:{today}",
                "created_at": moment,
            }
            for row in due
        ],
    )
    return len(due)


def covering_regions(region_code: str) -> list[str]:
    """The region and every region above it: 16.71.01 -> 16, 16.71, 16.71.01."""
    parts = region_code.split(".")
    return [".".join(parts[: depth + 1]) for depth in range(len(parts))]


async def health_contact_for(db: Database, region_code: str) -> HealthContact | None:
    """The most specific health contact whose region covers ``region_code``."""
    rows = await db.fetch_all(
        sa.select(health_contacts).where(
            health_contacts.c.region_code.in_(covering_regions(region_code))
        )
    )
    if not rows:
        return None
    row = max(rows, key=lambda r: len(r["region_code"]))
    return HealthContact(row["region_code"], row["name"], row["phone"], row["hours"])


async def list_health_contacts(db: Database, region_prefix: str | None) -> list[HealthContact]:
    rows = await db.fetch_all(
        sa.select(health_contacts)
        .where(in_region(health_contacts.c.region_code, region_prefix))
        .order_by(health_contacts.c.region_code)
    )
    return [HealthContact(r["region_code"], r["name"], r["phone"], r["hours"]) for r in rows]


async def save_health_contact(
    db: Database, contact: HealthContact, *, now: datetime, user_id: int
) -> HealthContact:
    """Create or replace the region's health contact."""
    if not contact.name.strip() or not contact.phone.strip():
        raise InvalidIsolation("a health contact needs a name and a phone number")
    values = {"name": contact.name.strip(), "phone": contact.phone.strip(),
              "hours": contact.hours.strip(), "updated_at": int(now.timestamp()),
              "updated_by": user_id}  # fmt: skip
    where = health_contacts.c.region_code == contact.region_code
    async with db.transaction():
        exists = await db.fetch_val(
            sa.select(sa.func.count()).select_from(health_contacts).where(where)
        )
        if exists:
            await db.execute(sa.update(health_contacts).where(where).values(**values))
        else:
            await db.execute(
                sa.insert(health_contacts).values(region_code=contact.region_code, **values)
            )
    return HealthContact(contact.region_code, values["name"], values["phone"], values["hours"])


async def delete_health_contact(db: Database, region_code: str) -> bool:
    found = await db.fetch_val(
        sa.select(sa.func.count())
        .select_from(health_contacts)
        .where(health_contacts.c.region_code == region_code)
    )
    await db.execute(sa.delete(health_contacts).where(health_contacts.c.region_code == region_code))
    return bool(found)


async def delete_isolation_before(db: Database, cutoff: datetime) -> int:
    """Retention: delete isolations whose last day is before ``cutoff``'s date, with their
    reports and alerts (the alerts hold sealed contact data); returns how many isolations went."""
    ended_before = isolations.c.ends_on < cutoff.date().isoformat()
    ended = sa.select(isolations.c.id).where(ended_before)
    async with db.transaction():
        count = await db.fetch_val(
            sa.select(sa.func.count()).select_from(isolations).where(ended_before)
        )
        await db.execute(
            sa.delete(isolation_alerts).where(isolation_alerts.c.isolation_id.in_(ended))
        )
        await db.execute(
            sa.delete(isolation_reports).where(isolation_reports.c.isolation_id.in_(ended))
        )
        await db.execute(sa.delete(isolations).where(ended_before))
    return count


async def person_region(db: Database, visitor_id: str, today: date) -> str | None:
    """The region whose health contact is the person's: their current isolation's, else their
    latest case's, else their latest travel destination's, else their latest exposure venue's."""
    isolation = await current_isolation(db, visitor_id, today)
    if isolation is not None:
        return isolation.region_code
    for query in (
        sa.select(cases.c.region_code)
        .select_from(cases.join(case_people, case_people.c.case_id == cases.c.id))
        .where(case_people.c.visitor_id == visitor_id)
        .order_by(cases.c.created_at.desc()),
        sa.select(travellers.c.destination_region_code)
        .where(travellers.c.visitor_id == visitor_id)
        .order_by(travellers.c.registered_at.desc()),
        sa.select(venues.c.region_code)
        .select_from(exposures.join(venues, venues.c.id == exposures.c.venue_id))
        .where(exposures.c.visitor_id == visitor_id)
        .order_by(exposures.c.last_exposed_at.desc()),
    ):
        region = await db.fetch_val(query.limit(1))
        if region is not None:
            return region
    return None
