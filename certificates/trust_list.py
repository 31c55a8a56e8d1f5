"""The trust list: our issuers' signing certificates plus imported foreign ones, by ``kid``.

Served as ``{kid: [base64 DER, ...]}``. Imports accept that same shape (so one Singgah can
trust another's list), a plain JSON array of base64 DER certificates, or either wrapped in
``{"certificates": ...}``. A ``kid`` given in a file is ignored: it is recomputed from the
certificate, so a file cannot bind a certificate to someone else's kid.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from databases import Database

from certificates.errors import InvalidSignerCertificate, TrustListImportError
from certificates.issuers import epoch, revocation_time
from certificates.signers import (
    TrustedCertificate,
    TrustStore,
    kid_text,
    load_trusted,
    load_trusted_base64,
    trust_store,
)
from certificates.tables import signing_certificates, trusted_certificates
from certificates.verify import Outcome, Step, VerificationResult, verify_hc1


async def trusted_signers(db: Database) -> list[TrustedCertificate]:
    """Every certificate Singgah trusts: its own issuers' (unretired) and imported ones."""
    own = await db.fetch_all(
        sa.select(signing_certificates.c.certificate).where(
            signing_certificates.c.retired_at.is_(None)
        )
    )
    imported = await db.fetch_all(sa.select(trusted_certificates.c.certificate))
    return [load_trusted(bytes(row[0])) for row in [*own, *imported]]


async def load_trust_store(db: Database) -> TrustStore:
    return trust_store(await trusted_signers(db))


async def trust_list_document(db: Database) -> dict[str, list[str]]:
    """The trust list as served: base64 kid -> base64 DER certificates."""
    store = await load_trust_store(db)
    return {
        kid_text(kid): [c.base64() for c in certificates]
        for kid, certificates in sorted(store.items())
    }


def _entries(document: Any) -> list[str]:
    if isinstance(document, dict) and set(document) == {"certificates"}:
        document = document["certificates"]
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        return [
            item
            for value in document.values()
            for item in (value if isinstance(value, list) else [value])
        ]
    raise TrustListImportError("a trust list is a JSON array or object of base64 certificates")


def parse_trust_list(text: str) -> list[TrustedCertificate]:
    """The certificates in a trust list file; `TrustListImportError` names the bad entry."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TrustListImportError(f"the trust list is not JSON: {exc}") from exc
    found = []
    for number, entry in enumerate(_entries(document), start=1):
        if not isinstance(entry, str):
            raise TrustListImportError(f"entry {number} is not a base64 string")
        try:
            found.append(load_trusted_base64(entry))
        except InvalidSignerCertificate as exc:
            raise TrustListImportError(f"entry {number}: {exc}") from exc
    if not found:
        raise TrustListImportError("the trust list holds no certificates")
    return found


async def import_trusted(
    db: Database, certificates: list[TrustedCertificate], *, source: str, now: datetime
) -> int:
    """Add the certificates not trusted yet; returns how many were new."""
    added = 0
    async with db.transaction():
        for certificate in certificates:
            fingerprint = hashlib.sha256(certificate.der).hexdigest()
            exists = await db.fetch_val(
                sa.select(trusted_certificates.c.id).where(
                    trusted_certificates.c.fingerprint == fingerprint
                )
            )
            if exists:
                continue
            await db.execute(
                sa.insert(trusted_certificates).values(
                    kid=kid_text(certificate.kid),
                    fingerprint=fingerprint,
                    certificate=certificate.der,
                    source=source,
                    imported_at=epoch(now),
                )
            )
            added += 1
    return added


async def revocation_step(db: Database, result: VerificationResult) -> Step:
    """Whether the certificate's identifier was revoked by its Singgah issuer."""
    ci = result.claims.certificate_identifier if result.claims else None
    if ci is None:
        return Step("revocation", Outcome.PASS, "no certificate identifier to be revoked by")
    revoked_at = await revocation_time(db, ci)
    if revoked_at is not None:
        when = datetime.fromtimestamp(revoked_at, UTC).isoformat()
        return Step("revocation", Outcome.FAIL, f"revoked by its issuer on {when}")
    return Step("revocation", Outcome.PASS, "not revoked")


async def verify_with_trust_list(db: Database, text: str, now: datetime) -> VerificationResult:
    """Verify ``text`` against the trust list at ``now``, then check revocation."""
    result = verify_hc1(text, await load_trust_store(db), now)
    if result.claims is None:
        return result.with_step(
            Step("revocation", Outcome.NOT_REACHED, "not reached: the certificate is unreadable")
        )
    return result.with_step(await revocation_step(db, result))
