"""Demo data for ``singgah serve --demo``: one account per role, created on first start only.

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

from web.accounts import Role, create_user
from web.tables import users

DEMO_ACCOUNTS: tuple[tuple[str, Role, str | None, str], ...] = (
    ("admin@demo.singgah.id", Role.ADMIN, None, "Demo Admin"),
    ("official@demo.singgah.id", Role.HEALTH_OFFICIAL, "16", "Dinas Kesehatan Sumsel"),
    ("manager@demo.singgah.id", Role.VENUE_MANAGER, None, "Pengelola Mal Demo"),
    ("officer@demo.singgah.id", Role.CHECKPOINT_OFFICER, None, "Petugas Pos Demo"),
    ("issuer@demo.singgah.id", Role.ISSUER, None, "Lab Demo"),
)
CREDENTIALS_FILE = "demo-credentials.txt"


async def seed_demo_accounts(db: Database, now: datetime) -> str | None:
    """Create the demo accounts when there are no users yet; return the credentials text."""
    if await db.fetch_val(sa.select(sa.func.count()).select_from(users)):
        return None
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
        )
        lines.append(f"  {role.value:<20} {email:<28} {password}")
    return "\n".join(lines) + "\n"


def save_credentials(data_dir: Path, text: str) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / CREDENTIALS_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
