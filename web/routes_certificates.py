"""API for certificate issuers, signing certificates, issuing, revoking, verifying, trust list.

Admins manage issuers and their signing certificates; issuer staff (role ``issuer``, bound to
one issuer) issue and revoke that issuer's certificates; verification and the trust list are
public. Private keys are sealed with a key derived from the secret key and never served.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request

from certificates.issuers import (
    ISSUER_KINDS,
    Issuer,
    create_issuer,
    create_signing_certificate,
    find_issued,
    find_issuer,
    issue_certificate,
    list_issued,
    list_issuers,
    list_signing_certificates,
    revoke_certificate,
)
from certificates.signers import CERTIFICATE_TYPES
from certificates.trust_list import trust_list_document, verify_with_trust_list
from exposure.cases import create_case
from venues.regions import find_region
from web.accounts import Role, User, record_audit
from web.auth import require_user
from web.errors import Forbidden, ValidationFailed
from web.exposure_scope import case_people_from, case_rules
from web.keyring import derive_key
from web.openapi import api
from web.responses import JSONResponse
from web.routes_accounts import REGION
from web.settings import Settings
from web.validation import ID, obj, read_json

SEALING_PURPOSE = "certificate-signing-keys"

ISSUER = obj(
    {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "kind": {"enum": list(ISSUER_KINDS)},
        "country": {"type": "string"},
        "is_active": {"type": "boolean"},
    }
)
NEW_ISSUER = obj(
    {
        "name": {"type": "string", "minLength": 1, "maxLength": 80},
        "kind": {"enum": list(ISSUER_KINDS)},
        "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
    },
    required=("name", "kind"),
)
TYPES = {"type": "array", "items": {"enum": list(CERTIFICATE_TYPES)}, "minItems": 1}
NEW_SIGNER = obj(
    {
        "certificate_types": TYPES,
        "valid_days": {"type": "integer", "minimum": 1, "maximum": 3650},
    },
    required=("certificate_types",),
)
SIGNER = obj(
    {
        "id": {"type": "integer"},
        "issuer_id": ID,
        "kid": {"type": "string"},
        "certificate_types": TYPES,
        "certificate": {"type": "string", "description": "base64 DER"},
        "not_after": {"type": "string"},
    }
)
ENTRY = {"type": "object", "description": "a DCC entry without co, is and ci (Singgah adds them)"}
NEW_CERTIFICATE = {
    **obj(
        {
            "nam": {"type": "object", "description": "DCC names: fn, gn (fnt, gnt derived)"},
            "dob": {"type": "string", "description": "YYYY, YYYY-MM or YYYY-MM-DD"},
            "v": ENTRY,
            "t": ENTRY,
            "r": ENTRY,
            "valid_days": {"type": "integer", "minimum": 1, "maximum": 730},
            "subject": {
                "type": "object",
                "description": "who the test is about, so a positive result starts a case",
                "properties": {
                    "nik": {"type": "string", "pattern": r"^\d{16}$"},
                    "phone": {"type": "string", "maxLength": 32},
                    "region_code": REGION,
                },
                "additionalProperties": False,
            },
        },
        required=("nam", "dob"),
    ),
    "oneOf": [{"required": [kind]} for kind in CERTIFICATE_TYPES],
}
ISSUED = obj(
    {
        "id": {"type": "integer"},
        "issuer_id": ID,
        "kid": {"type": "string"},
        "certificate_type": {"enum": list(CERTIFICATE_TYPES)},
        "test_result": {"type": ["string", "null"]},
        "sampled_at": {"type": ["string", "null"]},
        "issued_at": {"type": "string"},
        "expires_at": {"type": "string"},
        "revoked_at": {"type": ["string", "null"]},
    }
)
ISSUANCE = obj({"certificate": ISSUED, "ci": {"type": "string"}, "hc1": {"type": "string"}})
REVOCATION = obj({"reason": {"type": "string", "minLength": 1, "maxLength": 200}}, ("reason",))
VERIFY = obj({"hc1": {"type": "string", "maxLength": 8192}}, ("hc1",))
STEP = obj({"outcome": {"enum": ["pass", "fail", "warn", "not_reached"]}, "reason": {}})
VERIFICATION = {
    "type": "object",
    "properties": {
        "valid": {"type": "boolean"},
        "steps": {"type": "object", "additionalProperties": STEP},
    },
    "required": ["valid", "steps"],
}


def sealing_key(settings: Settings) -> bytes:
    """The AES-GCM key that seals issuers' private keys in the database."""
    return derive_key(settings, SEALING_PURPOSE)


