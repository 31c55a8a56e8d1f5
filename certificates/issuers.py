"""Accredited issuers, their signing certificates, issuing, revoking and querying certificates.

Only accredited issuers (labs, hospitals, vaccination centres) sign certificates, with keys
Singgah keeps sealed (AES-GCM under a key the caller derives from the secret key). An issued
certificate is recorded without the holder's name or date of birth: its type, times, signer, a
test's result, and a hash of its certificate identifier (``ci``) to revoke it by.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from databases import Database

from certificates.errors import (
    AlreadyRevoked,
    CertificateRequestInvalid,
    DuplicateIssuer,
    InvalidCertificateContent,
    NoSigningCertificate,
    UnknownCertificate,
    UnknownIssuer,
)
from certificates.hc1 import encode_hc1, schema_errors
from certificates.signers import (
    CERTIFICATE_TYPES,
    TYPE_NAMES,
    create_signer_certificate,
    kid_text,
    load_trusted,
    seal_private_key,
    unseal_private_key,
)
from certificates.tables import issued_certificates, issuers, signing_certificates

ISSUER_KINDS = ("lab", "hospital", "vaccination_centre")
DCC_VERSION = "1.3.0"
# How long the signed HC1 stays valid (its CWT ``exp``). Entry rules (24 h for antigen tests,
# 72 h for PCR...) are the colour rules' business; this is only the outer bound.
DEFAULT_VALIDITY = {
    "t": timedelta(days=3),
    "v": timedelta(days=365),
    "r": timedelta(days=180),
}
SIGNER_VALIDITY = timedelta(days=2 * 365)
# SNOMED CT codes of the DCC test-result value set.
TEST_RESULTS = {"260373001": "positive", "260415000": "negative"}


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def from_epoch(seconds: int | None) -> str | None:
    return datetime.fromtimestamp(seconds, UTC).isoformat() if seconds is not None else None


@dataclass(frozen=True)
class Issuer:
    id: int
    name: str
    kind: str
    country: str
    is_active: bool

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "country": self.country,
            "is_active": self.is_active,
        }


@dataclass(frozen=True)
class SigningCertificate:
    """A signer's public side; its private key never leaves this module unsealed."""

    id: int
    issuer_id: int
    kid: str
    certificate_types: tuple[str, ...]
    der: bytes
    not_after: int

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "issuer_id": self.issuer_id,
            "kid": self.kid,
            "certificate_types": list(self.certificate_types),
            "certificate": base64.b64encode(self.der).decode(),
            "not_after": from_epoch(self.not_after),
        }


@dataclass(frozen=True)
class IssuedCertificate:
    id: int
    issuer_id: int
    kid: str
    certificate_type: str
    test_result: str | None
    sampled_at: int | None
    issued_at: int
    expires_at: int
    revoked_at: int | None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "issuer_id": self.issuer_id,
            "kid": self.kid,
            "certificate_type": self.certificate_type,
            "test_result": self.test_result,
            "sampled_at": from_epoch(self.sampled_at),
            "issued_at": from_epoch(self.issued_at),
            "expires_at": from_epoch(self.expires_at),
            "revoked_at": from_epoch(self.revoked_at),
        }


@dataclass(frozen=True)
class Issuance:
    """A freshly issued certificate: the record, its identifier and the HC1 to hand over."""

    record: IssuedCertificate
    ci: str
    hc1: str


def _issuer(row: Any) -> Issuer:
    return Issuer(row["id"], row["name"], row["kind"], row["country"], bool(row["is_active"]))


def _signing_certificate(row: Any) -> SigningCertificate:
    return SigningCertificate(
        id=row["id"],
        issuer_id=row["issuer_id"],
        kid=row["kid"],
        certificate_types=tuple(row["certificate_types"].split(",")),
        der=bytes(row["certificate"]),
        not_after=row["not_after"],
    )


ISSUED_COLUMNS = (
    issued_certificates.c.id,
    issued_certificates.c.issuer_id,
    signing_certificates.c.kid,
    issued_certificates.c.certificate_type,
    issued_certificates.c.test_result,
    issued_certificates.c.sampled_at,
    issued_certificates.c.issued_at,
    issued_certificates.c.expires_at,
    issued_certificates.c.revoked_at,
)
ISSUED_FROM = issued_certificates.join(
    signing_certificates,
    signing_certificates.c.id == issued_certificates.c.signing_certificate_id,
)


def _issued(row: Any) -> IssuedCertificate:
    return IssuedCertificate(**{column.name: row[column.name] for column in ISSUED_COLUMNS})


def ci_hash(ci: str) -> str:
    """The stored form of a certificate identifier; UVCIs compare case-insensitively."""
    return hashlib.sha256(ci.strip().upper().encode()).hexdigest()


def new_certificate_identifier(country: str) -> str:
    """A UVCI (``URN:UVCI:01:ID:...``) with an opaque random part."""
    opaque = base64.b32encode(secrets.token_bytes(15)).decode().rstrip("=")
    return f"URN:UVCI:01:{country}:{opaque}"


