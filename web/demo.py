"""Demo data for ``singgah serve --demo``: one account per role, created on first start only.

The issuer account acts for a demo lab with its own signing certificate, so it can issue test
and vaccination certificates straight away.

The passwords are printed once and kept in ``<data dir>/demo-credentials.txt`` (mode 0600) so a
person trying Singgah can find them again. Never use ``--demo`` in production.
"""

from __future__ import annotations

import os
import secrets
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from databases import Database

from certificates.issuers import create_issuer, create_signing_certificate
from certificates.signers import CERTIFICATE_TYPES
from venues.registry import VenueFields, VenueKind, create_venue, venue_token
from venues.tokens import checkin_url
from web.accounts import Role, create_user, find_user_by_email
from web.keyring import venue_key_encryption_key
from web.routes_certificates import sealing_key
from web.scopes import assign_manager
from web.settings import Settings
from web.tables import users

DEMO_ACCOUNTS: tuple[tuple[str, Role, str | None, str], ...] = (
    ("admin@demo.singgah.id", Role.ADMIN, None, "Demo Admin"),
    ("official@demo.singgah.id", Role.HEALTH_OFFICIAL, "16", "Dinas Kesehatan Sumsel"),
    ("manager@demo.singgah.id", Role.VENUE_MANAGER, None, "Pengelola Mal Demo"),
    ("officer@demo.singgah.id", Role.CHECKPOINT_OFFICER, None, "Petugas Pos Demo"),
    ("issuer@demo.singgah.id", Role.ISSUER, None, "Lab Demo"),
)
CREDENTIALS_FILE = "demo-credentials.txt"
DEMO_LAB = "Laboratorium Kesehatan Daerah Palembang (demo)"


async def seed_demo_lab(db: Database, now: datetime, settings: Settings) -> int:
    """A demo lab allowed to sign every certificate type; returns its issuer id."""
    lab = await create_issuer(db, name=DEMO_LAB, kind="lab", country="ID", now=now)
    await create_signing_certificate(
        db, lab, certificate_types=CERTIFICATE_TYPES, now=now, sealing_key=sealing_key(settings)
    )
    return lab.id


async def seed_demo_accounts(db: Database, now: datetime, settings: Settings) -> str | None:
    """Create the demo accounts (the issuer account bound to a demo lab) when there are no users
    yet; return the credentials text."""
    if await db.fetch_val(sa.select(sa.func.count()).select_from(users)):
        return None
    lab_id = await seed_demo_lab(db, now, settings)
    lines = ["Demo accounts (first start only; also in data/" + CREDENTIALS_FILE + "):"]
    for email, role, region, name in DEMO_ACCOUNTS:
        password = secrets.token_urlsafe(12)
        await create_user(
            db,
            email=email,
            role=role,
            password=password,
            now=now,
            region_prefix=region,
            display_name=name,
            issuer_id=lab_id if role is Role.ISSUER else None,
        )
        lines.append(f"  {role.value:<20} {email:<28} {password}")
    return "\n".join(lines) + "\n"


def save_credentials(data_dir: Path, text: str) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / CREDENTIALS_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


DEMO_VENUE = VenueFields(
    name="Kantor Camat Ilir Barat I (demo)",
    kind=VenueKind.PUBLIC_OFFICE,
    region_code="16.71",
    address="Jl. Demang Lebar Daun, Palembang",
    capacity=40,
    default_visit_minutes=60,
)


async def seed_demo_venue(db: Database, now: datetime, settings: Settings) -> str:
    """A demo venue managed by the demo venue manager; returns lines to print."""
    venue = await create_venue(db, DEMO_VENUE, now)
    manager = await find_user_by_email(db, DEMO_ACCOUNTS[2][0])
    assert manager is not None
    await assign_manager(db, manager, venue.id)
    token, _ = await venue_token(db, venue, venue_key_encryption_key(settings))
    base = settings.base_url
    return (
        f"Demo venue {venue.name} ({venue.code}):\n"
        f"  check-in page  {checkin_url(base, token)}\n"
        f"  manage it      {base}/venues/{venue.id} (as {manager.email})\n"
    )
