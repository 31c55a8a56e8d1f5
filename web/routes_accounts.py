"""API for staff accounts, API tokens, regions and the audit log."""

from __future__ import annotations

from starlette.requests import Request

from venues.regions import list_regions, parse_region_code
from web.accounts import (
    Role,
    audit_entries,
    create_api_token,
    create_user,
    find_user,
    list_users,
    record_audit,
    update_user,
)
from web.auth import require_user
from web.errors import NotFound
from web.openapi import api
from web.responses import JSONResponse
from web.validation import ID, obj, query_value, read_json

ROLE = {"enum": [role.value for role in Role]}
REGION = {"type": "string", "pattern": r"^\d{2}(\.\d{2}(\.\d{2}(\.\d{4})?)?)?$"}
USER = obj(
    {
        "id": {"type": "integer"},
        "email": {"type": "string"},
        "role": ROLE,
        "region_prefix": {"type": ["string", "null"]},
        "display_name": {"type": "string"},
        "is_active": {"type": "boolean"},
        "issuer_id": {"type": ["integer", "null"]},
    }
)
NEW_USER = obj(
    {
        "email": {"type": "string", "format": "email", "maxLength": 320},
        "role": ROLE,
        "password": {"type": "string", "minLength": 10, "maxLength": 200},
        "region_prefix": REGION,
        "display_name": {"type": "string", "maxLength": 200},
        "issuer_id": ID,
    },
    required=("email", "role", "password"),
)
USER_CHANGE = obj(
    {
        "role": ROLE,
        "region_prefix": REGION,
        "is_active": {"type": "boolean"},
        "issuer_id": ID,
    }
)
NEW_TOKEN = obj({"name": {"type": "string", "minLength": 1, "maxLength": 100}}, ("name",))


async def me(request: Request) -> JSONResponse:
    user = await require_user(request)
    return JSONResponse(user.public())


async def users_index(request: Request) -> JSONResponse:
    await require_user(request, Role.ADMIN)
    return JSONResponse([user.public() for user in await list_users(request.app.state.db)])


async def users_create(request: Request) -> JSONResponse:
    admin = await require_user(request, Role.ADMIN)
    body = await read_json(request, NEW_USER)
    state = request.app.state
    now = state.clock.now()
    user = await create_user(
        state.db,
        email=body["email"],
        role=Role(body["role"]),
        password=body["password"],
        region_prefix=body.get("region_prefix"),
        display_name=body.get("display_name", ""),
        now=now,
        issuer_id=body.get("issuer_id"),
    )
    await record_audit(
        state.db,
        now,
        admin.id,
        "user_created",
        "user",
        str(user.id),
        {"role": user.role.value, "region_prefix": user.region_prefix, "issuer_id": user.issuer_id},
    )
    return JSONResponse(user.public(), 201)


async def users_update(request: Request) -> JSONResponse:
    admin = await require_user(request, Role.ADMIN)
    body = await read_json(request, USER_CHANGE)
    state = request.app.state
    user = await find_user(state.db, int(request.path_params["user_id"]))
    if user is None:
        raise NotFound(f"there is no user {request.path_params['user_id']}")
    changed = await update_user(
        state.db,
        user,
        role=Role(body["role"]) if "role" in body else None,
        region_prefix=body.get("region_prefix"),
        is_active=body.get("is_active"),
        issuer_id=body.get("issuer_id"),
    )
    await record_audit(
        state.db,
        state.clock.now(),
        admin.id,
        "user_changed",
        "user",
        str(user.id),
        {
            "before": {
                "role": user.role.value,
                "region_prefix": user.region_prefix,
                "is_active": user.is_active,
                "issuer_id": user.issuer_id,
            },
            "after": {
                "role": changed.role.value,
                "region_prefix": changed.region_prefix,
                "is_active": changed.is_active,
                "issuer_id": changed.issuer_id,
            },
        },
    )
    return JSONResponse(changed.public())


async def tokens_create(request: Request) -> JSONResponse:
    user = await require_user(request)
    body = await read_json(request, NEW_TOKEN)
    state = request.app.state
    token = await create_api_token(state.db, user, body["name"], state.clock.now())
    return JSONResponse({"name": body["name"], "token": token}, 201)


async def regions_index(request: Request) -> JSONResponse:
    parent = query_value(request, "parent", REGION)
    found = await list_regions(request.app.state.db, parse_region_code(parent) if parent else None)
    return JSONResponse([{"code": r.code, "name": r.name, "level": r.level} for r in found])


async def audit_index(request: Request) -> JSONResponse:
    await require_user(request, Role.ADMIN)
    return JSONResponse(await audit_entries(request.app.state.db))


routes = [
    api(
        "/api/me",
        me,
        "GET",
        "The signed-in staff user",
        auth="staff",
        tag="accounts",
        response=USER,
    ),
    api(
        "/api/users",
        users_index,
        "GET",
        "List staff accounts",
        auth="admin",
        tag="accounts",
        response={"type": "array", "items": USER},
    ),
    api(
        "/api/users",
        users_create,
        "POST",
        "Create a staff account",
        auth="admin",
        tag="accounts",
        body=NEW_USER,
        response=USER,
        status=201,
    ),
    api(
        "/api/users/{user_id:int}",
        users_update,
        "PATCH",
        "Change a role, region or activity",
        auth="admin",
        tag="accounts",
        body=USER_CHANGE,
        response=USER,
    ),
    api(
        "/api/tokens",
        tokens_create,
        "POST",
        "Create an API token for yourself (shown once)",
        auth="staff",
        tag="accounts",
        body=NEW_TOKEN,
        status=201,
        response=obj({"name": {"type": "string"}, "token": {"type": "string"}}),
    ),
    api(
        "/api/regions",
        regions_index,
        "GET",
        "Regions under a parent (provinces by default)",
        auth="public",
        tag="regions",
        query={"parent": REGION},
        response={"type": "array", "items": {"type": "object"}},
    ),
    api(
        "/api/audit",
        audit_index,
        "GET",
        "The latest audit log entries",
        auth="admin",
        tag="accounts",
        response={"type": "array", "items": {"type": "object"}},
    ),
]