def machine_readable_name(name: str) -> str:
    """A name as ICAO 9303 writes it in the DCC's ``fnt``/``gnt``: A-Z and ``<``."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    words = "".join(c if c.isalpha() else " " for c in ascii_name.upper()).split()
    return "<".join(words)[:80]


async def create_issuer(
    db: Database, *, name: str, kind: str, country: str, now: datetime
) -> Issuer:
    if kind not in ISSUER_KINDS:
        raise CertificateRequestInvalid(
            f"an issuer is one of {', '.join(ISSUER_KINDS)}, not {kind!r}"
        )
    async with db.transaction():
        if await db.fetch_val(sa.select(issuers.c.id).where(issuers.c.name == name)):
            raise DuplicateIssuer(f"an issuer named {name!r} exists already")
        issuer_id = await db.fetch_val(
            sa.insert(issuers)
            .values(name=name, kind=kind, country=country, is_active=True, created_at=epoch(now))
            .returning(issuers.c.id)
        )
    return Issuer(issuer_id, name, kind, country, True)


async def find_issuer(db: Database, issuer_id: int) -> Issuer:
    row = await db.fetch_one(sa.select(issuers).where(issuers.c.id == issuer_id))
    if row is None:
        raise UnknownIssuer(f"there is no issuer {issuer_id}")
    return _issuer(row)


async def list_issuers(db: Database) -> list[Issuer]:
    return [_issuer(row) for row in await db.fetch_all(sa.select(issuers).order_by(issuers.c.id))]


async def create_signing_certificate(
    db: Database,
    issuer: Issuer,
    *,
    certificate_types: Iterable[str],
    now: datetime,
    sealing_key: bytes,
    valid_for: timedelta = SIGNER_VALIDITY,
) -> SigningCertificate:
    """A new key pair and certificate for ``issuer``, allowed to sign ``certificate_types``."""
    types = tuple(sorted(set(certificate_types)))
    if not types or not set(types) <= set(CERTIFICATE_TYPES):
        raise CertificateRequestInvalid("certificate types are a non-empty choice of t, v and r")
    key, der = create_signer_certificate(
        common_name=issuer.name, country=issuer.country, certificate_types=types, now=now,
        valid_for=valid_for,
    )  # fmt: skip
    signer = load_trusted(der)
    not_after = epoch(now + valid_for)
    certificate_id = await db.fetch_val(
        sa.insert(signing_certificates)
        .values(
            issuer_id=issuer.id,
            kid=kid_text(signer.kid),
            certificate_types=",".join(types),
            certificate=der,
            sealed_private_key=seal_private_key(key, sealing_key, signer.kid),
            not_after=not_after,
            created_at=epoch(now),
        )
        .returning(signing_certificates.c.id)
    )
    return SigningCertificate(
        certificate_id, issuer.id, kid_text(signer.kid), types, der, not_after
    )


async def list_signing_certificates(
    db: Database, issuer_id: int | None = None
) -> list[SigningCertificate]:
    query = sa.select(signing_certificates).where(signing_certificates.c.retired_at.is_(None))
    if issuer_id is not None:
        query = query.where(signing_certificates.c.issuer_id == issuer_id)
    rows = await db.fetch_all(query.order_by(signing_certificates.c.id))
    return [_signing_certificate(row) for row in rows]


async def _signer_for(db: Database, issuer: Issuer, kind: str, now: datetime) -> Any:
    rows = await db.fetch_all(
        sa.select(signing_certificates)
        .where(
            signing_certificates.c.issuer_id == issuer.id,
            signing_certificates.c.retired_at.is_(None),
            signing_certificates.c.not_after > epoch(now),
        )
        .order_by(signing_certificates.c.id.desc())
    )
    for row in rows:
        if kind in row["certificate_types"].split(","):
            return row
    raise NoSigningCertificate(
        f"{issuer.name} has no valid signing certificate for {TYPE_NAMES[kind]} certificates"
    )


def build_dcc(issuer: Issuer, request: Mapping[str, Any], kind: str, ci: str) -> dict[str, Any]:
    """The DCC for an issuing request ``{nam, dob, v|t|r: {entry}}``: Singgah fills in the
    version, the machine-readable names when missing, and the entry's ``co``, ``is`` and ``ci``."""
    names = dict(request.get("nam", {}))
    for plain, machine in (("fn", "fnt"), ("gn", "gnt")):
        if names.get(plain) and not names.get(machine):
            names[machine] = machine_readable_name(names[plain])
    entry = {**request[kind], "co": issuer.country, "is": issuer.name, "ci": ci}
    return {"ver": DCC_VERSION, "nam": names, "dob": request.get("dob"), kind: [entry]}


def requested_type(request: Mapping[str, Any]) -> str:
    kinds = [kind for kind in CERTIFICATE_TYPES if kind in request]
    if len(kinds) != 1:
        raise CertificateRequestInvalid("a certificate holds exactly one of v, t or r")
    return kinds[0]


def _test_facts(kind: str, entry: Mapping[str, Any]) -> tuple[str | None, int | None]:
    """A test's result and sampling time, kept so positive results can start cases."""
    if kind != "t":
        return None, None
    sampled = datetime.fromisoformat(str(entry["sc"]).replace("Z", "+00:00"))
    return TEST_RESULTS.get(str(entry.get("tr"))), epoch(sampled)