async def issuer_staff(request: Request) -> tuple[User, Issuer]:
    """The signed-in issuer staff member and the issuer they act for."""
    user = await require_user(request, Role.ISSUER)
    if user.issuer_id is None:
        raise Forbidden("your account is not bound to an issuer; ask an administrator")
    return user, await find_issuer(request.app.state.db, user.issuer_id)


async def issuers_index(request: Request) -> JSONResponse:
    await require_user(request, Role.ADMIN)
    return JSONResponse([i.public() for i in await list_issuers(request.app.state.db)])


async def issuers_create(request: Request) -> JSONResponse:
    admin = await require_user(request, Role.ADMIN)
    body = await read_json(request, NEW_ISSUER)
    state = request.app.state
    now = state.clock.now()
    issuer = await create_issuer(
        state.db, name=body["name"], kind=body["kind"], country=body.get("country", "ID"), now=now
    )
    await record_audit(state.db, now, admin.id, "issuer_created", "issuer", str(issuer.id))
    return JSONResponse(issuer.public(), 201)


async def signers_index(request: Request) -> JSONResponse:
    await require_user(request, Role.ADMIN)
    db = request.app.state.db
    issuer = await find_issuer(db, request.path_params["issuer_id"])
    return JSONResponse([s.public() for s in await list_signing_certificates(db, issuer.id)])


async def signers_create(request: Request) -> JSONResponse:
    admin = await require_user(request, Role.ADMIN)
    body = await read_json(request, NEW_SIGNER)
    state = request.app.state
    now = state.clock.now()
    issuer = await find_issuer(state.db, request.path_params["issuer_id"])
    signer = await create_signing_certificate(
        state.db,
        issuer,
        certificate_types=body["certificate_types"],
        now=now,
        sealing_key=sealing_key(state.settings),
        valid_for=timedelta(days=body.get("valid_days", 730)),
    )
    details = {"issuer_id": issuer.id, "kid": signer.kid, "types": list(signer.certificate_types)}
    await record_audit(
        state.db, now, admin.id, "signing_certificate_created", "signing_certificate",
        str(signer.id), details,
    )  # fmt: skip
    return JSONResponse(signer.public(), 201)


async def certificates_create(request: Request) -> JSONResponse:
    user, issuer = await issuer_staff(request)
    body = await read_json(request, NEW_CERTIFICATE)
    state = request.app.state
    now = state.clock.now()
    days = body.pop("valid_days", None)
    subject = body.pop("subject", {})
    issued = await issue_certificate(
        state.db,
        issuer,
        body,
        now=now,
        sealing_key=sealing_key(state.settings),
        issued_by=user.id,
        valid_for=timedelta(days=days) if days else None,
    )
    record = issued.record
    await record_audit(
        state.db, now, user.id, "certificate_issued", "issued_certificate", str(record.id),
        {"type": record.certificate_type, "issuer_id": issuer.id},
    )  # fmt: skip
    case = None
    if record.test_result == "positive" and record.sampled_at is not None:
        case = await pending_case_from_lab(request, subject, record.sampled_at, user.id)
    return JSONResponse(
        {"certificate": record.public(), "ci": issued.ci, "hc1": issued.hc1, "case": case}, 201
    )


