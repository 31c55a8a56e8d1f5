"""The issuing form for issuer staff: the same rules as ``POST /api/certificates``, and the
signed certificate shown back as a QR code to print or scan."""

from __future__ import annotations

from datetime import UTC, datetime

import segno
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from certificates.colour import ANTIGEN_TEST, DETECTED, NOT_DETECTED, PCR_TEST
from certificates.errors import CertificateError
from certificates.issuers import issue_certificate
from web.accounts import record_audit
from web.auth import read_form
from web.pages import render
from web.routes_certificates import issuer_staff, sealing_key

COVID_19 = "840539006"  # SNOMED CT: the disease targeted
# Vaccine product -> (marketing authorisation holder, prophylaxis), from the DCC value sets.
VACCINES = {
    "EU/1/20/1528": ("Comirnaty", "ORG-100030215", "1119349007"),
    "EU/1/20/1507": ("Spikevax", "ORG-100031184", "1119349007"),
    "EU/1/21/1529": ("Vaxzevria", "ORG-100001699", "29061000087103"),
    "EU/1/20/1525": ("Jcovden", "ORG-100001417", "29061000087103"),
    "BBIBP-CorV": ("BBIBP-CorV (Sinopharm)", "ORG-100020693", "1157024006"),
    "CoronaVac": ("CoronaVac (Sinovac)", "Sinovac-Biotech", "1157024006"),
}
TEST_TYPES = {"pcr": PCR_TEST, "antigen": ANTIGEN_TEST}
TEST_RESULTS = {"negative": NOT_DETECTED, "positive": DETECTED}


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _number(form: FormData, name: str) -> int | str:
    # A non-number goes through as text, so the DCC schema names the field in its answer.
    text = _field(form, name)
    return int(text) if text.isdigit() else text


def _utc(local: str) -> str:
    """A ``datetime-local`` value (taken as UTC) as the DCC's ISO 8601 time."""
    try:
        return datetime.fromisoformat(local).replace(tzinfo=UTC).isoformat()
    except ValueError:
        return local


def _entry(form: FormData, kind: str) -> dict[str, object]:
    if kind == "v":
        _, holder, prophylaxis = VACCINES.get(_field(form, "product"), ("", "", ""))
        return {
            "tg": COVID_19, "vp": prophylaxis, "mp": _field(form, "product"), "ma": holder,
            "dn": _number(form, "dose_number"), "sd": _number(form, "series_doses"),
            "dt": _field(form, "vaccinated_on"),
        }  # fmt: skip
    if kind == "t":
        return {
            "tg": COVID_19,
            "tt": TEST_TYPES.get(_field(form, "test_type"), ""),
            "tr": TEST_RESULTS.get(_field(form, "test_result"), ""),
            "sc": _utc(_field(form, "sampled_at")),
            "tc": _field(form, "test_centre"),
        }
    return {
        "tg": COVID_19,
        "fr": _field(form, "first_positive"),
        "df": _field(form, "valid_from"),
        "du": _field(form, "valid_until"),
    }


def issuing_request(form: FormData) -> dict[str, object]:
    """The form as the body ``POST /api/certificates`` takes."""
    kind = _field(form, "kind") if _field(form, "kind") in ("v", "t", "r") else "t"
    names = {"fn": _field(form, "family_name"), "gn": _field(form, "given_name")}
    return {
        "nam": {k: v for k, v in names.items() if v},
        "dob": _field(form, "dob"),
        kind: _entry(form, kind),
    }


async def issue_form(request: Request) -> Response:
    _, issuer = await issuer_staff(request)
    return render(request, "certificates_issue.html", issuer=issuer, vaccines=VACCINES)


async def issue_submit(request: Request) -> Response:
    user, issuer = await issuer_staff(request)
    form = await read_form(request)
    state = request.app.state
    now = state.clock.now()
    try:
        issued = await issue_certificate(
            state.db, issuer, issuing_request(form), now=now,
            sealing_key=sealing_key(state.settings), issued_by=user.id,
        )  # fmt: skip
    except CertificateError as exc:
        return render(
            request, "certificates_issue.html", 422, issuer=issuer, vaccines=VACCINES,
            error=str(exc),
        )  # fmt: skip
    record = issued.record
    await record_audit(
        state.db, now, user.id, "certificate_issued", "issued_certificate", str(record.id),
        {"type": record.certificate_type, "issuer_id": issuer.id, "via": "form"},
    )  # fmt: skip
    qr = segno.make(issued.hc1, error="q").png_data_uri(scale=4, border=4)
    return render(request, "certificates_issued.html", 201, issuer=issuer, issued=issued, qr=qr)


routes = [
    Route("/certificates/issue", issue_form, methods=["GET"]),
    Route("/certificates/issue", issue_submit, methods=["POST"]),
]
