"""The visitor wallet: the health certificates a visitor added, their colour, and the door.

A certificate is verified against the trust list (every step, revocation included) before it
is kept. Its HC1 names the holder and their birth date, so it is sealed (`visitors.seal`, bound
to the visitor); the facts the colour rules read are kept in clear. A certificate counts for
the colour until its HC1 expires or its issuer revokes it.

The colour holds until the first moment it would change: a rule's window ends (a test's 24 or
72 hours) or a certificate it rests on expires. The case status (positive, close contact)
comes from the caller: the exposure side knows it, this package does not.

The door decision is that colour against the venue's entry policy. The door is shown the
colour, the holder's initials and until when the colour holds, never the visits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from databases import Database

from certificates.colour import (
    CaseStatus,
    ColourDecision,
    ColourRules,
    Fact,
    LabTest,
    Recovery,
    Vaccination,
    certificate_facts,
    status_colour,
)
from certificates.hc1 import read_claims
from certificates.issuers import ci_hash
from certificates.tables import issued_certificates
from certificates.trust_list import verify_with_trust_list
from certificates.verify import Outcome, VerificationResult
from checkin.errors import (
    CertificateAlreadyInWallet,
    CertificateRejected,
    WalletCertificateNotFound,
    WalletFull,
)
from checkin.tables import visitors, wallet_certificates
from checkin.visitors import (
    PersonalDataKeys,
    Profile,
    find_visitor,
    seal,
    unseal,
    unseal_profile,
)
from checkin.visits import epoch, iso
from venues.registry import Venue

MAX_CERTIFICATES = 20  # a family's worth; more is someone filling the database
ONE_SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class WalletCertificate:
    id: int
    certificate_type: str  # v, t or r
    fact: Fact
    issuer_country: str | None
    issued_at: int
    expires_at: int
    added_at: int
    revoked: bool
    initials: str

    def counts_at(self, moment: datetime) -> bool:
        """Whether the certificate still counts for the colour (its HC1's expiry included)."""
        return not self.revoked and moment.timestamp() <= self.expires_at

    def public(self, now: datetime) -> dict[str, Any]:
        """What the visitor's own wallet shows; never the HC1, the name or the birth date."""
        return {
            "id": self.id,
            "certificate_type": self.certificate_type,
            "issuer_country": self.issuer_country,
            "initials": self.initials,
            "issued_at": iso(self.issued_at),
            "expires_at": iso(self.expires_at),
            "added_at": iso(self.added_at),
            "status": "revoked" if self.revoked else "valid" if self.counts_at(now) else "expired",
            **fact_json(self.fact),
        }


@dataclass(frozen=True)
class VisitorStatus:
    decision: ColourDecision
    initials: str

    def public(self) -> dict[str, Any]:
        until = self.decision.valid_until
        return {
            "colour": self.decision.colour.value,
            "reason": self.decision.reason,
            "valid_until": until.isoformat().replace("+00:00", "Z") if until else None,
            "initials": self.initials,
        }


@dataclass(frozen=True)
class DoorDecision:
    status: VisitorStatus
    allowed: bool
    reason: str

    def public(self) -> dict[str, Any]:
        return self.status.public() | {"allowed": self.allowed, "reason": self.reason}


def fact_json(fact: Fact) -> dict[str, Any]:
    if isinstance(fact, Vaccination):
        return {"dose_number": fact.dose_number, "series_doses": fact.series_doses}
    if isinstance(fact, LabTest):
        result = "positive" if fact.positive else "negative"
        return {
            "test_kind": fact.kind,
            "test_result": result,
            "sampled_at": iso(epoch(fact.sampled_at)),
        }
    return {"valid_from": fact.valid_from.isoformat(), "valid_until": fact.valid_until.isoformat()}


def _day_start(day: date) -> int:
    return epoch(datetime(day.year, day.month, day.day, tzinfo=UTC))


def _day(seconds: int) -> date:
    return datetime.fromtimestamp(seconds, UTC).date()


def _fact_columns(fact: Fact) -> dict[str, Any]:
    if isinstance(fact, Vaccination):
        return {"dose_number": fact.dose_number, "series_doses": fact.series_doses}
    if isinstance(fact, LabTest):
        sampled = epoch(fact.sampled_at)
        return {"test_kind": fact.kind, "test_positive": fact.positive, "sampled_at": sampled}
    return {
        "recovery_from": _day_start(fact.valid_from),
        "recovery_until": _day_start(fact.valid_until),
    }


def _fact(row: Any) -> Fact:
    kind = row["certificate_type"]
    if kind == "v":
        return Vaccination(row["dose_number"], row["series_doses"])
    if kind == "t":
        sampled = datetime.fromtimestamp(row["sampled_at"], UTC)
        return LabTest(row["test_kind"], bool(row["test_positive"]), sampled)
    return Recovery(_day(row["recovery_from"]), _day(row["recovery_until"]))


def wallet_context(visitor_id: str) -> str:
    # Bound to the visitor and the purpose: a sealed HC1 opens only in its own wallet row.
    return f"wallet:{visitor_id}"


def holder_initials(dcc: dict[str, Any]) -> str:
    """The holder's initials, given names first (``Rina Siregar`` -> ``RS``)."""
    names = dcc.get("nam") if isinstance(dcc.get("nam"), dict) else {}
    given = names.get("gn") or str(names.get("gnt") or "").replace("<", " ")
    family = names.get("fn") or str(names.get("fnt") or "").replace("<", " ")
    return Profile(name=f"{given} {family}").initials()


# The holder's initials of each sealed HC1 read so far, by visitor and sealed bytes. Every door
# decision shows them (every check-in of a visitor with certificates makes one), and reading
# them opens and decodes the HC1 (AES-GCM, base45, zlib, COSE, CBOR): 86 us a certificate on
# these machines, against well under 1 us for this lookup. Keyed by the ciphertext, so no
# plaintext is kept, and an entry cannot go stale: a re-sealed (key rotation) or another
# certificate is another key, and a key is only stored once that visitor's keys opened it.
# Bounded (about 7 MB full); a full table starts over.
INITIALS_KEPT = 10_000
_initials_by_sealed: dict[tuple[str, bytes], str] = {}


def _sealed_initials(keys: PersonalDataKeys, visitor_id: str, sealed: bytes) -> str:
    key = (visitor_id, sealed)
    initials = _initials_by_sealed.get(key)
    if initials is None:
        hc1 = unseal(keys, wallet_context(visitor_id), sealed).decode()
        initials = holder_initials(read_claims(hc1).dcc)
        if len(_initials_by_sealed) >= INITIALS_KEPT:
            _initials_by_sealed.clear()
        _initials_by_sealed[key] = initials
    return initials


def _rejection(result: VerificationResult) -> CertificateRejected:
    failed = [f"{s.name}: {s.reason}" for s in result.steps if s.outcome is Outcome.FAIL]
    detail = "the certificate did not pass verification (" + "; ".join(failed) + ")"
    return CertificateRejected(detail, result.to_json())


async def add_certificate(
    db: Database, keys: PersonalDataKeys, visitor_id: str, hc1: str, now: datetime
) -> WalletCertificate:
    """Verify ``hc1`` against the trust list and keep it in the visitor's wallet."""
    await find_visitor(db, visitor_id)
    text = hc1.strip()
    result = await verify_with_trust_list(db, text, now)
    if not result.valid or result.claims is None:
        raise _rejection(result)
    claims = result.claims
    facts = certificate_facts(claims.dcc)
    if not facts:
        raise CertificateRejected("the certificate holds no dose, test or recovery to go by")
    ci = claims.certificate_identifier
    owned = sa.select(sa.func.count()).where(wallet_certificates.c.visitor_id == visitor_id)
    if await db.fetch_val(owned) >= MAX_CERTIFICATES:
        raise WalletFull(f"a wallet holds at most {MAX_CERTIFICATES} certificates; delete some")
    if ci and await db.fetch_val(owned.where(wallet_certificates.c.ci_hash == ci_hash(ci))):
        raise CertificateAlreadyInWallet("this certificate is in your wallet already")
    certificate_id = await db.execute(
        sa.insert(wallet_certificates).values(
            visitor_id=visitor_id,
            certificate_type=claims.certificate_type,
            ci_hash=ci_hash(ci) if ci else None,
            issuer_country=claims.issuer,
            issued_at=int(claims.issued_at or 0),
            expires_at=int(claims.expires_at or 0),
            hc1_sealed=seal(keys, wallet_context(visitor_id), text.encode()),
            key_id=keys.key_id,
            added_at=epoch(now),
            **_fact_columns(facts[0]),
        )
    )
    return await find_certificate(db, keys, visitor_id, certificate_id)


def _revoked() -> sa.ColumnElement[bool]:
    return (
        sa.exists()
        .where(
            issued_certificates.c.ci_hash == wallet_certificates.c.ci_hash,
            issued_certificates.c.revoked_at.is_not(None),
        )
        .label("revoked")
    )


# Built once: the door decision of every check-in reads the visitor's wallet.
CERTIFICATES_OF = (
    sa.select(wallet_certificates, _revoked())
    .where(wallet_certificates.c.visitor_id == sa.bindparam("visitor_id"))
    .order_by(wallet_certificates.c.added_at.desc(), wallet_certificates.c.id.desc())
)
CERTIFICATE_OF = CERTIFICATES_OF.where(wallet_certificates.c.id == sa.bindparam("id"))
# What the door decision needs in one statement: the sealed profile (for the initials when
# no certificate counts) and the wallet; a visitor with no certificates gets one row whose
# certificate columns are null.
PROFILE_AND_CERTIFICATES = (
    sa.select(visitors.c.profile_sealed, *wallet_certificates.c, _revoked())
    .select_from(
        visitors.outerjoin(wallet_certificates, wallet_certificates.c.visitor_id == visitors.c.id)
    )
    .where(visitors.c.id == sa.bindparam("visitor_id"))
    .order_by(wallet_certificates.c.added_at.desc(), wallet_certificates.c.id.desc())
)


async def _certificates(
    db: Database, keys: PersonalDataKeys, visitor_id: str, certificate_id: int | None = None
) -> list[WalletCertificate]:
    if certificate_id is None:
        rows = await db.fetch_all(CERTIFICATES_OF, {"visitor_id": visitor_id})
    else:
        values = {"visitor_id": visitor_id, "id": certificate_id}
        rows = await db.fetch_all(CERTIFICATE_OF, values)
    return _wallet(keys, visitor_id, rows)


def _wallet(
    keys: PersonalDataKeys, visitor_id: str, rows: Sequence[Any]
) -> list[WalletCertificate]:
    return [
        WalletCertificate(
            id=row["id"],
            certificate_type=row["certificate_type"],
            fact=_fact(row),
            issuer_country=row["issuer_country"],
            issued_at=row["issued_at"],
            expires_at=row["expires_at"],
            added_at=row["added_at"],
            revoked=bool(row["revoked"]),
            initials=_sealed_initials(keys, visitor_id, bytes(row["hc1_sealed"])),
        )
        for row in rows
    ]


async def wallet_of(
    db: Database, keys: PersonalDataKeys, visitor_id: str
) -> list[WalletCertificate]:
    """The visitor's certificates, newest first, expired and revoked ones included."""
    return await _certificates(db, keys, visitor_id)


async def find_certificate(
    db: Database, keys: PersonalDataKeys, visitor_id: str, certificate_id: int
) -> WalletCertificate:
    """One of the visitor's own certificates; another visitor's is not found."""
    found = await _certificates(db, keys, visitor_id, certificate_id)
    if not found:
        raise WalletCertificateNotFound(f"there is no certificate {certificate_id} in your wallet")
    return found[0]


async def delete_certificate(
    db: Database, keys: PersonalDataKeys, visitor_id: str, certificate_id: int
) -> None:
    await find_certificate(db, keys, visitor_id, certificate_id)
    await db.execute(
        sa.delete(wallet_certificates).where(
            wallet_certificates.c.id == certificate_id,
            wallet_certificates.c.visitor_id == visitor_id,
        )
    )


def lasting_colour(
    certificates: Sequence[WalletCertificate],
    case: CaseStatus,
    now: datetime,
    rules: ColourRules,
) -> ColourDecision:
    """The colour at ``now`` and the last moment it holds: walk the moments where something
    lapses (a rule's window, a certificate's expiry) until the colour changes."""

    def colour_at(moment: datetime) -> ColourDecision:
        facts = [c.fact for c in certificates if c.counts_at(moment)]
        return status_colour(facts, case, moment, rules)

    current = decision = colour_at(now)
    moment = now
    expiries = [datetime.fromtimestamp(c.expires_at, UTC) for c in certificates if not c.revoked]
    while True:
        lapses = [t for t in (decision.valid_until, *expiries) if t is not None and t >= moment]
        if not lapses:  # nothing lapses: the colour holds with no known end
            return current if current.valid_until is None else replace(current, valid_until=None)
        last = min(lapses)
        decision = colour_at(last + ONE_SECOND)
        if decision.colour != current.colour:
            return replace(current, valid_until=last)
        moment = last + ONE_SECOND


async def visitor_status(
    db: Database,
    keys: PersonalDataKeys,
    visitor_id: str,
    now: datetime,
    rules: ColourRules,
    case: CaseStatus,
) -> VisitorStatus:
    """The visitor's colour now, until when it holds, and the initials to show with it (from
    the newest counting certificate, else from their profile)."""
    rows = await db.fetch_all(PROFILE_AND_CERTIFICATES, {"visitor_id": visitor_id})
    return status_from_rows(keys, visitor_id, rows, now, rules, case)


def status_from_rows(
    keys: PersonalDataKeys,
    visitor_id: str,
    rows: Sequence[Any],
    now: datetime,
    rules: ColourRules,
    case: CaseStatus,
) -> VisitorStatus:
    """`visitor_status` from the rows of `PROFILE_AND_CERTIFICATES` (or of a statement that
    adds columns to it, as the door's single read does)."""
    certificates = _wallet(keys, visitor_id, [row for row in rows if row["id"] is not None])
    decision = lasting_colour(certificates, case, now, rules)
    counting = [c for c in certificates if c.counts_at(now)]
    if counting:
        return VisitorStatus(decision, counting[0].initials)
    sealed = rows[0]["profile_sealed"] if rows else None
    initials = unseal_profile(keys, visitor_id, bytes(sealed)).initials() if sealed else ""
    return VisitorStatus(decision, initials)


def door_decision(status: VisitorStatus, venue: Venue) -> DoorDecision:
    """Whether the venue's entry policy lets this colour in."""
    colour = status.decision.colour.value
    if colour in venue.entry_policy:
        return DoorDecision(status, True, status.decision.reason)
    admitted = ", ".join(venue.entry_policy)
    reason = f"{status.decision.reason}; {venue.name} admits {admitted} only"
    return DoorDecision(status, False, reason)
