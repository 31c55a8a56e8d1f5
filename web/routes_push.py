"""API for Web Push: the VAPID public key, subscriptions, and the inbox (read marks, staff)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from checkin.visits import iso
from exposure.errors import InvalidSubscription
from exposure.outbox import mark_read, subscribe, unsubscribe
from exposure.runs import notifications_for
from web.auth import current_user, require_user
from web.i18n import negotiate, translator
from web.openapi import api
from web.responses import JSONResponse
from web.scopes import managed_venue_ids
from web.validation import obj, read_json
from web.visitors import require_visitor_id

KEY = {"type": "string", "pattern": r"^[A-Za-z0-9_-]+={0,2}$", "maxLength": 200}
ENDPOINT = {"type": "string", "pattern": r"^https?://", "maxLength": 2048}
SUBSCRIPTION = obj(
    {
        "endpoint": ENDPOINT,
        "keys": obj({"p256dh": KEY, "auth": KEY}, required=("p256dh", "auth")),
    },
    required=("endpoint", "keys"),
)
UNSUBSCRIBE = obj({"endpoint": ENDPOINT}, required=("endpoint",))
EITHER = "visitor token or staff account"


async def push_owner(request: Request) -> tuple[str, str]:
    """The device's owner: the signed-in staff account, else the visitor."""
    user = await current_user(request)
    if user is not None:
        return "user", str(user.id)
    return "visitor", require_visitor_id(request)


async def inbox_recipients(request: Request) -> list[tuple[str, str]]:
    """The (recipient_kind, id) pairs whose notifications this person reads."""
    kind, owner = await push_owner(request)
    if kind == "visitor":
        return [("visitor", owner)]
    user = await current_user(request)
    assert user is not None
    venue_ids = await managed_venue_ids(request.app.state.db, user)
    return [("user", owner), *(("venue", str(venue_id)) for venue_id in sorted(venue_ids))]


TITLED_BY_STATUS = {"case_status"}  # a pending case reads differently from a confirmed one


def notification_title_key(kind: str, payload: dict[str, Any]) -> str:
    """``notify.<kind>``, or ``notify.<kind>.<status>`` for a kind titled by its status."""
    if kind in TITLED_BY_STATUS:
        return f"notify.{kind}.{payload['status']}"
    return f"notify.{kind}"


def render_notification(found: dict[str, Any], translate: Any) -> dict[str, Any]:
    """A notification for the inbox, its title in the reader's language."""
    payload = found["payload"]
    return {
        "id": found["id"],
        "kind": found["kind"],
        "title": translate(
            notification_title_key(found["kind"], payload),
            venue=payload.get("venue_name", ""),
            level=payload.get("level", ""),
        ),
        "payload": payload,
        "created_at": iso(found["created_at"]),
        "read": found["read_at"] is not None,
    }


async def inbox(request: Request) -> JSONResponse:
    translate = translator(negotiate(request, request.app.state.settings.default_language))
    found: list[dict[str, Any]] = []
    for kind, recipient in await inbox_recipients(request):
        found += await notifications_for(request.app.state.db, kind, recipient)
    found.sort(key=lambda n: (n["created_at"], n["id"]), reverse=True)
    return JSONResponse([render_notification(n, translate) for n in found])


async def staff_inbox(request: Request) -> JSONResponse:
    await require_user(request)
    return await inbox(request)


async def vapid_public_key(request: Request) -> JSONResponse:
    return JSONResponse({"key": request.app.state.vapid.application_server_key()})


async def subscriptions_create(request: Request) -> JSONResponse:
    kind, owner = await push_owner(request)
    body = await read_json(request, SUBSCRIPTION)
    now = int(request.app.state.clock.now().timestamp())
    keys = body["keys"]
    if body["endpoint"].startswith("http:") and request.app.state.settings.secure_cookies:
        # Push services are HTTPS; plain HTTP only for a development server (an http base URL),
        # so a production server never POSTs to an arbitrary cleartext address.
        raise InvalidSubscription("the endpoint must be an https:// push service URL")
    subscription_id = await subscribe(
        request.app.state.db, kind, owner, body["endpoint"], keys["p256dh"], keys["auth"], now
    )
    return JSONResponse({"id": subscription_id}, status_code=201)


async def subscriptions_delete(request: Request) -> Response:
    kind, owner = await push_owner(request)
    body = await read_json(request, UNSUBSCRIBE)
    await unsubscribe(request.app.state.db, kind, owner, body["endpoint"])
    return Response(status_code=204)


async def notification_read(request: Request) -> Response:
    recipients = await inbox_recipients(request)
    now = int(request.app.state.clock.now().timestamp())
    await mark_read(request.app.state.db, recipients, request.path_params["id"], now)
    return Response(status_code=204)


INBOX = {"type": "array", "items": {"type": "object"}}
routes = [
    api(
        "/api/push/vapid-public-key",
        vapid_public_key,
        "GET",
        "The VAPID public key (applicationServerKey) to subscribe with",
        auth="none",
        tag="notifications",
    ),
    api(
        "/api/push/subscriptions",
        subscriptions_create,
        "POST",
        "Subscribe this device to push alerts",
        auth=EITHER,
        tag="notifications",
        body=SUBSCRIPTION,
        status=201,
    ),
    api(
        "/api/push/subscriptions",
        subscriptions_delete,
        "DELETE",
        "Unsubscribe this device",
        auth=EITHER,
        tag="notifications",
        body=UNSUBSCRIBE,
        status=204,
    ),
    api(
        "/api/me/notifications/{id:int}/read",
        notification_read,
        "POST",
        "Mark a notification read",
        auth=EITHER,
        tag="notifications",
        status=204,
    ),
    api(
        "/api/staff/notifications",
        staff_inbox,
        "GET",
        "Staff inbox: alerts for the venues you manage",
        auth="staff account",
        tag="notifications",
        response=INBOX,
    ),
]
