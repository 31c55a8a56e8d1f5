"""Poster signing keys: Ed25519, each with a key id, rotated without breaking printed posters.

The newest key that is not retired signs new posters. Older keys keep verifying the posters
they signed until an operator retires them; a retired key stops verifying at once and leaves the
published key set. Private keys are sealed with AES-GCM under a key-encryption key that the
caller derives from the secret key; they are never returned by any endpoint.
"""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from databases import Database

from venues.errors import SigningKeyRefused
from venues.tables import signing_keys

ALGORITHM = "Ed25519"
KID_BYTES = 4  # in every token; 4 random bytes keep the QR small and collide never in practice


@dataclass(frozen=True)
class SigningKey:
    kid: str
    public_key: bytes
    created_at: int
    retired_at: int | None

    @property
    def status(self) -> str:
        return "retired" if self.retired_at is not None else "active"

    def verifier(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self.public_key)

    def public(self) -> dict[str, Any]:
        return {
            "kid": self.kid,
            "algorithm": ALGORITHM,
            "created_at": self.created_at,
            "retired_at": self.retired_at,
            "status": self.status,
        }


def _key(row: Any) -> SigningKey:
    return SigningKey(row["kid"], bytes(row["public_key"]), row["created_at"], row["retired_at"])


def _seal(kek: bytes, kid: str, private_key: Ed25519PrivateKey) -> bytes:
    nonce = os.urandom(12)
    raw = private_key.private_bytes_raw()
    return nonce + AESGCM(kek).encrypt(nonce, raw, kid.encode())


def _unseal(kek: bytes, kid: str, sealed: bytes) -> Ed25519PrivateKey:
    raw = AESGCM(kek).decrypt(sealed[:12], sealed[12:], kid.encode())
    return Ed25519PrivateKey.from_private_bytes(raw)


async def create_key(db: Database, now: datetime, kek: bytes) -> SigningKey:
    """A new signing key; being the newest, it signs every poster from now on."""
    private_key = Ed25519PrivateKey.generate()
    public = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    kid = secrets.token_hex(KID_BYTES)
    created_at = int(now.timestamp())
    # The generation orders keys even when two are made within the same second.
    newest = sa.select(sa.func.coalesce(sa.func.max(signing_keys.c.generation), 0) + 1)
    await db.execute(
        sa.insert(signing_keys).values(
            kid=kid,
            generation=newest.scalar_subquery(),
            algorithm=ALGORITHM,
            public_key=public,
            private_key_sealed=_seal(kek, kid, private_key),
            created_at=created_at,
        )
    )
    return SigningKey(kid, public, created_at, None)


async def list_keys(db: Database) -> list[SigningKey]:
    query = sa.select(signing_keys).order_by(signing_keys.c.generation)
    return [_key(row) for row in await db.fetch_all(query)]


async def find_key(db: Database, kid: str) -> SigningKey | None:
    row = await db.fetch_one(sa.select(signing_keys).where(signing_keys.c.kid == kid))
    return _key(row) if row else None


async def ensure_signing_key(db: Database, now: datetime, kek: bytes) -> SigningKey:
    """The current signing key, created on first start."""
    active = [key for key in await list_keys(db) if key.retired_at is None]
    return active[-1] if active else await create_key(db, now, kek)


async def current_signer(db: Database, kek: bytes) -> tuple[SigningKey, Ed25519PrivateKey]:
    row = await db.fetch_one(
        sa.select(signing_keys)
        .where(signing_keys.c.retired_at.is_(None))
        .order_by(signing_keys.c.generation.desc())
        .limit(1)
    )
    if row is None:
        raise SigningKeyRefused("there is no active signing key: run `singgah keys rotate`")
    key = _key(row)
    return key, _unseal(kek, key.kid, bytes(row["private_key_sealed"]))


async def retire_key(db: Database, kid: str, now: datetime) -> SigningKey:
    """Retire a key: posters it signed stop verifying. The current key cannot be retired."""
    async with db.transaction():
        key = await find_key(db, kid)
        if key is None:
            raise SigningKeyRefused(f"there is no signing key {kid}")
        if key.retired_at is not None:
            return key
        active = [k for k in await list_keys(db) if k.retired_at is None]
        if active[-1].kid == kid:
            raise SigningKeyRefused(
                f"{kid} signs new posters; rotate first (`singgah keys rotate`), then retire it"
            )
        await db.execute(
            sa.update(signing_keys)
            .where(signing_keys.c.kid == kid)
            .values(retired_at=int(now.timestamp()))
        )
    return SigningKey(key.kid, key.public_key, key.created_at, int(now.timestamp()))


def jwks(keys: list[SigningKey]) -> dict[str, Any]:
    """The active keys as a JSON Web Key Set (RFC 7517) of OKP Ed25519 keys (RFC 8037)."""
    return {
        "keys": [
            {
                "kty": "OKP",
                "crv": "Ed25519",
                "x": base64.urlsafe_b64encode(key.public_key).rstrip(b"=").decode(),
                "kid": key.kid,
                "use": "sig",
                "alg": "EdDSA",
            }
            for key in keys
            if key.retired_at is None
        ]
    }