async def pending_case_from_lab(
    request: Request, subject: dict[str, str], sampled_at: int, issued_by: int
) -> dict[str, Any] | None:
    """A positive result from an accredited lab starts a pending case for the officials of the
    person's region (from the NIK, or given), when the lab says who the person is."""
    if not ({"nik", "phone"} & subject.keys()):
        return None
    state = request.app.state
    nik = subject.get("nik")
    region = subject.get("region_code") or (f"{nik[:2]}.{nik[2:4]}" if nik else None)
    if region is None:
        raise ValidationFailed("a positive result with a phone number needs subject.region_code")
    await find_region(state.db, region)
    people = await case_people_from(request, subject)
    rules = case_rules(request)
    sampled_on = datetime.fromtimestamp(sampled_at, ZoneInfo(rules.timezone)).date()
    now = state.clock.now()
    case = await create_case(
        state.db,
        visitor_ids=people,
        region_code=region,
        positive_on=sampled_on,
        onset_on=None,
        now=now,
        rules=rules,
        source="issuer",
        created_by=issued_by,
    )
    await record_audit(
        state.db,
        now,
        issued_by,
        "case_reported_by_lab",
        "case",
        str(case.id),
        {"region_code": region, "people": len(people)},
    )
    return {"id": case.id, "status": case.status}


async def certificates_index(request: Request) -> JSONResponse:
    user = await require_user(request, Role.ISSUER, Role.ADMIN)
    scope = None if user.role is Role.ADMIN else (await issuer_staff(request))[1].id
    found = await list_issued(request.app.state.db, scope)
    return JSONResponse([certificate.public() for certificate in found])


async def certificates_revoke(request: Request) -> JSONResponse:
    user = await require_user(request, Role.ISSUER, Role.ADMIN)
    body = await read_json(request, REVOCATION)
    state = request.app.state
    now = state.clock.now()
    certificate = await find_issued(state.db, request.path_params["certificate_id"])
    if user.role is Role.ISSUER and (await issuer_staff(request))[1].id != certificate.issuer_id:
        raise Forbidden("only staff of the issuer that issued a certificate may revoke it")
    revoked = await revoke_certificate(state.db, certificate, now=now, reason=body["reason"])
    # The reason is free text and may name the holder: it stays out of the audit log.
    await record_audit(
        state.db, now, user.id, "certificate_revoked", "issued_certificate", str(revoked.id)
    )
    return JSONResponse(revoked.public())


async def certificates_verify(request: Request) -> JSONResponse:
    body = await read_json(request, VERIFY)
    state = request.app.state
    result = await verify_with_trust_list(state.db, body["hc1"], state.clock.now())
    return JSONResponse(result.to_json())


async def trust_list(request: Request) -> JSONResponse:
    return JSONResponse(await trust_list_document(request.app.state.db))


routes = [
    api("/api/issuers", issuers_index, "GET", "List certificate issuers", auth="admin",
        tag="certificates", response={"type": "array", "items": ISSUER}),
    api("/api/issuers", issuers_create, "POST", "Register an accredited issuer", auth="admin",
        tag="certificates", body=NEW_ISSUER, response=ISSUER, status=201),
    api("/api/issuers/{issuer_id:int}/signing-certificates", signers_index, "GET",
        "An issuer's signing certificates (public parts)", auth="admin", tag="certificates",
        response={"type": "array", "items": SIGNER}),
    api("/api/issuers/{issuer_id:int}/signing-certificates", signers_create, "POST",
        "Create a signing key and certificate for an issuer", auth="admin",
        tag="certificates", body=NEW_SIGNER, response=SIGNER, status=201),
    api("/api/certificates", certificates_index, "GET",
        "Issued certificates (an issuer's own; all for admins)", auth="issuer, admin",
        tag="certificates", response={"type": "array", "items": ISSUED}),
    api("/api/certificates", certificates_create, "POST", "Issue a signed HC1 certificate",
        auth="issuer", tag="certificates", body=NEW_CERTIFICATE, response=ISSUANCE, status=201),
    api("/api/certificates/{certificate_id:int}/revoke", certificates_revoke, "POST",
        "Revoke an issued certificate", auth="issuer, admin", tag="certificates",
        body=REVOCATION, response=ISSUED),
    api("/api/certificates/verify", certificates_verify, "POST",
        "Verify an HC1 certificate step by step", auth="public", tag="certificates",
        body=VERIFY, response=VERIFICATION),
    api("/api/trust-list", trust_list, "GET", "Trusted signer certificates by kid",
        auth="public", tag="certificates",
        response={"type": "object", "additionalProperties": {"type": "array"}}),
]  # fmt: skip
