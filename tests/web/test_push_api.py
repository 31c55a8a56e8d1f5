"""The push and inbox API: VAPID key, subscriptions, read marks, the staff inbox."""

import base64
from dataclasses import replace

import httpx
import sqlalchemy as sa

from exposure.outbox import queue_notifications
from exposure.tables import push_subscriptions
from tests.factories import bearer_for, make_user, make_venue, make_visitor, poster_token
from web.accounts import Role
from web.app import create_app
from web.push import build_sender, resolve_recipients
from web.scopes import assign_manager

DEVICE = {
    "endpoint": "https://push.example/send/abc",
    "keys": {
        "p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u",
        "auth": "tBH",
    },
}


async def test_the_vapid_public_key_is_an_uncompressed_p256_point(client, settings) -> None:
    response = await client.get("/api/push/vapid-public-key")
    assert response.status_code == 200
    key = response.json()["key"]
    point = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
    assert len(point) == 65 and point[0] == 4
    assert (settings.data_dir / "vapid_private.pem").stat().st_mode & 0o077 == 0
    again = await client.get("/api/push/vapid-public-key")
    assert again.json()["key"] == key


async def test_a_visitor_subscribes_devices_and_unsubscribes(client, db) -> None:
    visitor = await make_visitor(client)
    created = await client.post("/api/push/subscriptions", json=DEVICE, headers=visitor["headers"])
    assert created.status_code == 201
    laptop = {**DEVICE, "endpoint": "https://push.example/send/def"}
    await client.post("/api/push/subscriptions", json=laptop, headers=visitor["headers"])
    owners = await db.fetch_all(sa.select(push_subscriptions.c.owner_id))
    assert [row[0] for row in owners] == [visitor["visitor_id"]] * 2
    gone_body = {"endpoint": laptop["endpoint"]}
    gone = await client.request(
        "DELETE", "/api/push/subscriptions", json=gone_body, headers=visitor["headers"]
    )
    assert gone.status_code == 204
    again = await client.request(
        "DELETE", "/api/push/subscriptions", json=gone_body, headers=visitor["headers"]
    )
    assert again.status_code == 404
    assert await db.fetch_val(sa.select(sa.func.count()).select_from(push_subscriptions)) == 1


async def test_bad_subscriptions_are_refused(client) -> None:
    visitor = await make_visitor(client)
    for body in ({"endpoint": "ftp://x"}, {**DEVICE, "extra": 1}, {"endpoint": "https://x"}):
        response = await client.post(
            "/api/push/subscriptions", json=body, headers=visitor["headers"]
        )
        assert response.status_code == 422, body
    assert (await client.post("/api/push/subscriptions", json=DEVICE)).status_code == 401


async def test_managers_get_occupancy_alerts_in_their_inbox_and_mark_them_read(
    client, db, kek, clock, app
) -> None:
    venue = await make_venue(db, kek, name="Kantor Camat", capacity=1)
    manager = await make_user(db, Role.VENUE_MANAGER)
    await assign_manager(db, manager, venue.id)
    staff = await bearer_for(db, manager)
    await client.post("/api/push/subscriptions", json=DEVICE, headers=staff)
    visitor = await make_visitor(client)
    token = await poster_token(db, kek, venue)
    await client.post("/api/checkins", json={"token": token}, headers=visitor["headers"])

    sender = build_sender(db, app.state.settings, clock.now)
    try:
        await sender.fan_out()
    finally:
        await sender.aclose()
    english = await client.get(
        "/api/staff/notifications", headers={**staff, "accept-language": "en"}
    )
    titles = [n["title"] for n in english.json()]
    assert titles == [
        "Kantor Camat reached 100% of capacity",
        "Kantor Camat reached 80% of capacity",
    ]
    indonesian = await client.get("/api/me/notifications", headers=staff)
    alert = indonesian.json()[0]
    assert alert["title"] == "Kantor Camat mencapai 100% kapasitas" and not alert["read"]
    assert alert["kind"] == "occupancy_alert"
    outsider = await bearer_for(db, await make_user(db, Role.VENUE_MANAGER))
    refused = await client.post(f"/api/me/notifications/{alert['id']}/read", headers=outsider)
    assert refused.status_code == 404
    read = await client.post(f"/api/me/notifications/{alert['id']}/read", headers=staff)
    assert read.status_code == 204
    assert (await client.get("/api/staff/notifications", headers=staff)).json()[0]["read"]
    assert await resolve_recipients(db, "venue", str(venue.id)) == [("user", str(manager.id))]


async def test_a_visitor_marks_an_alert_read_and_staff_inbox_needs_staff(client, db) -> None:
    visitor = await make_visitor(client)
    await queue_notifications(
        db,
        [
            {
                "recipient_kind": "visitor",
                "recipient_id": visitor["visitor_id"],
                "kind": "exposure_alert",
                "payload": '{"kind": "exposure_alert", "venue_name": "Pasar"}',
                "dedupe_key": "k1",
                "created_at": 1,
            }
        ],
    )
    [alert] = (await client.get("/api/me/notifications", headers=visitor["headers"])).json()
    assert alert["title"] == "Anda kontak erat dengan kasus positif di Pasar"
    read = await client.post(
        f"/api/me/notifications/{alert['id']}/read", headers=visitor["headers"]
    )
    assert read.status_code == 204
    [alert] = (await client.get("/api/me/notifications", headers=visitor["headers"])).json()
    assert alert["read"]
    staff_only = await client.get("/api/staff/notifications", headers=visitor["headers"])
    assert staff_only.status_code == 401


async def test_an_https_server_refuses_cleartext_push_endpoints(settings, db, clock) -> None:
    app = create_app(
        replace(settings, base_url="https://singgah.example"), clock=clock, database=db
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://singgah.example") as client:
        visitor = await make_visitor(client)
        cleartext = {**DEVICE, "endpoint": "http://10.0.0.1/internal"}
        refused = await client.post(
            "/api/push/subscriptions", json=cleartext, headers=visitor["headers"]
        )
        assert refused.status_code == 422
        assert refused.json()["type"].endswith("invalid-push-subscription")
        accepted = await client.post(
            "/api/push/subscriptions", json=DEVICE, headers=visitor["headers"]
        )
        assert accepted.status_code == 201
