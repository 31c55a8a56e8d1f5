"""Keys derived from the one secret key, each for a single purpose (HKDF-SHA256, RFC 5869)."""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from checkin.visitors import PersonalDataKeys
from web.database import Database
from web.settings import Settings
from web.tables import data_keys

VENUE_SIGNING_KEYS = "venue-signing-keys"


def derive_key(settings: Settings, purpose: str) -> bytes:
    """A 256-bit key for ``purpose``; changing the secret key changes every derived key."""
    hkdf = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"singgah/" + purpose.encode()
    )
    return hkdf.derive(settings.secret())


def venue_key_encryption_key(settings: Settings) -> bytes:
    return derive_key(settings, VENUE_SIGNING_KEYS)


PERSONAL_DATA_KEY_ID = "k1"


def _sealing_key(settings: Settings, key_id: str) -> bytes:
    return derive_key(settings, f"personal-data/{key_id}")


def personal_data_keys(
    settings: Settings, key_ids: Sequence[str] = (PERSONAL_DATA_KEY_ID,)
) -> PersonalDataKeys:
    """Keys sealing and indexing visitors' personal data, and signing visitor tokens. The
    last of ``key_ids`` seals; the others still open. The lookup (HMAC) and token keys do not
    depend on the key id: NIK lookups and visitor tokens survive a rotation."""
    current = key_ids[-1]
    return PersonalDataKeys(
        key_id=current,
        sealing_key=_sealing_key(settings, current),
        lookup_key=derive_key(settings, "personal-data-lookup"),
        token_key=derive_key(settings, "visitor-tokens"),
        older_sealing_keys={kid: _sealing_key(settings, kid) for kid in key_ids[:-1]},
    )


async def data_key_ids(db: Database) -> list[str]:
    """Every personal-data key id, oldest first; ``k1`` (the first, never stored) leads."""
    rows = await db.fetch_all(sa.select(data_keys.c.key_id).order_by(data_keys.c.created_at))
    stored = sorted((row["key_id"] for row in rows), key=lambda kid: int(kid[1:]))
    return [PERSONAL_DATA_KEY_ID, *stored]


async def load_personal_data_keys(db: Database, settings: Settings) -> PersonalDataKeys:
    return personal_data_keys(settings, await data_key_ids(db))


async def add_data_key(db: Database, settings: Settings, now: datetime) -> PersonalDataKeys:
    """A new key id (``k<n+1>``) that seals from now on; the older ones still open."""
    key_ids = await data_key_ids(db)
    new_id = f"k{int(key_ids[-1][1:]) + 1}"
    await db.execute(sa.insert(data_keys).values(key_id=new_id, created_at=int(now.timestamp())))
    return personal_data_keys(settings, [*key_ids, new_id])
