"""Visitors: pseudonymous identities created on first scan, and people checked in by staff.

A visitor's bearer token is ``sgv_<id>.<mac>``, the id plus an HMAC of it under a key derived
from the secret key. The server checks it without a database read, which keeps the check-in
hot path short; a forged or altered token fails the MAC. Optional personal data (name, phone
number, NIK) is sealed with AES-GCM (the key id is stored beside it so keys can rotate); NIK
and phone are also kept as keyed hashes so staff can find a person without decrypting anyone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from databases import Database

from checkin.errors import InvalidNik, InvalidVisitorToken
from checkin.tables import visitors

TOKEN_PREFIX = "sgv_"  # noqa: S105 (a prefix, not a secret)
VISITOR_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")
NIK = re.compile(r"^\d{16}$")
PHONE = re.compile(r"^\+?\d{8,15}$")


@dataclass(frozen=True)
class PersonalDataKeys:
    """Keys for personal data, derived by the caller from the secret key.

    New data is sealed with ``sealing_key`` under ``key_id``; ``older_sealing_keys`` (key id ->
    key) still open what earlier key ids sealed, until `singgah keys rotate-data-key` has
    re-sealed it. The lookup and token keys do not rotate with the sealing key, so NIK and
    phone lookups and visitors' tokens keep working across a rotation."""

    key_id: str
    sealing_key: bytes  # AES-256-GCM
    lookup_key: bytes  # HMAC-SHA256 for NIK and phone lookups
    token_key: bytes  # HMAC-SHA256 for visitor bearer tokens
    older_sealing_keys: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class Profile:
    name: str | None = None
    phone: str | None = None
    nik: str | None = None

    def initials(self) -> str:
        return "".join(part[0].upper() for part in (self.name or "").split()[:3])


@dataclass(frozen=True)
class Visitor:
    id: str
    kind: str
    guardian_id: str | None


def check_nik(nik: str) -> str:
    """A plausible Indonesian NIK: 16 digits, a province code, a birth date (day + 40 for
    women) and a serial that is not 0000."""
    if not NIK.match(nik):
        raise InvalidNik("a NIK is 16 digits")
    province, day, month = int(nik[:2]), int(nik[6:8]), int(nik[8:10])
    if not 11 <= province <= 96:
        raise InvalidNik(f"a NIK starts with a province code (11..96), not {nik[:2]}")
    day = day - 40 if day > 40 else day
    try:
        date(2000, month, day)  # a leap year, so 29 February is allowed
    except ValueError as exc:
        raise InvalidNik("the NIK's birth date (digits 7 to 12) is not a date") from exc
    if nik[12:] == "0000":
        raise InvalidNik("the NIK's serial (last 4 digits) cannot be 0000")
    return nik


def normalise_phone(phone: str) -> str:
    digits = re.sub(r"[\s().-]", "", phone)
    if digits.startswith("0"):
        digits = "+62" + digits[1:]  # Indonesian national format
    if not PHONE.match(digits):
        raise InvalidNik(f"{phone!r} is not a phone number")
    return digits


