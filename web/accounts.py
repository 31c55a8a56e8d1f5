"""Staff accounts, roles, login sessions, API tokens, login throttling and the audit log.

Visitors are not accounts (see `checkin`). Staff have one role each; health officials are
scoped to a region code prefix. Passwords are hashed with Argon2id; session and API tokens are
random and stored only as SHA-256 hashes, so a database leak does not hand out logins.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import anyio
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from databases import Database

from certificates.errors import UnknownIssuer
from certificates.issuers import find_issuer
from venues.regions import parse_region_code
from web.errors import Conflict, TooManyRequests, Unauthenticated, ValidationFailed
from web.tables import api_tokens, audit_log, login_failures, sessions, users

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")
API_TOKEN_PREFIX = "sgk_"  # noqa: S105 (a prefix, not a secret)
MIN_PASSWORD_LENGTH = 10
_hasher = PasswordHasher()
# Verified against when the email is unknown, so a wrong email costs as much as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class Role(StrEnum):
    ADMIN = "admin"
    HEALTH_OFFICIAL = "health_official"
    VENUE_MANAGER = "venue_manager"
    CHECKPOINT_OFFICER = "checkpoint_officer"
    ISSUER = "issuer"


@dataclass(frozen=True)
class User:
    id: int
    email: str
    role: Role
    region_prefix: str | None
    display_name: str
    is_active: bool
    issuer_id: int | None = None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "role": self.role.value,
            "region_prefix": self.region_prefix,
            "display_name": self.display_name,
            "is_active": self.is_active,
            "issuer_id": self.issuer_id,
        }


USER_COLUMNS = (
    users.c.id,
    users.c.email,
    users.c.role,
    users.c.region_prefix,
    users.c.display_name,
    users.c.is_active,
    users.c.issuer_id,
)


def _user(row: Any) -> User:
    return User(
        id=row["id"],
        email=row["email"],
        role=Role(row["role"]),
        region_prefix=row["region_prefix"],
        display_name=row["display_name"],
        is_active=bool(row["is_active"]),
        issuer_id=row["issuer_id"],
    )


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if not EMAIL.match(email):
        raise ValidationFailed(f"{email!r} is not an email address")
    return email


def check_role_scope(role: Role, region_prefix: str | None) -> str | None:
    """Health officials need a region; other roles must not have one."""
    if role is Role.HEALTH_OFFICIAL:
        if not region_prefix:
            raise ValidationFailed("a health official needs a region (for example 16 or 16.71)")
        return parse_region_code(region_prefix)
    if region_prefix:
        raise ValidationFailed(f"the role {role.value} is not scoped to a region")
    return None


async def check_issuer_binding(db: Database, role: Role, issuer_id: int | None) -> None:
    """Only issuer staff are bound to an issuer, and it must exist."""
    if issuer_id is None:
        return
    if role is not Role.ISSUER:
        raise ValidationFailed(f"the role {role.value} is not bound to an issuer")
    try:
        await find_issuer(db, issuer_id)
    except UnknownIssuer as exc:
        raise ValidationFailed(str(exc)) from exc


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")


async def create_user(
    db: Database,
    *,
    email: str,
    role: Role,
    password: str,
    now: datetime,
    region_prefix: str | None = None,
    display_name: str = "",
    issuer_id: int | None = None,
) -> User:
    email = normalise_email(email)
    region_prefix = check_role_scope(role, region_prefix)
    await check_issuer_binding(db, role, issuer_id)
    check_password_strength(password)
    password_hash = await anyio.to_thread.run_sync(_hasher.hash, password)
    async with db.transaction():
        if await db.fetch_val(sa.select(users.c.id).where(users.c.email == email)):
            raise Conflict(f"an account for {email} exists already")
        user_id = await db.fetch_val(
            sa.insert(users)
            .values(
                email=email,
                password_hash=password_hash,
                role=role.value,
                region_prefix=region_prefix,
                display_name=display_name,
                is_active=True,
                created_at=epoch(now),
                issuer_id=issuer_id,
            )
            .returning(users.c.id)
        )
    return User(user_id, email, role, region_prefix, display_name, True, issuer_id)


async def find_user(db: Database, user_id: int) -> User | None:
    row = await db.fetch_one(sa.select(*USER_COLUMNS).where(users.c.id == user_id))
    return _user(row) if row else None


async def find_user_by_email(db: Database, email: str) -> User | None:
    row = await db.fetch_one(sa.select(*USER_COLUMNS).where(users.c.email == email.strip().lower()))
    return _user(row) if row else None


async def list_users(db: Database) -> list[User]:
    return [_user(r) for r in await db.fetch_all(sa.select(*USER_COLUMNS).order_by(users.c.id))]


async def update_user(
    db: Database,
    user: User,
    *,
    role: Role | None = None,
    region_prefix: str | None = None,
    is_active: bool | None = None,
    issuer_id: int | None = None,
) -> User:
    new_role = role or user.role
    new_region = check_role_scope(
        new_role, region_prefix if region_prefix is not None else user.region_prefix
    )
    # A binding survives only while the account stays issuer staff.
    kept_issuer = user.issuer_id if new_role is Role.ISSUER else None
    new_issuer = issuer_id if issuer_id is not None else kept_issuer
    await check_issuer_binding(db, new_role, new_issuer)
    new_active = user.is_active if is_active is None else is_active
    async with db.transaction():
        await db.execute(
            sa.update(users)
            .where(users.c.id == user.id)
            .values(
                role=new_role.value,
                region_prefix=new_region,
                is_active=new_active,
                issuer_id=new_issuer,
            )
        )
        if not new_active:
            await db.execute(sa.delete(sessions).where(sessions.c.user_id == user.id))
    return User(
        user.id, user.email, new_role, new_region, user.display_name, new_active, new_issuer
    )


def _account_key(email: str) -> str:
    # Failed logins are counted per account without storing the email itself.
    return token_hash("login:" + email.strip().lower())


async def check_login_throttle(
    db: Database, email: str, now: datetime, max_failures: int, window: timedelta
) -> None:
    since = epoch(now - window)
    rows = await db.fetch_all(
        sa.select(login_failures.c.at)
        .where(login_failures.c.account_key == _account_key(email), login_failures.c.at > since)
        .order_by(login_failures.c.at)
    )
    if len(rows) >= max_failures:
        retry_after = max(1, rows[-max_failures]["at"] + int(window.total_seconds()) - epoch(now))
        raise TooManyRequests(
            "too many failed logins for this account; wait before trying again",
            retry_after=retry_after,
        )


async def authenticate(
    db: Database,
    email: str,
    password: str,
    *,
    now: datetime,
    max_failures: int,
    window: timedelta,
) -> User:
    """The active user with this email and password, or `Unauthenticated`.

    Raises `TooManyRequests` once an account has ``max_failures`` failures inside ``window``.
    """
    await check_login_throttle(db, email, now, max_failures, window)
    row = await db.fetch_one(
        sa.select(*USER_COLUMNS, users.c.password_hash).where(
            users.c.email == email.strip().lower()
        )
    )
    stored_hash = row["password_hash"] if row else _DUMMY_HASH
    try:
        await anyio.to_thread.run_sync(_hasher.verify, stored_hash, password)
        valid = row is not None and bool(row["is_active"])
    except (VerificationError, InvalidHashError):
        valid = False
    if not valid:
        await db.execute(
            sa.insert(login_failures).values(account_key=_account_key(email), at=epoch(now))
        )
        await record_audit(
            db, now, None, "login_failed", "user", str(row["id"]) if row else "unknown"
        )
        raise Unauthenticated("the email or password is wrong")
    assert row is not None
    await db.execute(
        sa.delete(login_failures).where(login_failures.c.account_key == _account_key(email))
    )
    return _user(row)


async def start_session(db: Database, user: User, now: datetime, lifetime: timedelta) -> str:
    token = secrets.token_urlsafe(32)
    await db.execute(
        sa.insert(sessions).values(
            token_hash=token_hash(token),
            user_id=user.id,
            created_at=epoch(now),
            expires_at=epoch(now + lifetime),
        )
    )
    await record_audit(db, now, user.id, "login", "user", str(user.id))
    return token


async def session_user(db: Database, token: str, now: datetime) -> User | None:
    row = await db.fetch_one(
        sa.select(*USER_COLUMNS)
        .select_from(sessions.join(users, users.c.id == sessions.c.user_id))
        .where(
            sessions.c.token_hash == token_hash(token),
            sessions.c.expires_at > epoch(now),
            users.c.is_active == sa.true(),
        )
    )
    return _user(row) if row else None


async def end_session(db: Database, token: str, now: datetime, user: User) -> None:
    await db.execute(sa.delete(sessions).where(sessions.c.token_hash == token_hash(token)))
    await record_audit(db, now, user.id, "logout", "user", str(user.id))


async def create_api_token(db: Database, user: User, name: str, now: datetime) -> str:
    """A new API token for ``user``; only its hash is stored, so it is shown once."""
    if not name.strip():
        raise ValidationFailed("an API token needs a name saying what it is for")
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_id = await db.fetch_val(
        sa.insert(api_tokens)
        .values(
            user_id=user.id, name=name.strip(), token_hash=token_hash(token), created_at=epoch(now)
        )
        .returning(api_tokens.c.id)
    )
    await record_audit(
        db, now, user.id, "api_token_created", "api_token", str(token_id), {"name": name}
    )
    return token


async def api_token_user(db: Database, token: str, now: datetime) -> User | None:
    row = await db.fetch_one(
        sa.select(*USER_COLUMNS, api_tokens.c.id.label("token_id"))
        .select_from(api_tokens.join(users, users.c.id == api_tokens.c.user_id))
        .where(
            api_tokens.c.token_hash == token_hash(token),
            api_tokens.c.revoked_at.is_(None),
            users.c.is_active == sa.true(),
        )
    )
    if row is None:
        return None
    await db.execute(
        sa.update(api_tokens)
        .where(api_tokens.c.id == row["token_id"])
        .values(last_used_at=epoch(now))
    )
    return _user(row)


async def record_audit(
    db: Database,
    now: datetime,
    actor_user_id: int | None,
    action: str,
    object_type: str,
    object_id: str,
    details: dict[str, Any] | None = None,
) -> None:
    """One audit entry. ``details`` must not hold personal data (names, phones, NIK)."""
    await db.execute(
        sa.insert(audit_log).values(
            at=epoch(now),
            actor_user_id=actor_user_id,
            action=action,
            object_type=object_type,
            object_id=object_id,
            details=json.dumps(details or {}, sort_keys=True),
        )
    )


async def audit_entries(db: Database, limit: int = 100) -> list[dict[str, Any]]:
    rows = await db.fetch_all(sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit))
    return [{**dict(row._mapping), "details": json.loads(row["details"])} for row in rows]
