"""Staff accounts: login and logout, sessions, CSRF, throttling, API tokens, roles, audit."""

import sqlalchemy as sa

from tests.factories import PASSWORD, bearer_for, csrf_from, login, make_user
from web.accounts import Role, audit_entries
from web.auth import CSRF_COOKIE, SESSION_COOKIE
from web.tables import api_tokens, sessions, users


async def test_login_sets_a_hardened_session_cookie_and_shows_the_dashboard(client, db) -> None:
    manager = await make_user(db, Role.VENUE_MANAGER)
    response = await login(client, manager.email)
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard"
    cookie = next(
        h for h in response.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE)
    )
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    dashboard = await client.get("/dashboard")
    assert dashboard.status_code == 200
    assert manager.email in dashboard.text
    assert "Pengelola tempat" in dashboard.text  # role name, in Bahasa Indonesia by default


async def test_each_role_gets_its_own_dashboard(client, db) -> None:
    expected = {
        Role.ADMIN: "Log audit",
        Role.HEALTH_OFFICIAL: "Kasus positif",
        Role.VENUE_MANAGER: "Okupansi langsung",
        Role.CHECKPOINT_OFFICER: "Registrasi pelaku perjalanan",
        Role.ISSUER: "Terbitkan sertifikat",
    }
    for role, marker in expected.items():
        client.cookies.clear()
        user = await make_user(db, role)
        await login(client, user.email)
        assert marker in (await client.get("/dashboard")).text, role


async def test_session_token_is_stored_only_as_a_hash(client, db) -> None:
    user = await make_user(db)
    await login(client, user.email)
    token = client.cookies[SESSION_COOKIE]
    stored = await db.fetch_all(sa.select(sessions.c.token_hash))
    assert stored and all(token not in row[0] for row in stored)


async def test_wrong_password_is_refused_and_audited(client, db) -> None:
    user = await make_user(db)
    response = await login(client, user.email, "not the password")
    assert response.status_code == 401
    assert "wrong" in response.text
    assert SESSION_COOKIE not in client.cookies
    assert (await audit_entries(db))[0]["action"] == "login_failed"


async def test_login_is_throttled_after_repeated_failures(client, db, settings, clock) -> None:
    user = await make_user(db)
    for _ in range(settings.login_max_failures):
        assert (await login(client, user.email, "wrong password!")).status_code == 401
    throttled = await login(client, user.email)  # even the right password waits
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) > 0
    clock.advance(minutes=settings.login_window_minutes + 1)
    assert (await login(client, user.email)).status_code == 303


async def test_login_without_csrf_token_is_refused(client, db) -> None:
    user = await make_user(db)
    await client.get("/login")
    response = await client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 403
    assert SESSION_COOKIE not in client.cookies


async def test_csrf_token_from_another_browser_is_refused(client, db) -> None:
    user = await make_user(db)
    token = csrf_from((await client.get("/login")).text)
    client.cookies.set(CSRF_COOKIE, "someone-elses-cookie")
    response = await client.post(
        "/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 403


async def test_logout_ends_the_session(client, db) -> None:
    user = await make_user(db)
    await login(client, user.email)
    page = await client.get("/dashboard")
    await client.post("/logout", data={"csrf_token": csrf_from(page.text)})
    assert await db.fetch_val(sa.select(sa.func.count()).select_from(sessions)) == 0
    client.cookies.clear()
    assert (await client.get("/dashboard")).status_code == 303


async def test_session_cookie_api_writes_need_the_csrf_header(client, db) -> None:
    user = await make_user(db)
    await login(client, user.email)
    refused = await client.post("/api/tokens", json={"name": "laptop"})
    assert refused.status_code == 403
    token = csrf_from((await client.get("/dashboard")).text)
    accepted = await client.post(
        "/api/tokens", json={"name": "laptop"}, headers={"X-CSRF-Token": token}
    )
    assert accepted.status_code == 201


async def test_api_tokens_authenticate_and_are_hashed_at_rest(client, db) -> None:
    issuer = await make_user(db, Role.ISSUER)
    headers = await bearer_for(db, issuer)
    me = await client.get("/api/me", headers=headers)
    assert me.json()["role"] == "issuer"
    raw = headers["Authorization"].split()[1]
    stored = await db.fetch_val(sa.select(api_tokens.c.token_hash))
    assert raw not in stored
    assert await db.fetch_val(sa.select(api_tokens.c.last_used_at)) is not None


async def test_passwords_are_argon2_hashed(db) -> None:
    await make_user(db)
    stored = await db.fetch_val(sa.select(users.c.password_hash))
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


async def test_admin_creates_and_changes_users_with_audit(client, db) -> None:
    admin = await make_user(db)
    headers = await bearer_for(db, admin)
    created = await client.post(
        "/api/users",
        headers=headers,
        json={
            "email": "Dinkes@Palembang.go.id",
            "role": "health_official",
            "password": "a long password",
            "region_prefix": "16.71",
        },
    )
    assert created.status_code == 201
    assert created.json()["email"] == "dinkes@palembang.go.id"
    user_id = created.json()["id"]
    duplicate = await client.post(
        "/api/users",
        headers=headers,
        json={"email": "dinkes@palembang.go.id", "role": "admin", "password": "a long password"},
    )
    assert duplicate.status_code == 409
    changed = await client.patch(
        f"/api/users/{user_id}", headers=headers, json={"region_prefix": "16"}
    )
    assert changed.json()["region_prefix"] == "16"
    actions = [entry["action"] for entry in await audit_entries(db)]
    assert actions[:2] == ["user_changed", "user_created"]
    assert (await client.patch("/api/users/9999", headers=headers, json={})).status_code == 404


async def test_health_officials_need_a_region_and_others_none(client, db) -> None:
    headers = await bearer_for(db, await make_user(db))
    no_region = await client.post(
        "/api/users",
        headers=headers,
        json={"email": "o@x.id", "role": "health_official", "password": "a long password"},
    )
    assert no_region.status_code == 422
    stray_region = await client.post(
        "/api/users",
        headers=headers,
        json={
            "email": "m@x.id",
            "role": "venue_manager",
            "password": "a long password",
            "region_prefix": "16",
        },
    )
    assert stray_region.status_code == 422


async def test_deactivated_user_loses_sessions_and_tokens(client, db) -> None:
    admin_headers = await bearer_for(db, await make_user(db))
    manager = await make_user(db, Role.VENUE_MANAGER)
    manager_headers = await bearer_for(db, manager)
    await login(client, manager.email)
    await client.patch(f"/api/users/{manager.id}", headers=admin_headers, json={"is_active": False})
    assert (await client.get("/api/me", headers=manager_headers)).status_code == 401
    assert (await client.get("/dashboard")).status_code == 303


async def test_login_next_never_redirects_off_site(client, db) -> None:
    user = await make_user(db)
    page = await client.get("/login?next=//evil.example/phish")
    response = await client.post(
        "/login",
        data={
            "email": user.email,
            "password": PASSWORD,
            "csrf_token": csrf_from(page.text),
            "next": "https://evil.example/",
        },
    )
    assert response.headers["location"] == "/dashboard"
