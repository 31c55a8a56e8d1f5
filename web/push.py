"""Web Push wiring: the VAPID key in the data folder, who receives what, and the sender."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa
from databases import Database

from exposure.outbox import Owners, Sender
from exposure.push import PushEncoder, VapidKeys
from web.settings import Settings
from web.tables import venue_managers

VAPID_KEY_FILE = "vapid_private.pem"


def vapid_keys(settings: Settings) -> VapidKeys:
    """The VAPID key pair, generated into the data folder (mode 0600) on first start."""
    return VapidKeys.load_or_create(settings.data_dir / VAPID_KEY_FILE)


async def resolve_recipients(db: Database, recipient_kind: str, recipient_id: str) -> Owners:
    """Devices' owners for a notification to a venue: the staff who manage it. (A visitor's
    notifications go to the visitor's own devices; the sender joins those in SQL.)"""
    if recipient_kind == "venue" and recipient_id.isdigit():
        rows = await db.fetch_all(
            sa.select(venue_managers.c.user_id).where(
                venue_managers.c.venue_id == int(recipient_id)
            )
        )
        return [("user", str(row[0])) for row in rows]
    return []


def build_sender(
    db: Database, settings: Settings, clock: Callable[[], datetime], **options: object
) -> Sender:
    encoder = PushEncoder(vapid_keys(settings), settings.vapid_subject)
    return Sender(db, encoder, resolve_recipients, clock, **options)  # type: ignore[arg-type]
