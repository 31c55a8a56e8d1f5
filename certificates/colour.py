"""The entry colour at the door, from a person's certificates and case status.

Black (refused): a positive test within ``positive_test_days`` or close contact within
``close_contact_days``. Green: a booster, a negative test inside its window (antigen, PCR), or a
valid recovery certificate. Yellow: a completed primary series. Red: anything less. The numbers
are configuration (`ColourRules`, default ``data/colour-rules.json``); every window includes its
end. `certificate_facts` turns a verified DCC into what the rules look at.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

from certificates.errors import InvalidColourRules

PCR_TEST = "LP6464-4"  # nucleic acid amplification (PCR)
ANTIGEN_TEST = "LP217198-3"  # rapid antigen
TEST_KINDS = {PCR_TEST: "pcr", ANTIGEN_TEST: "antigen"}
DETECTED = "260373001"
NOT_DETECTED = "260415000"


class Colour(StrEnum):
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"
    BLACK = "black"


@dataclass(frozen=True)
class Vaccination:
    dose_number: int
    series_doses: int


@dataclass(frozen=True)
class LabTest:
    kind: str  # "pcr" or "antigen"
    positive: bool
    sampled_at: datetime


@dataclass(frozen=True)
class Recovery:
    valid_from: date
    valid_until: date


Fact = Vaccination | LabTest | Recovery


@dataclass(frozen=True)
class CaseStatus:
    """What the exposure side knows: when the person tested positive or was a close contact."""

    positive_at: datetime | None = None
    close_contact_at: datetime | None = None


@dataclass(frozen=True)
class ColourRules:
    positive_test_days: int
    close_contact_days: int
    booster_min_dose: int
    booster_when_dose_exceeds_series: bool
    negative_test_hours: Mapping[str, int]
    valid_recovery: bool
    yellow_min_doses: int
    completed_primary_series: bool


@dataclass(frozen=True)
class ColourDecision:
    colour: Colour
    reason: str
    valid_until: datetime | None = None  # when this colour may lapse; None: no known end


def parse_colour_rules(document: Mapping[str, Any]) -> ColourRules:
    """Rules from their JSON form; `InvalidColourRules` names what is missing or wrong."""
    try:
        black, green, yellow = document["black"], document["green"], document["yellow"]
        rules = ColourRules(
            positive_test_days=int(black["positive_test_days"]),
            close_contact_days=int(black["close_contact_days"]),
            booster_min_dose=int(green["booster_min_dose"]),
            booster_when_dose_exceeds_series=bool(green["booster_when_dose_exceeds_series"]),
            negative_test_hours={k: int(v) for k, v in green["negative_test_hours"].items()},
            valid_recovery=bool(green["valid_recovery"]),
            yellow_min_doses=int(yellow["min_doses"]),
            completed_primary_series=bool(yellow["completed_primary_series"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidColourRules(f"the colour rules are incomplete or malformed: {exc!r}") from exc
    unknown = set(rules.negative_test_hours) - set(TEST_KINDS.values())
    if unknown:
        raise InvalidColourRules(f"unknown test kinds in negative_test_hours: {sorted(unknown)}")
    return rules


def load_colour_rules(path: Path | None = None) -> ColourRules:
    """The rules in ``path``, or the shipped defaults (PeduliLindungi, July 2022)."""
    if path is None:
        text = resources.files("certificates").joinpath("data/colour-rules.json").read_text()
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidColourRules(f"cannot read the colour rules file {path}: {exc}") from exc
    try:
        return parse_colour_rules(json.loads(text))
    except json.JSONDecodeError as exc:
        raise InvalidColourRules(f"the colour rules are not JSON: {exc}") from exc


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _moment(value: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _day(value: Any) -> date | None:
    moment = _moment(value)
    return moment.date() if moment else None


def _entries(dcc: Mapping[str, Any], kind: str) -> list[Mapping[str, Any]]:
    entries = dcc.get(kind)
    return [e for e in entries if isinstance(e, Mapping)] if isinstance(entries, list) else []


def certificate_facts(dcc: Mapping[str, Any]) -> list[Fact]:
    """What the colour rules need from one verified DCC; unreadable entries are left out."""
    facts: list[Fact] = []
    for entry in _entries(dcc, "v"):
        dose, series = _int(entry.get("dn")), _int(entry.get("sd"))
        if dose is not None and series is not None:
            facts.append(Vaccination(dose, series))
    for entry in _entries(dcc, "t"):
        kind, sampled = TEST_KINDS.get(str(entry.get("tt"))), _moment(entry.get("sc"))
        if kind and sampled and entry.get("tr") in (DETECTED, NOT_DETECTED):
            facts.append(LabTest(kind, entry.get("tr") == DETECTED, sampled))
    for entry in _entries(dcc, "r"):
        start, end = _day(entry.get("df")), _day(entry.get("du"))
        if start and end:
            facts.append(Recovery(start, end))
    return facts


def _within(moment: datetime, now: datetime, window: timedelta) -> bool:
    return timedelta(0) <= now - moment <= window


def _black(
    facts: list[Fact], case: CaseStatus, now: datetime, rules: ColourRules
) -> ColourDecision | None:
    positives = [f.sampled_at for f in facts if isinstance(f, LabTest) and f.positive]
    if case.positive_at:
        positives.append(case.positive_at)
    if positives:  # the windows only when there is something to measure (every door asks)
        positive_window = timedelta(days=rules.positive_test_days)
        recent = [p for p in positives if _within(p, now, positive_window)]
        if recent:
            until = max(recent) + positive_window
            return ColourDecision(Colour.BLACK, "positive within the isolation window", until)
    if not case.close_contact_at:
        return None
    contact_window = timedelta(days=rules.close_contact_days)
    if _within(case.close_contact_at, now, contact_window):
        until = case.close_contact_at + contact_window
        return ColourDecision(Colour.BLACK, "close contact of a case", until)
    return None


def _is_booster(dose: Vaccination, rules: ColourRules) -> bool:
    beyond_series = rules.booster_when_dose_exceeds_series and dose.dose_number > dose.series_doses
    return dose.dose_number >= rules.booster_min_dose or beyond_series


def _green(facts: list[Fact], now: datetime, rules: ColourRules) -> ColourDecision | None:
    if any(isinstance(f, Vaccination) and _is_booster(f, rules) for f in facts):
        return ColourDecision(Colour.GREEN, "booster dose")
    for fact in facts:
        if isinstance(fact, LabTest) and not fact.positive:
            hours = rules.negative_test_hours.get(fact.kind)
            if hours is not None and _within(fact.sampled_at, now, timedelta(hours=hours)):
                until = fact.sampled_at + timedelta(hours=hours)
                return ColourDecision(Colour.GREEN, f"negative {fact.kind} test", until)
        if (
            isinstance(fact, Recovery)
            and rules.valid_recovery
            and fact.valid_from <= now.date() <= fact.valid_until
        ):
            until = datetime.combine(fact.valid_until, time.max, UTC)
            return ColourDecision(Colour.GREEN, "recovered", until)
    return None


def status_colour(
    facts: Iterable[Fact], case: CaseStatus, now: datetime, rules: ColourRules
) -> ColourDecision:
    """The entry colour for a person with these certificate ``facts`` and ``case`` status."""
    found = list(facts)
    decision = _black(found, case, now, rules) or _green(found, now, rules)
    if decision:
        return decision
    doses = [f for f in found if isinstance(f, Vaccination)]
    completed = any(
        d.dose_number >= rules.yellow_min_doses
        or (rules.completed_primary_series and d.dose_number >= d.series_doses)
        for d in doses
    )
    if completed:
        return ColourDecision(Colour.YELLOW, "primary vaccination series completed")
    reason = "one dose of a series" if doses else "no vaccination, valid test or recovery"
    return ColourDecision(Colour.RED, reason)
