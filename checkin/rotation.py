"""Re-sealing personal data under a new key id (``singgah keys rotate-data-key``).

Every sealed column whose key id is not the current one is opened (with whichever key id
sealed it) and sealed again with the current key, row by row, each in its own statement so a
long rotation does not hold one huge transaction; a rotation stopped half-way is finished by
running it again. Lookup hashes are not touched: the HMAC lookup key does not rotate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from databases import Database

from checkin.assisted import sealing_context as traveller_context
from checkin.tables import travellers, visitors, wallet_certificates
from checkin.visitors import PersonalDataKeys, seal, unseal
from checkin.wallet import wallet_context


async def _reseal(
    db: Database,
    keys: PersonalDataKeys,
    sealed: sa.Column,
    key_id: sa.Column,
    context_of: Callable[[Any], str],
) -> int:
    table = sealed.table
    primary = next(iter(table.primary_key.columns))
    rows = await db.fetch_all(sa.select(table).where(sealed.is_not(None), key_id != keys.key_id))
    for row in rows:
        context = context_of(row)
        plain = unseal(keys, context, bytes(row[sealed.name]))
        await db.execute(
            sa.update(table)
            .where(primary == row[primary.name])
            .values({sealed.name: seal(keys, context, plain), key_id.name: keys.key_id})
        )
    return len(rows)


async def reseal_personal_data(db: Database, keys: PersonalDataKeys) -> dict[str, int]:
    """Re-seal every visitor profile, traveller and wallet certificate under ``keys.key_id``;
    how many rows of each table changed."""
    return {
        "visitors": await _reseal(
            db, keys, visitors.c.profile_sealed, visitors.c.profile_key_id, lambda r: r["id"]
        ),
        "travellers": await _reseal(
            db,
            keys,
            travellers.c.details_sealed,
            travellers.c.details_key_id,
            lambda r: traveller_context(
                r["visitor_id"], r["destination_region_code"], r["registered_at"]
            ),
        ),
        "wallet_certificates": await _reseal(
            db,
            keys,
            wallet_certificates.c.hc1_sealed,
            wallet_certificates.c.key_id,
            lambda r: wallet_context(r["visitor_id"]),
        ),
    }
