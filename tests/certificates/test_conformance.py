"""Conformance with the public EU DCC test data in ``../shared/dcc-testdata``.

Every case runs through `verify_hc1` with its own clock and signer certificate, and each
expected result that applies to a verifier is compared with the step Singgah reports. The only
disagreements allowed are the ones the data repository lists in ``known_issues.csv``; those
cases are expected failures with the listed reason.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from PIL import Image, UnidentifiedImageError

from certificates.signers import load_trusted_base64, trust_store
from certificates.verify import Outcome, verify_hc1

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "dcc-testdata"
MISSING = f"the EU DCC test data is not at {DATA} (it lives in ../shared/ beside the project)"
PICTURE = "picture"
EXPECTED_STEPS = {
    "EXPECTEDUNPREFIX": "prefix",
    "EXPECTEDB45DECODE": "base45",
    "EXPECTEDCOMPRESSION": "decompression",
    "EXPECTEDDECODE": "cose",
    "EXPECTEDVERIFY": "signature",
    "EXPECTEDEXPIRATIONCHECK": "expiry",
    "EXPECTEDKEYUSAGE": "key_usage",
    "EXPECTEDSCHEMAVALIDATION": "schema",
    "EXPECTEDPICTUREDECODE": PICTURE,
}
# The data repository names its known issues after its own test functions.
KNOWN_ISSUE_STEPS = {
    "test_cose_schema": "schema",
    "test_verification_check": "signature",
    "test_expiration_check": "expiry",
    "test_expected_key_usage": "key_usage",
}

pytestmark = pytest.mark.shared_data


def case_files() -> list[Path]:
    return sorted(DATA.glob("**/*.json")) if DATA.is_dir() else []


def case_id(path: Path) -> str:
    return path.relative_to(DATA).as_posix()


@cache
def known_issues() -> dict[tuple[str, str, str], str]:
    """``(step, country, test set or "")`` -> the data repository's reason."""
    with (DATA / "known_issues.csv").open(encoding="utf-8") as handle:
        return {
            (KNOWN_ISSUE_STEPS[row["test_name"]], row["country"], row["test_set"]): row["reason"]
            for row in csv.DictReader(handle)
            if row["test_name"] in KNOWN_ISSUE_STEPS
        }


def known_issue(path: Path, step: str) -> str | None:
    country = path.relative_to(DATA).parts[0]
    issues = known_issues()
    return issues.get((step, country, path.stem)) or issues.get((step, country, ""))


def validation_clock(context: dict[str, Any]) -> datetime:
    moment = datetime.fromisoformat(context["VALIDATIONCLOCK"].replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # unzoned means UTC


def expected_results(case: dict[str, Any]) -> dict[str, bool]:
    expected = case["EXPECTEDRESULTS"]
    if "EXPECTEDRESULTS" in expected:  # a few files nest the object twice
        expected = expected["EXPECTEDRESULTS"]
    return {EXPECTED_STEPS[key]: value for key, value in expected.items() if key in EXPECTED_STEPS}


def read_qr_image(encoded_png: str) -> str | None:
    """The text of the first barcode (QR or Aztec) in the image; None when there is none."""
    try:
        image = Image.open(io.BytesIO(base64.b64decode(encoded_png)))
    except (UnidentifiedImageError, ValueError):
        return None  # a case that tests an unreadable picture
    found = zxingcpp.read_barcodes(image)
    return found[0].text if found else None


@dataclass(frozen=True)
class CaseOutcome:
    agreed: tuple[str, ...]
    disagreed: tuple[tuple[str, bool, str], ...]  # step, expected, what Singgah said


@cache
def run_case(path: Path) -> CaseOutcome:
    case = json.loads(path.read_text(encoding="utf-8"))
    context = case["TESTCTX"]
    signers = [load_trusted_base64(context["CERTIFICATE"])] if context.get("CERTIFICATE") else []
    result = verify_hc1(case["PREFIX"], trust_store(signers), validation_clock(context))
    agreed: list[str] = []
    disagreed: list[tuple[str, bool, str]] = []
    for step, expected in expected_results(case).items():
        if step == PICTURE:
            image = case.get("2DCODE") or case.get("_2DCODE")
            if image is None:
                continue  # no picture in this case: nothing to compare
            text = read_qr_image(image)
            passed, said = text == case["PREFIX"], f"the image reads as {str(text)[:40]!r}"
        else:
            found = result.step(step)
            assert found is not None
            passed, said = found.outcome is Outcome.PASS, f"{found.outcome}: {found.reason}"
        if passed == expected:
            agreed.append(step)
        else:
            disagreed.append((step, expected, said))
    return CaseOutcome(tuple(agreed), tuple(disagreed))


@pytest.mark.parametrize(
    "path",
    [pytest.param(path, id=case_id(path)) for path in case_files()]
    or [pytest.param(None, id="absent", marks=pytest.mark.skip(reason=MISSING))],
)
def test_case_matches_every_expected_result(path: Path) -> None:
    outcome = run_case(path)
    unexplained = [d for d in outcome.disagreed if not known_issue(path, d[0])]
    assert not unexplained, f"{case_id(path)}: step, expected, Singgah said: {unexplained}"
    if outcome.disagreed:
        reasons = {known_issue(path, step) for step, _, _ in outcome.disagreed}
        pytest.xfail(f"known issue of the test data: {', '.join(sorted(map(str, reasons)))}")


def agreement_table() -> tuple[Counter[str], Counter[str], Counter[str]]:
    """Per step: cases that agree, known-issue disagreements, other disagreements."""
    agreed: Counter[str] = Counter()
    known: Counter[str] = Counter()
    other: Counter[str] = Counter()
    for path in case_files():
        outcome = run_case(path)
        agreed.update(outcome.agreed)
        for step, _, _ in outcome.disagreed:
            (known if known_issue(path, step) else other)[step] += 1
    return agreed, known, other


def format_agreement(agreed: Counter[str], known: Counter[str], other: Counter[str]) -> str:
    lines = [f"EU DCC conformance over {len(case_files())} cases (step: agree / checked)"]
    for step in EXPECTED_STEPS.values():
        checked = agreed[step] + known[step] + other[step]
        note = f", {known[step]} known issue(s) of the data" if known[step] else ""
        lines.append(f"  {step:<14} {agreed[step]:>4} / {checked}{note}")
    return "\n".join(lines)


@pytest.mark.skipif(not DATA.is_dir(), reason=MISSING)
def test_agreement_totals(capsys: pytest.CaptureFixture[str]) -> None:
    agreed, known, other = agreement_table()
    with capsys.disabled():
        print("\n" + format_agreement(agreed, known, other))
    assert sum(other.values()) == 0
    assert len(case_files()) == 456
    # Every step the data tests was checked on the cases that test it.
    assert all(agreed[step] > 0 for step in EXPECTED_STEPS.values())


SHARED_SCHEMA = DATA.parent / "dcc-schema" / "DCC.combined-schema.json"


@pytest.mark.skipif(not SHARED_SCHEMA.is_file(), reason=f"{SHARED_SCHEMA} is absent")
def test_the_shipped_schema_is_the_shared_one() -> None:
    shipped = Path(__file__).resolve().parents[2] / "certificates/data/DCC.combined-schema.json"
    assert shipped.read_bytes() == SHARED_SCHEMA.read_bytes()
