"""The entry colour rules at every boundary: 24 h, 72 h, 10 days, 14 days, dose counts."""

from __future__ import annotations

import json
from datetime import date, timedelta
from importlib import resources

import pytest

from certificates.colour import (
    CaseStatus,
    Colour,
    LabTest,
    Recovery,
    Vaccination,
    certificate_facts,
    load_colour_rules,
    status_colour,
)
from certificates.errors import InvalidColourRules
from tests.certificates.support import pcr_test_dcc, vaccination_dcc
from tests.factories import START
from web.app import create_app
from web.settings import Secret, Settings

RULES = load_colour_rules()
RULES_FILE = "data/colour-rules.json"
SECOND = timedelta(seconds=1)
NO_CASE = CaseStatus()


def colour(*facts, case: CaseStatus = NO_CASE, now=START) -> Colour:
    return status_colour(facts, case, now, RULES).colour


@pytest.mark.parametrize(
    ("dose", "series", "expected"),
    [
        (1, 2, Colour.RED),
        (2, 2, Colour.YELLOW),
        (1, 1, Colour.YELLOW),  # a single-dose vaccine completes its series
        (2, 3, Colour.YELLOW),  # two doses
        (3, 3, Colour.GREEN),  # the third dose counts as a booster
        (2, 1, Colour.GREEN),  # a dose beyond the series is a booster
        (4, 4, Colour.GREEN),
    ],
)
def test_dose_counts(dose: int, series: int, expected: Colour) -> None:
    assert colour(Vaccination(dose, series)) is expected


def test_nothing_is_red() -> None:
    decision = status_colour([], NO_CASE, START, RULES)
    assert decision.colour is Colour.RED and "no vaccination" in decision.reason


@pytest.mark.parametrize(("kind", "hours"), [("antigen", 24), ("pcr", 72)])
def test_negative_test_windows_include_their_end(kind: str, hours: int) -> None:
    window = timedelta(hours=hours)
    test = LabTest(kind, positive=False, sampled_at=START)
    assert colour(test, now=START) is Colour.GREEN
    decision = status_colour([test], NO_CASE, START + window, RULES)
    assert decision.colour is Colour.GREEN and decision.valid_until == START + window
    assert colour(test, now=START + window + SECOND) is Colour.RED
    assert colour(test, Vaccination(2, 2), now=START + window + SECOND) is Colour.YELLOW
    assert colour(test, now=START - SECOND) is Colour.RED  # sampled in the future


def test_positive_test_is_black_for_ten_days_even_with_a_booster() -> None:
    positive = LabTest("pcr", positive=True, sampled_at=START)
    booster = Vaccination(3, 2)
    assert colour(positive, booster, now=START + timedelta(days=10)) is Colour.BLACK
    assert colour(positive, booster, now=START + timedelta(days=10) + SECOND) is Colour.GREEN


def test_case_status_positive_and_close_contact_windows() -> None:
    positive = CaseStatus(positive_at=START)
    assert colour(case=positive, now=START + timedelta(days=10)) is Colour.BLACK
    assert colour(case=positive, now=START + timedelta(days=10) + SECOND) is Colour.RED
    contact = CaseStatus(close_contact_at=START)
    decision = status_colour([Vaccination(3, 3)], contact, START + timedelta(days=14), RULES)
    assert decision.colour is Colour.BLACK and decision.reason == "close contact of a case"
    assert colour(case=contact, now=START + timedelta(days=14) + SECOND) is Colour.RED


def test_recovery_is_green_from_its_first_to_its_last_day() -> None:
    recovery = Recovery(date(2026, 11, 1), date(2026, 11, 22))
    assert colour(recovery, now=START) is Colour.GREEN
    assert colour(recovery, now=START + timedelta(days=1)) is Colour.RED
    assert colour(Recovery(date(2026, 11, 23), date(2027, 1, 1)), now=START) is Colour.RED


def test_facts_come_from_verified_dccs() -> None:
    assert certificate_facts(vaccination_dcc(dose=3, series=2)) == [Vaccination(3, 2)]
    facts = certificate_facts(pcr_test_dcc(result="260373001"))
    assert facts == [LabTest("pcr", True, START - timedelta(hours=25))]
    recovery = {"r": [{"df": "2026-11-01", "du": "2027-05-01", "fr": "2026-10-20"}]}
    assert certificate_facts(recovery) == [Recovery(date(2026, 11, 1), date(2027, 5, 1))]
    assert certificate_facts({"v": [{"dn": "two"}], "t": "no", "r": [{"df": "soon"}]}) == []


def test_rules_are_configuration(tmp_path) -> None:
    document = json.loads(resources.files("certificates").joinpath(RULES_FILE).read_text())
    document["green"]["negative_test_hours"]["antigen"] = 48
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(document))
    stricter = load_colour_rules(path)
    test = LabTest("antigen", positive=False, sampled_at=START)
    assert status_colour([test], NO_CASE, START + timedelta(hours=48), stricter).colour is (
        Colour.GREEN
    )
    del document["black"]
    path.write_text(json.dumps(document))
    with pytest.raises(InvalidColourRules):
        load_colour_rules(path)
    with pytest.raises(InvalidColourRules):
        load_colour_rules(tmp_path / "missing.json")


def test_the_app_refuses_to_start_with_broken_rules(tmp_path) -> None:
    broken = tmp_path / "rules.json"
    broken.write_text("{}")
    settings = Settings(data_dir=tmp_path, colour_rules_file=broken, secret_key=Secret("k" * 32))
    with pytest.raises(InvalidColourRules, match="incomplete"):
        create_app(settings)
