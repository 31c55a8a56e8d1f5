"""The notification outbox: push subscriptions, deliveries and the sender.

Notifications are rows written in the same transaction as the event that causes them (an
exposure run, an occupancy alert). The sender fans each one out once into a delivery per device
of its recipients, then claims due deliveries with a lease, sends them and records the outcome.
Delivery is at least once: a sender that dies after sending but before recording leaves its
lease to expire, and another sender sends again.

Claims: one UPDATE ... WHERE id IN (due rows) RETURNING, which SQLite runs under its write lock
and PostgreSQL with ``FOR UPDATE SKIP LOCKED``; a claimed row carries the sender's claim token
and a lease, so two senders never hold the same delivery at once.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import logging
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from databases import Database
from sqlalchemy.dialects import postgresql, sqlite

from checkin.tables import occupancy_alerts
from exposure.errors import NotificationNotFound, PayloadTooLarge, SubscriptionNotFound
from exposure.http import HttpError, PushHttpClient, Response
from exposure.push import PushEncoder, PushRequest, Subscription, origin_of
from exposure.tables import notifications, push_deliveries, push_subscriptions
from venues.tables import venues

logger = logging.getLogger("singgah.push")

# Who gets the pushes of a notification for a (recipient_kind, id) other than a visitor (a
# visitor's are their own devices, joined in SQL): (owner_kind, owner_id) pairs.
Owners = list[tuple[str, str]]
RecipientResolver = Callable[[Database, str, str], Awaitable[Owners]]

URGENCY = {"exposure_alert": "high", "case_status": "high", "venue_alert": "normal"}
# What a push may carry from a notification's payload: where and when, the level, the status.
PUSHED_KEYS = ("venue_name", "exposed_from", "exposed_until", "hot_from", "level", "risk", "status")
# One encoder for all pushes: `json.dumps` with separators builds a new one on every call.
_COMPACT = json.JSONEncoder(separators=(",", ":"))
FAN_OUT_BATCH = 5000
ENCRYPT_RUN = 32  # deliveries encrypted in one go (`Sender._send_all`)
IDS_PER_STATEMENT = 5000  # bound parameters in one IN list (SQLite allows 32,766)


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _insert(db: Database) -> Any:
    return postgresql.insert if db.url.dialect == "postgresql" else sqlite.insert


# Notifications -------------------------------------------------------------------------------

PER_INSERT = 400  # rows per INSERT, well under the bound-variable limit


async def queue_notifications(db: Database, rows: list[dict[str, Any]]) -> None:
    """Insert notifications, skipping any whose dedupe key was queued before. Callers run it
    in the transaction of the event that causes them (the outbox's durability)."""
    for start in range(0, len(rows), PER_INSERT):
        statement = _insert(db)(notifications).values(rows[start : start + PER_INSERT])
        await db.execute(statement.on_conflict_do_nothing(index_elements=["dedupe_key"]))


# Subscriptions --------------------------------------------------------------------------------


async def subscribe(
    db: Database, owner_kind: str, owner_id: str, endpoint: str, p256dh: str, auth: str, now: int
) -> int:
    """Store a device for ``owner``; subscribing the same endpoint again moves it to them."""
    values = {"owner_kind": owner_kind, "owner_id": owner_id, "p256dh": p256dh, "auth": auth}
    statement = _insert(db)(push_subscriptions).values(endpoint=endpoint, created_at=now, **values)
    statement = statement.on_conflict_do_update(index_elements=["endpoint"], set_=values)
    await db.execute(statement)
    return await db.fetch_val(
        sa.select(push_subscriptions.c.id).where(push_subscriptions.c.endpoint == endpoint)
    )


async def unsubscribe(db: Database, owner_kind: str, owner_id: str, endpoint: str) -> None:
    removed = await db.fetch_val(
        sa.delete(push_subscriptions)
        .where(
            push_subscriptions.c.owner_kind == owner_kind,
            push_subscriptions.c.owner_id == owner_id,
            push_subscriptions.c.endpoint == endpoint,
        )
        .returning(push_subscriptions.c.id)
    )
    if removed is None:
        raise SubscriptionNotFound("no such subscription for you")


# Inbox ----------------------------------------------------------------------------------------


async def mark_read(
    db: Database, recipients: Iterable[tuple[str, str]], notification_id: int, now: int
) -> None:
    """Mark a notification read if one of ``recipients`` (kind, id) owns it."""
    owned = sa.or_(
        *(
            sa.and_(notifications.c.recipient_kind == kind, notifications.c.recipient_id == rid)
            for kind, rid in recipients
        )
    )
    found = await db.fetch_val(
        sa.update(notifications)
        .where(notifications.c.id == notification_id, owned)
        .values(read_at=sa.func.coalesce(notifications.c.read_at, now))
        .returning(notifications.c.id)
    )
    if found is None:
        raise NotificationNotFound("no such notification for you")


# Sending --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backoff:
    base_seconds: int = 30
    cap_seconds: int = 3600
    max_attempts: int = 12

    def delay(self, attempts: int, retry_after: int | None = None) -> int:
        wanted = max(self.base_seconds * 2 ** max(attempts - 1, 0), retry_after or 0)
        return min(wanted, self.cap_seconds)


@dataclass(frozen=True)
class Outcome:
    state: str  # delivered, pending (retry later), failed, gone (device forgotten)
    attempts: int
    next_attempt_at: int | None  # None: not to be tried again (delivered, gone)
    status: int | None


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    attempts: int
    kind: str
    payload: bytes  # the pushed JSON (`push_payload`), one object per notification
    subscription: Subscription


def push_payload(kind: str, payload_json: str, notification_id: int) -> bytes:
    """The pushed JSON: kind, venue name, dates or status, and where to go; no name, phone,
    NIK, visitor id or case id."""
    payload = json.loads(payload_json)
    small = {key: payload[key] for key in PUSHED_KEYS if key in payload}
    return _COMPACT.encode(
        {"id": notification_id, "kind": kind, "url": "/alerts", **small}
    ).encode()


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    return (
        ids[start : start + IDS_PER_STATEMENT] for start in range(0, len(ids), IDS_PER_STATEMENT)
    )


def _retry_after(response: Response) -> int | None:
    value = response.headers.get("retry-after", "")
    return int(value) if value.isdigit() else None


class Sender:
    """Claims due deliveries, sends them concurrently (bounded) and records what happened."""

    def __init__(
        self,
        db: Database,
        encoder: PushEncoder,
        resolve: RecipientResolver,
        clock: Callable[[], datetime],
        *,
        concurrency: int = 64,
        timeout_seconds: float = 10.0,
        lease_seconds: int = 120,
        ttl_seconds: int = 4 * 24 * 3600,
        backoff: Backoff | None = None,
    ) -> None:
        self.db = db
        self.encoder = encoder
        self.resolve = resolve
        self.clock = clock
        self.http = PushHttpClient(timeout=timeout_seconds)
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.ttl_seconds = ttl_seconds
        self.backoff = backoff or Backoff()
        self.token = secrets.token_hex(8)

    async def aclose(self) -> None:
        await self.http.aclose()

    def now(self) -> int:
        return epoch(self.clock())

    async def fan_out(self) -> int:
        """Turn new notifications into one pending delivery per device of their recipients.

        The batch is taken (``fanned_out_at`` set, ``SKIP LOCKED`` on PostgreSQL) and its
        deliveries inserted in one transaction: a sender that dies leaves it to the next."""
        now = self.now()
        await queue_occupancy_notifications(self.db, now)
        unfanned = (
            sa.select(notifications.c.id)
            .where(notifications.c.fanned_out_at.is_(None))
            .order_by(notifications.c.id)
            .limit(FAN_OUT_BATCH)
            .with_for_update(skip_locked=True)
        )
        async with self.db.transaction():
            batch = await self.db.fetch_rows(
                sa.update(notifications)
                .where(notifications.c.id.in_(unfanned.scalar_subquery()))
                .values(fanned_out_at=now)
                .returning(
                    notifications.c.id,
                    notifications.c.recipient_kind,
                    notifications.c.recipient_id,
                )
            )
            for_visitors = [row[0] for row in batch if row[1] == "visitor"]
            for ids in _chunks(for_visitors):
                await self.db.execute(self._visitor_deliveries(ids, now))
            others = [row for row in batch if row[1] != "visitor"]
            if others:
                await self._resolved_deliveries(others, now)
        return len(batch)

    def _visitor_deliveries(self, notification_ids: list[int], now: int) -> Any:
        """INSERT ... SELECT: a visitor's notification goes to each of the visitor's devices."""
        devices = (
            sa.select(
                notifications.c.id,
                push_subscriptions.c.id,
                sa.literal("pending"),
                sa.literal(0),
                sa.literal(now),
                sa.literal(now),
            )
            .select_from(
                notifications.join(
                    push_subscriptions,
                    sa.and_(
                        push_subscriptions.c.owner_kind == "visitor",
                        push_subscriptions.c.owner_id == notifications.c.recipient_id,
                    ),
                )
            )
            .where(notifications.c.id.in_(notification_ids))
        )
        columns = ["notification_id", "subscription_id", "state", "attempts"]
        statement = _insert(self.db)(push_deliveries).from_select(
            [*columns, "next_attempt_at", "updated_at"], devices
        )
        return statement.on_conflict_do_nothing(
            index_elements=["notification_id", "subscription_id"]
        )

    async def _resolved_deliveries(self, rows: list[Any], now: int) -> None:
        """Deliveries for recipients the resolver answers for (a venue: its managers)."""
        owners = {row[0]: await self.resolve(self.db, row[1], row[2]) for row in rows}
        devices = await self._subscriptions_of([o for found in owners.values() for o in found])
        deliveries = [
            {
                "notification_id": notification_id,
                "subscription_id": subscription_id,
                "state": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "updated_at": now,
            }
            for notification_id, found in owners.items()
            for owner in found
            for subscription_id in devices.get(owner, ())
        ]
        for start in range(0, len(deliveries), 400):
            statement = _insert(self.db)(push_deliveries).values(deliveries[start : start + 400])
            await self.db.execute(
                statement.on_conflict_do_nothing(
                    index_elements=["notification_id", "subscription_id"]
                )
            )

    async def _subscriptions_of(self, owners: Owners) -> dict[tuple[str, str], list[int]]:
        """Subscription ids by owner, in one query per owner kind."""
        by_kind: dict[str, set[str]] = {}
        for kind, owner in owners:
            by_kind.setdefault(kind, set()).add(owner)
        found: dict[tuple[str, str], list[int]] = {}
        for kind, ids in by_kind.items():
            rows = await self.db.fetch_all(
                sa.select(push_subscriptions.c.id, push_subscriptions.c.owner_id).where(
                    push_subscriptions.c.owner_kind == kind,
                    push_subscriptions.c.owner_id.in_(sorted(ids)),
                )
            )
            for row in rows:
                found.setdefault((kind, row["owner_id"]), []).append(row["id"])
        return found

    async def claim(self, limit: int) -> list[Claimed]:
        """Lease up to ``limit`` due deliveries to this sender: one UPDATE for the batch."""
        now = self.now()
        due = (
            sa.select(push_deliveries.c.id)
            .where(
                push_deliveries.c.state == "pending",
                push_deliveries.c.next_attempt_at <= now,
                sa.or_(
                    push_deliveries.c.lease_until.is_(None), push_deliveries.c.lease_until <= now
                ),
            )
            .order_by(push_deliveries.c.next_attempt_at, push_deliveries.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        claimed = await self.db.fetch_rows(
            sa.update(push_deliveries)
            .where(push_deliveries.c.id.in_(due.scalar_subquery()))
            .values(lease_until=now + self.lease_seconds, claim=self.token)
            .returning(push_deliveries.c.id)
        )
        found: list[Claimed] = []
        for ids in _chunks([row[0] for row in claimed]):
            found += await self._claimed(ids)
        return found

    async def _claimed(self, delivery_ids: list[int]) -> list[Claimed]:
        # Plain driver rows (``web.database.Database.fetch_rows``): building a `Record` per
        # row and indexing it column by column cost more than the query for a large batch.
        rows = await self.db.fetch_rows(
            sa.select(
                push_deliveries.c.id,
                push_deliveries.c.attempts,
                notifications.c.id.label("notification_id"),
                notifications.c.kind,
                notifications.c.payload,
                push_subscriptions.c.id.label("subscription_id"),
                push_subscriptions.c.endpoint,
                push_subscriptions.c.p256dh,
                push_subscriptions.c.auth,
            )
            .select_from(
                push_deliveries.join(notifications).join(
                    push_subscriptions,
                    push_subscriptions.c.id == push_deliveries.c.subscription_id,
                )
            )
            .where(push_deliveries.c.id.in_(delivery_ids))
        )
        found: list[Claimed] = []
        pushed: dict[int, bytes] = {}  # a notification's JSON, made once for all its devices
        for row in rows:
            delivery_id, attempts, notification_id, kind, payload, *device = row
            body = pushed.get(notification_id)
            if body is None:
                body = pushed[notification_id] = push_payload(kind, payload, notification_id)
            found.append(Claimed(delivery_id, attempts, kind, body, Subscription(*device)))
        return found

    def prepare(self, item: Claimed) -> PushRequest:
        """The encrypted request for one delivery (raises PayloadTooLarge)."""
        return self.encoder.request(
            item.payload,
            item.subscription,
            ttl=self.ttl_seconds,
            urgency=URGENCY.get(item.kind, "normal"),
        )

    async def send(
        self, item: Claimed, request: PushRequest | None = None
    ) -> tuple[int | None, int | None]:
        """POST one delivery (``request``: prepared already); returns (HTTP status or None on
        a network failure, Retry-After)."""
        request = request or self.prepare(item)
        try:
            response = await self.http.post_encoded(
                request.endpoint, request.body, request.header_lines
            )
        except HttpError as exc:
            logger.warning("push to %s failed: %s", origin_of(request.endpoint), exc)
            return None, None
        return response.status, _retry_after(response)

    def outcome(self, item: Claimed, status: int | None, retry_after: int | None) -> Outcome:
        """What a push service's answer means for the delivery."""
        attempts = item.attempts + 1
        if status is not None and 200 <= status < 300:
            return Outcome("delivered", attempts, None, status)
        if status in (404, 410):
            return Outcome("gone", attempts, None, status)
        now = self.now()
        if status is None or status == 429 or status >= 500:
            state = "pending" if attempts < self.backoff.max_attempts else "failed"
            return Outcome(state, attempts, now + self.backoff.delay(attempts, retry_after), status)
        return Outcome("failed", attempts, now, status)

    async def record(self, sent: list[tuple[Claimed, Outcome]]) -> None:
        """Store the outcomes of a batch: deliveries in one statement, a forgotten device
        (404/410) deleted with its deliveries, retries and failures one by one."""
        now = self.now()
        done: dict[int | None, list[int]] = {}
        for item, outcome in sent:
            if outcome.state == "delivered":
                done.setdefault(outcome.status, []).append(item.delivery_id)
        gone = [item.subscription.id for item, outcome in sent if outcome.state == "gone"]
        statements: list[Any] = []
        if gone:
            statements.append(
                sa.delete(push_subscriptions).where(push_subscriptions.c.id.in_(gone))
            )
        for status, delivered in done.items():
            statements += [
                sa.update(push_deliveries)
                .where(push_deliveries.c.id.in_(ids), push_deliveries.c.claim == self.token)
                .values(
                    state="delivered",
                    attempts=push_deliveries.c.attempts + 1,
                    lease_until=None,
                    claim=None,
                    last_status=status,
                    updated_at=now,
                )
                for ids in _chunks(delivered)
            ]
        statements += [
            sa.update(push_deliveries)
            .where(
                push_deliveries.c.id == item.delivery_id,
                push_deliveries.c.claim == self.token,
            )
            .values(
                state=outcome.state,
                attempts=outcome.attempts,
                next_attempt_at=outcome.next_attempt_at,
                lease_until=None,
                claim=None,
                last_status=outcome.status,
                updated_at=now,
            )
            for item, outcome in sent
            if outcome.state in ("pending", "failed")
        ]
        if len(statements) == 1:
            # The usual batch (all delivered) is one statement, atomic without a transaction;
            # outside one, SQLite runs it on its worker thread instead of the event loop's.
            await self.db.execute(statements[0])
            return
        async with self.db.transaction():
            for statement in statements:
                await self.db.execute(statement)

    def _prepared(self, item: Claimed) -> tuple[Claimed, PushRequest | Outcome]:
        try:
            return item, self.prepare(item)
        except PayloadTooLarge:
            logger.error("notification too large to push (delivery %s)", item.delivery_id)
            return item, Outcome("failed", item.attempts + 1, self.now(), None)

    async def _send_all(self, claimed: list[Claimed]) -> list[tuple[Claimed, Outcome]]:
        """Send a batch with ``concurrency`` workers taking deliveries in turn (cheaper than a
        task and a semaphore turn per delivery).

        Deliveries are encrypted ``ENCRYPT_RUN`` at a time, by whichever worker finds none
        ready: in a run the cipher's code and tables stay in the CPU caches, which the event
        loop and the socket calls between single encryptions push out (15% slower each). A
        worker waiting for a slow push service holds only its own delivery."""
        sent: list[tuple[Claimed, Outcome]] = []
        queue = iter(claimed)
        ready: collections.deque[tuple[Claimed, PushRequest | Outcome]] = collections.deque()

        async def worker() -> None:
            while True:
                if not ready:
                    ready.extend(map(self._prepared, itertools.islice(queue, ENCRYPT_RUN)))
                    if not ready:
                        return
                item, request = ready.popleft()
                if isinstance(request, Outcome):  # could not be encrypted
                    sent.append((item, request))
                else:
                    sent.append((item, self.outcome(item, *await self.send(item, request))))

        await asyncio.gather(*(worker() for _ in range(min(self.concurrency, len(claimed)))))
        return sent

    async def _take(self, limit: int) -> list[Claimed]:
        await self.fan_out()
        return await self.claim(limit)

    async def run_once(self, limit: int = 1000) -> dict[str, int]:
        """Fan out new notifications, then send one batch of due deliveries and record it.

        A push service that stalls holds its own request until the per-request timeout; the
        others in the batch are sent meanwhile (by the other workers)."""
        sent = await self._send_all(await self._take(limit))
        await self.record(sent)
        return dict(Counter(outcome.state for _, outcome in sent))

    async def run_until_idle(self, limit: int = 1000) -> dict[str, int]:
        """Send batches until nothing is due now, the database work of the next batch (fan-out
        and claim) and of the last one (record) done while this one is being sent."""
        totals: Counter[str] = Counter()
        async with asyncio.TaskGroup() as group:
            claimed = await self._take(limit)
            recording: asyncio.Task[None] | None = None
            while claimed:
                sending = group.create_task(self._send_all(claimed))
                claimed = await self._take(limit)
                sent = await sending
                if recording is not None:
                    await recording
                recording = group.create_task(self.record(sent))
                totals.update(outcome.state for _, outcome in sent)
        return dict(totals)

    async def run_forever(self, idle_seconds: float = 2.0, limit: int = 1000) -> None:
        """Send whenever something is due; a failed round is logged and the loop goes on."""
        while True:
            try:
                counts = await self.run_until_idle(limit)
            except Exception:
                logger.exception("push round failed; retrying in %s s", idle_seconds)
                counts = {}
            if not counts:
                await asyncio.sleep(idle_seconds)


async def queue_occupancy_notifications(
    db: Database, now: int, lookback_seconds: int = 86400
) -> int:
    """Queue a notification for the managers of each venue that recently crossed 80 or 100%.

    Check-in (a lower package) records the alert in its own transaction; this turns each alert
    into one notification, idempotently (dedupe key per alert), before the sender fans out.
    """
    rows = await db.fetch_all(
        sa.select(occupancy_alerts, venues.c.name)
        .select_from(occupancy_alerts.join(venues, venues.c.id == occupancy_alerts.c.venue_id))
        .where(occupancy_alerts.c.at >= now - lookback_seconds)
    )
    notices = [
        {
            "recipient_kind": "venue",
            "recipient_id": str(row["venue_id"]),
            "kind": "occupancy_alert",
            "payload": json.dumps(
                {
                    "kind": "occupancy_alert",
                    "venue_id": row["venue_id"],
                    "venue_name": row["name"],
                    "level": row["level"],
                    "occupancy": row["occupancy"],
                    "capacity": row["capacity"],
                    "at": row["at"],
                },
                sort_keys=True,
            ),
            "dedupe_key": f"occupancy:{row['id']}",
            "created_at": row["at"],
        }
        for row in rows
    ]
    await queue_notifications(db, notices)
    return len(notices)
