"""Who may see and change which venue: the authorization rules over the venue registry.

Admins: every venue. Venue managers: the venues they manage (read and write). Health officials:
the venues in their region (read only). Anyone else, or a venue out of scope: 404, so the
existence of venues outside one's scope does not leak.

Staff-assisted check-in: admins anywhere, venue managers (door staff) at the venues they
manage, checkpoint officers at border checkpoints only (they are not scoped to a region, and a
mall's door is its own staff's business).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import sqlalchemy as sa
from databases import Database
from starlette.requests import Request

from venues.errors import VenueNotFound
from venues.regions import covers
from venues.registry import Venue, VenueKind, find_venue, list_venues, venue_in_region
from web.accounts import Role, User
from web.auth import require_user
from web.errors import Forbidden, NotFound
from web.tables import venue_managers

VENUE_READERS = (Role.ADMIN, Role.VENUE_MANAGER, Role.HEALTH_OFFICIAL)
VENUE_WRITERS = (Role.ADMIN, Role.VENUE_MANAGER)
ASSISTING_STAFF = (Role.ADMIN, Role.VENUE_MANAGER, Role.CHECKPOINT_OFFICER)


async def managed_venue_ids(db: Database, user: User) -> set[int]:
    rows = await db.fetch_all(
        sa.select(venue_managers.c.venue_id).where(venue_managers.c.user_id == user.id)
    )
    return {row[0] for row in rows}


async def assign_manager(db: Database, user: User, venue_id: int) -> None:
    if venue_id not in await managed_venue_ids(db, user):
        await db.execute(sa.insert(venue_managers).values(user_id=user.id, venue_id=venue_id))


async def may_read(db: Database, user: User, venue: Venue) -> bool:
    if user.role is Role.ADMIN:
        return True
    if user.role is Role.HEALTH_OFFICIAL:
        return user.region_prefix is not None and venue_in_region(venue, user.region_prefix)
    if user.role is Role.VENUE_MANAGER:
        return venue.id in await managed_venue_ids(db, user)
    return False


async def may_assist(db: Database, user: User, venue: Venue) -> bool:
    """Whether ``user`` may check people in at ``venue`` on their behalf."""
    if user.role is Role.CHECKPOINT_OFFICER:
        return venue.kind is VenueKind.BORDER_CHECKPOINT
    return user.role in VENUE_WRITERS and await may_read(db, user, venue)


ScopeRule = Callable[[Database, User, Venue], Awaitable[bool]]


async def _venue_in_scope(
    request: Request, venue_id: int, roles: tuple[Role, ...], allowed: ScopeRule
) -> tuple[User, Venue]:
    user = await require_user(request, *roles)
    db = request.app.state.db
    try:
        venue = await find_venue(db, venue_id)
    except VenueNotFound as exc:
        raise NotFound(f"there is no venue {venue_id} you can see") from exc
    if not await allowed(db, user, venue):
        raise NotFound(f"there is no venue {venue_id} you can see")
    return user, venue


async def venue_for(request: Request, venue_id: int, *, write: bool = False) -> tuple[User, Venue]:
    """The signed-in user and the venue, once the user may read it (and change it, if asked)."""
    roles = VENUE_WRITERS if write else VENUE_READERS
    return await _venue_in_scope(request, venue_id, roles, may_read)


async def assisting_venue(request: Request, venue_id: int) -> tuple[User, Venue]:
    """The signed-in staff member and the venue, once they may check people in there."""
    return await _venue_in_scope(request, venue_id, ASSISTING_STAFF, may_assist)


async def assistable_venues(db: Database, user: User, kind: VenueKind | None = None) -> list[Venue]:
    """The active venues (of ``kind``, if given) where ``user`` may check people in."""
    if user.role is Role.CHECKPOINT_OFFICER:
        kind = VenueKind.BORDER_CHECKPOINT
    elif user.role not in VENUE_WRITERS:
        return []
    managed = await managed_venue_ids(db, user) if user.role is Role.VENUE_MANAGER else None
    return await list_venues(db, venue_ids=managed, include_inactive=False, kind=kind)


async def visible_venues(db: Database, user: User, region: str | None) -> list[Venue]:
    """The venues ``user`` may read, optionally narrowed to ``region``; scoped in the query."""
    if user.role is Role.HEALTH_OFFICIAL:
        prefix = user.region_prefix or ""
        if region and not covers(prefix, region):
            raise Forbidden(f"your region is {prefix}; {region} is outside it")
        return await list_venues(db, region_prefix=region or prefix)
    if user.role is Role.VENUE_MANAGER:
        return await list_venues(
            db, region_prefix=region, venue_ids=await managed_venue_ids(db, user)
        )
    return await list_venues(db, region_prefix=region)