def lookup_hash(keys: PersonalDataKeys, kind: str, value: str) -> str:
    return hmac.new(keys.lookup_key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def seal(keys: PersonalDataKeys, context: str, plain: bytes) -> bytes:
    """``plain`` sealed with AES-GCM; ``context`` (associated data) binds it to its owner and
    purpose, so a sealed value copied to another row or column does not open."""
    nonce = os.urandom(12)
    return nonce + AESGCM(keys.sealing_key).encrypt(nonce, plain, context.encode())


def unseal(keys: PersonalDataKeys, context: str, sealed: bytes) -> bytes:
    """Open ``sealed`` with the current key or, for data not yet re-sealed, an older one (a
    wrong key fails GCM's tag, so trying each is safe)."""
    for key in (keys.sealing_key, *keys.older_sealing_keys.values()):
        try:
            return AESGCM(key).decrypt(sealed[:12], sealed[12:], context.encode())
        except InvalidTag:
            continue
    raise InvalidTag("no personal-data key opens this value")


def seal_json(keys: PersonalDataKeys, context: str, data: dict[str, Any]) -> bytes:
    return seal(keys, context, json.dumps(data).encode())


def unseal_json(keys: PersonalDataKeys, context: str, sealed: bytes) -> dict[str, Any]:
    return json.loads(unseal(keys, context, sealed))


def seal_profile(keys: PersonalDataKeys, visitor_id: str, profile: Profile) -> bytes:
    return seal_json(keys, visitor_id, asdict(profile))


def unseal_profile(keys: PersonalDataKeys, visitor_id: str, sealed: bytes) -> Profile:
    return Profile(**unseal_json(keys, visitor_id, sealed))


def _mac(keys: PersonalDataKeys, visitor_id: str) -> str:
    digest = hmac.new(keys.token_key, visitor_id.encode(), hashlib.sha256).digest()[:18]
    return base64.urlsafe_b64encode(digest).decode()


def visitor_token(keys: PersonalDataKeys, visitor_id: str) -> str:
    return f"{TOKEN_PREFIX}{visitor_id}.{_mac(keys, visitor_id)}"


def visitor_id_from_token(keys: PersonalDataKeys, token: str) -> str:
    """The visitor id a token names, checked by its MAC alone (no database read)."""
    body = token.removeprefix(TOKEN_PREFIX)
    visitor_id, _, mac = body.partition(".")
    if (
        not token.startswith(TOKEN_PREFIX)
        or not VISITOR_ID.match(visitor_id)
        or not hmac.compare_digest(mac, _mac(keys, visitor_id))
    ):
        raise InvalidVisitorToken("the visitor token is not valid; register again")
    return visitor_id


def checked_profile(profile: Profile) -> Profile:
    """The profile with its NIK checked, its phone number normalised and its name trimmed."""
    phone = normalise_phone(profile.phone) if profile.phone else None
    nik = check_nik(profile.nik) if profile.nik else None
    return Profile((profile.name or "").strip() or None, phone, nik)


def _profile_columns(keys: PersonalDataKeys, visitor_id: str, profile: Profile) -> dict[str, Any]:
    profile = checked_profile(profile)
    phone, nik = profile.phone, profile.nik
    empty = profile == Profile()
    return {
        "profile_sealed": None if empty else seal_profile(keys, visitor_id, profile),
        "profile_key_id": None if empty else keys.key_id,
        "nik_hash": lookup_hash(keys, "nik", nik) if nik else None,
        "phone_hash": lookup_hash(keys, "phone", phone) if phone else None,
    }


async def create_visitor(
    db: Database,
    keys: PersonalDataKeys,
    now: datetime,
    *,
    kind: str = "device",
    profile: Profile | None = None,
    guardian_id: str | None = None,
) -> Visitor:
    """A new visitor: ``device`` (a phone), ``dependant`` (checked in with a guardian) or
    ``assisted`` (checked in by staff, identified by NIK)."""
    visitor_id = secrets.token_urlsafe(16)
    await db.execute(
        sa.insert(visitors).values(
            id=visitor_id,
            kind=kind,
            guardian_id=guardian_id,
            created_at=int(now.timestamp()),
            **_profile_columns(keys, visitor_id, profile or Profile()),
        )
    )
    return Visitor(visitor_id, kind, guardian_id)


async def update_profile(
    db: Database, keys: PersonalDataKeys, visitor_id: str, profile: Profile
) -> None:
    await db.execute(
        sa.update(visitors)
        .where(visitors.c.id == visitor_id)
        .values(**_profile_columns(keys, visitor_id, profile))
    )


async def find_visitor(db: Database, visitor_id: str) -> Visitor:
    row = await db.fetch_one(
        sa.select(visitors.c.id, visitors.c.kind, visitors.c.guardian_id).where(
            visitors.c.id == visitor_id
        )
    )
    if row is None:
        raise InvalidVisitorToken("this visitor no longer exists; register again")
    return Visitor(row["id"], row["kind"], row["guardian_id"])


async def read_profile(db: Database, keys: PersonalDataKeys, visitor_id: str) -> Profile:
    sealed = await db.fetch_val(
        sa.select(visitors.c.profile_sealed).where(visitors.c.id == visitor_id)
    )
    return unseal_profile(keys, visitor_id, bytes(sealed)) if sealed else Profile()


async def find_by_nik(db: Database, keys: PersonalDataKeys, nik: str) -> Visitor | None:
    row = await db.fetch_one(
        sa.select(visitors.c.id, visitors.c.kind, visitors.c.guardian_id)
        .where(visitors.c.nik_hash == lookup_hash(keys, "nik", check_nik(nik)))
        .order_by(visitors.c.created_at)
        .limit(1)
    )
    return Visitor(row["id"], row["kind"], row["guardian_id"]) if row else None


async def dependants_of(db: Database, guardian_id: str) -> list[Visitor]:
    rows = await db.fetch_all(
        sa.select(visitors.c.id, visitors.c.kind, visitors.c.guardian_id).where(
            visitors.c.guardian_id == guardian_id
        )
    )
    return [Visitor(row["id"], row["kind"], row["guardian_id"]) for row in rows]