async def issue_certificate(
    db: Database,
    issuer: Issuer,
    request: Mapping[str, Any],
    *,
    now: datetime,
    sealing_key: bytes,
    issued_by: int | None = None,
    valid_for: timedelta | None = None,
) -> Issuance:
    """Sign and record a certificate; `InvalidCertificateContent` if it breaks the schema."""
    if not issuer.is_active:
        raise CertificateRequestInvalid(f"{issuer.name} is not an active issuer")
    kind = requested_type(request)
    ci = new_certificate_identifier(issuer.country)
    dcc = build_dcc(issuer, request, kind, ci)
    problems = schema_errors(dcc)
    if problems:
        summary = "; ".join(f"{p['pointer']}: {p['detail']}" for p in problems[:3])
        raise InvalidCertificateContent(
            f"the certificate breaks the DCC schema: {summary}", problems
        )
    try:
        test_result, sampled_at = _test_facts(kind, dcc[kind][0])
    except ValueError as exc:
        raise InvalidCertificateContent(
            f"the sample time is not ISO 8601: {exc}",
            [{"pointer": "#/t/sc", "detail": "breaks format date-time"}],
        ) from exc
    expires = now + (valid_for or DEFAULT_VALIDITY[kind])
    row = await _signer_for(db, issuer, kind, now)
    signer = load_trusted(bytes(row["certificate"]))
    key = unseal_private_key(bytes(row["sealed_private_key"]), sealing_key, signer.kid)
    hc1 = encode_hc1(
        dcc,
        issuer_country=issuer.country,
        issued_at=now,
        expires_at=expires,
        private_key=key,
        kid=signer.kid,
    )
    values = {
        "issuer_id": issuer.id,
        "signing_certificate_id": row["id"],
        "issued_by": issued_by,
        "certificate_type": kind,
        "ci_hash": ci_hash(ci),
        "test_result": test_result,
        "sampled_at": sampled_at,
        "issued_at": epoch(now),
        "expires_at": epoch(expires),
    }
    certificate_id = await db.fetch_val(
        sa.insert(issued_certificates).values(**values).returning(issued_certificates.c.id)
    )
    record = IssuedCertificate(
        id=certificate_id,
        issuer_id=issuer.id,
        kid=row["kid"],
        certificate_type=kind,
        test_result=test_result,
        sampled_at=sampled_at,
        issued_at=epoch(now),
        expires_at=epoch(expires),
        revoked_at=None,
    )
    return Issuance(record, ci, hc1)


async def find_issued(db: Database, certificate_id: int) -> IssuedCertificate:
    row = await db.fetch_one(
        sa.select(*ISSUED_COLUMNS)
        .select_from(ISSUED_FROM)
        .where(issued_certificates.c.id == certificate_id)
    )
    if row is None:
        raise UnknownCertificate(f"there is no issued certificate {certificate_id}")
    return _issued(row)


async def list_issued(
    db: Database, issuer_id: int | None = None, limit: int = 100
) -> list[IssuedCertificate]:
    query = sa.select(*ISSUED_COLUMNS).select_from(ISSUED_FROM)
    if issuer_id is not None:
        query = query.where(issued_certificates.c.issuer_id == issuer_id)
    rows = await db.fetch_all(query.order_by(issued_certificates.c.id.desc()).limit(limit))
    return [_issued(row) for row in rows]


async def list_positive_results(db: Database, since: datetime) -> list[IssuedCertificate]:
    """Positive tests sampled at or after ``since`` and not revoked, oldest first: what the
    exposure package turns into pending cases."""
    rows = await db.fetch_all(
        sa.select(*ISSUED_COLUMNS)
        .select_from(ISSUED_FROM)
        .where(
            issued_certificates.c.test_result == "positive",
            issued_certificates.c.sampled_at >= epoch(since),
            issued_certificates.c.revoked_at.is_(None),
        )
        .order_by(issued_certificates.c.sampled_at, issued_certificates.c.id)
    )
    return [_issued(row) for row in rows]


async def revoke_certificate(
    db: Database, certificate: IssuedCertificate, *, now: datetime, reason: str
) -> IssuedCertificate:
    """Mark ``certificate`` revoked: from now on it fails verification with its own reason."""
    async with db.transaction():
        changed = await db.fetch_val(
            sa.update(issued_certificates)
            .where(
                issued_certificates.c.id == certificate.id,
                issued_certificates.c.revoked_at.is_(None),
            )
            .values(revoked_at=epoch(now), revocation_reason=reason)
            .returning(issued_certificates.c.id)
        )
    if changed is None:
        raise AlreadyRevoked(f"certificate {certificate.id} is revoked already")
    return await find_issued(db, certificate.id)


async def revocation_time(db: Database, ci: str) -> int | None:
    """When the certificate with identifier ``ci`` was revoked, or None."""
    return await db.fetch_val(
        sa.select(issued_certificates.c.revoked_at).where(
            issued_certificates.c.ci_hash == ci_hash(ci)
        )
    )
