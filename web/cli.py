"""The ``singgah`` command: serve, migrate, and operator tasks without the web UI."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import logging
import os
import secrets
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from datetime import UTC, datetime
from typing import Any

import anyio

from certificates.errors import CertificateError
from certificates.issuers import (
    ISSUER_KINDS,
    create_issuer,
    create_signing_certificate,
    find_issuer,
)
from certificates.signers import load_trusted_base64, trust_store
from certificates.trust_list import import_trusted, parse_trust_list, verify_with_trust_list
from certificates.verify import verify_hc1
from checkin.rotation import reseal_personal_data
from venues.errors import VenueError
from venues.keys import create_key, ensure_signing_key, list_keys, retire_key
from venues.posters import render_posters_pdf
from venues.regions import find_region, import_regions, parse_regions_csv, seed_regions_if_empty
from venues.registry import (
    import_venues,
    list_venues,
    parse_venues_csv,
    venue_poster,
    venue_token,
)
from venues.tokens import checkin_url
from web.accounts import Role, create_api_token, create_user, find_user_by_email, record_audit
from web.clock import SystemClock
from web.database import Database, open_database
from web.demo import CREDENTIALS_FILE, save_credentials, seed_demo_accounts, seed_demo_venue
from web.errors import Problem
from web.keyring import add_data_key, venue_key_encryption_key
from web.migrations import migrate
from web.privacy import purge
from web.push import build_sender
from web.routes_certificates import sealing_key
from web.settings import Settings, SettingsError, load_settings, resolve_secrets, settings_help

EXIT_FAILURE = 1
EXIT_USAGE = 2
clock = SystemClock()


class CommandFailed(Exception):
    """A CLI command could not do its job; the message is printed for the operator."""


class UsageError(Exception):
    """The command line itself is wrong (exit status 2, as argparse uses)."""


@contextlib.asynccontextmanager
async def connected(settings: Settings) -> AsyncIterator[Database]:
    db = open_database(settings.resolved_database_url, settings.sqlite_pool_size)
    await db.connect()
    try:
        yield db
    finally:
        await db.disconnect()


async def prepare_database(settings: Settings) -> None:
    """Migrate, load the bundled regions when the table is empty, make a first signing key."""
    async with connected(settings) as db:
        applied = await migrate(db, clock.now())
        for migration in applied:
            print(f"applied migration {migration.version:04d}_{migration.name}")
        seeded = await seed_regions_if_empty(db)
        if seeded:
            print(f"loaded {seeded} bundled regions")
        await ensure_signing_key(db, clock.now(), venue_key_encryption_key(settings))


async def prepare_demo(settings: Settings) -> None:
    async with connected(settings) as db:
        credentials = await seed_demo_accounts(db, clock.now(), settings)
        if credentials:
            credentials += await seed_demo_venue(db, clock.now(), settings)
    if credentials:
        save_credentials(settings.data_dir, credentials)
        print(credentials)
    else:
        print(f"demo accounts exist; their passwords are in {settings.data_dir / CREDENTIALS_FILE}")


def cmd_serve(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    asyncio.run(prepare_database(settings))
    if args.demo:
        asyncio.run(prepare_demo(settings))
    host = args.host or settings.host
    port = args.port or settings.port
    engine = settings.resolved_database_url.split(":")[0]
    print(f"Singgah is serving on http://{host}:{port} (database: {engine})")
    uvicorn.run(
        "web.app:app_from_environment",
        **server_options(settings, host=host, port=port, workers=args.workers),
    )


def server_options(settings: Settings, *, host: str, port: int, workers: int) -> dict[str, Any]:
    """The uvicorn options of ``singgah serve`` (``bench/checkin_load.py`` serves its bare
    baseline with the same ones, so the two figures compare like with like)."""
    return {
        "factory": True,
        "host": host,
        "port": port,
        "workers": workers,
        "log_level": settings.log_level.lower(),
        # Client address and scheme from X-Forwarded-For/-Proto, only when the peer is one
        # of these proxies (anyone else could forge them and dodge the per-IP rate limit).
        "proxy_headers": True,
        "forwarded_allow_ips": settings.forwarded_allow_ips,
        "server_header": False,
        # No access log: a line per request would record every visitor's address and the
        # time of each check-in (personal data that the logs must not hold), and costs
        # about a third of the bare endpoint's throughput. Errors are still logged.
        "access_log": False,
        # h11 refuses a request line plus headers over this (400); httptools has no limit of
        # its own, so the h11 parser is chosen. Check-in costs are in the application, not the
        # parser (docs/performance.md), so the limit costs little.
        "http": "h11",
        "h11_max_incomplete_event_size": settings.max_header_bytes,
    }


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> None:
    asyncio.run(prepare_database(settings))
    print("database is up to date")


def read_new_password(generate: bool) -> tuple[str, bool]:
    """A password typed twice at a terminal, or a generated one (returned with True)."""
    if generate or not sys.stdin.isatty():
        return secrets.token_urlsafe(15), True
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise CommandFailed("the passwords differ")
    return first, False


async def _create_user(settings: Settings, args: argparse.Namespace) -> None:
    password, generated = read_new_password(args.generate_password)
    async with connected(settings) as db:
        user = await create_user(
            db,
            email=args.email,
            role=Role(args.role),
            password=password,
            now=clock.now(),
            region_prefix=args.region,
            display_name=args.name or "",
            issuer_id=args.issuer,
        )
        await record_audit(
            db,
            clock.now(),
            None,
            "user_created",
            "user",
            str(user.id),
            {"role": user.role.value, "via": "cli"},
        )
    print(f"created {user.role.value} {user.email} (id {user.id})")
    if generated:
        print(f"password: {password}")


async def _create_token(settings: Settings, args: argparse.Namespace) -> None:
    async with connected(settings) as db:
        user = await find_user_by_email(db, args.email)
        if user is None:
            raise CommandFailed(f"there is no account {args.email}")
        token = await create_api_token(db, user, args.name, clock.now())
    print(token)


async def _import_regions(settings: Settings, args: argparse.Namespace) -> None:
    found = parse_regions_csv(await anyio.Path(args.file).read_text(encoding="utf-8"))
    async with connected(settings) as db:
        count = await import_regions(db, found)
    print(f"imported {count} regions")


async def _keys_rotate(settings: Settings, args: argparse.Namespace) -> None:
    async with connected(settings) as db:
        key = await create_key(db, clock.now(), venue_key_encryption_key(settings))
        await record_audit(db, clock.now(), None, "signing_key_rotated", "signing_key", key.kid)
    print(f"new signing key {key.kid}: new posters use it; older posters keep working")


async def _keys_retire(settings: Settings, args: argparse.Namespace) -> None:
    async with connected(settings) as db:
        key = await retire_key(db, args.kid, clock.now())
        await record_audit(db, clock.now(), None, "signing_key_retired", "signing_key", key.kid)
    print(f"retired {key.kid}: posters it signed no longer verify")


async def _keys_rotate_data_key(settings: Settings, args: argparse.Namespace) -> None:
    async with connected(settings) as db:
        keys = await add_data_key(db, settings, clock.now())
        counts = await reseal_personal_data(db, keys)
        await record_audit(
            db, clock.now(), None, "data_key_rotated", "data_key", keys.key_id, counts
        )
    resealed = ", ".join(f"{table} {count}" for table, count in counts.items())
    print(f"new personal-data key {keys.key_id}; re-sealed: {resealed}")
    print("restart `singgah serve` so new data is sealed with it (older key ids still open)")


async def _purge(settings: Settings, args: argparse.Namespace) -> None:
    async with connected(settings) as db:
        counts = await purge(db, settings, clock.now())
    for table, count in counts.items():
        print(f"{table}: {count} deleted")


async def _keys_list(settings: Settings, args: argparse.Namespace) -> None:
    async with connected(settings) as db:
        for key in await list_keys(db):
            print(json.dumps(key.public()))


async def _venues_import(settings: Settings, args: argparse.Namespace) -> None:
    found = parse_venues_csv(await anyio.Path(args.file).read_text(encoding="utf-8"))
    kek = venue_key_encryption_key(settings)
    async with connected(settings) as db:
        created = await import_venues(db, found, clock.now())
        for venue in created:
            token, _ = await venue_token(db, venue, kek)
            line = {
                "id": venue.id,
                "code": venue.code,
                "checkin_url": checkin_url(settings.base_url, token),
            }
            print(json.dumps(line))


async def _venues_posters(settings: Settings, args: argparse.Namespace) -> None:
    kek = venue_key_encryption_key(settings)
    async with connected(settings) as db:
        region = await find_region(db, args.region)
        found = await list_venues(db, region_prefix=region.code, include_inactive=False)
        if not found:
            raise CommandFailed(
                f"region {region.code} ({region.name}) has no active venues; nothing written"
            )
        contents = [(await venue_poster(db, venue, kek, settings.base_url))[0] for venue in found]
    await anyio.Path(args.output).write_bytes(render_posters_pdf(contents))
    print(f"wrote {len(contents)} posters of {region.code} {region.name} to {args.output}")


async def _create_issuer(settings: Settings, args: argparse.Namespace) -> None:
    async with connected(settings) as db:
        issuer = await create_issuer(
            db, name=args.name, kind=args.kind, country=args.country, now=clock.now()
        )
        await record_audit(
            db, clock.now(), None, "issuer_created", "issuer", str(issuer.id), {"via": "cli"}
        )
    print(f"created issuer {issuer.name} (id {issuer.id})")


async def _add_signer(settings: Settings, args: argparse.Namespace) -> None:
    async with connected(settings) as db:
        issuer = await find_issuer(db, args.issuer)
        signer = await create_signing_certificate(
            db,
            issuer,
            certificate_types=args.types.split(","),
            now=clock.now(),
            sealing_key=sealing_key(settings),
        )
        await record_audit(
            db, clock.now(), None, "signing_certificate_created", "signing_certificate",
            str(signer.id), {"issuer_id": issuer.id, "kid": signer.kid, "via": "cli"},
        )  # fmt: skip
    print(f"created signing certificate {signer.id} with kid {signer.kid}")


async def _import_trust_list(settings: Settings, args: argparse.Namespace) -> None:
    found = parse_trust_list(await anyio.Path(args.file).read_text(encoding="utf-8"))
    async with connected(settings) as db:
        added = await import_trusted(db, found, source=os.path.basename(args.file), now=clock.now())
    print(f"imported {added} new of {len(found)} certificates")


def _verification_time(text: str | None) -> datetime:
    if text is None:
        return clock.now()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise UsageError(f"--at: {text!r} is not an ISO 8601 time") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # unzoned means UTC


async def _verify_certificate(settings: Settings, args: argparse.Namespace) -> int:
    now = _verification_time(args.at)
    if args.trust_cert:
        # Given signers make the check self-contained: no database is read.
        try:
            signers = [load_trusted_base64(text) for text in args.trust_cert]
        except CertificateError as exc:
            raise UsageError(f"--trust-cert: {exc}") from exc
        result = verify_hc1(args.hc1, trust_store(signers), now)
    else:
        async with connected(settings) as db:
            result = await verify_with_trust_list(db, args.hc1, now)
    print(json.dumps(result.to_json(), indent=2))
    return 0 if result.valid else EXIT_FAILURE


async def _worker(settings: Settings, args: argparse.Namespace) -> None:
    await prepare_database(settings)
    async with connected(settings) as db:
        sender = build_sender(db, settings, SystemClock().now)
        try:
            if args.once:
                counts = await sender.run_until_idle()
                print(json.dumps(counts, sort_keys=True))
            else:
                await sender.run_forever()
        finally:
            await sender.aclose()


def run_async(
    command: Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int | None]],
    *,
    fast_loop: bool = False,
) -> Callable[[Settings, argparse.Namespace], int | None]:
    """``fast_loop``: on uvloop where it is installed (uvicorn[standard] brings it), the loop
    ``serve`` runs its sender on; the push sender is 5-10% faster on it (docs/performance.md)."""

    def runner(settings: Settings, args: argparse.Namespace) -> int | None:
        work = command(settings, args)
        if fast_loop:
            with contextlib.suppress(ImportError):
                import uvloop

                return uvloop.run(work)
        return asyncio.run(work)

    return runner


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="singgah",
        description="Singgah: venue QR check-in and exposure notification.",
        epilog=settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="migrate the database, then serve HTTP")
    serve.add_argument("--host", help="address to listen on (default SINGGAH_HOST)")
    serve.add_argument("--port", type=int, help="port to listen on (default SINGGAH_PORT)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    serve.add_argument(
        "--demo",
        action="store_true",
        help="on first start create demo accounts and print their passwords",
    )
    serve.set_defaults(func=cmd_serve)

    worker = commands.add_parser("worker", help="send push notifications (the outbox sender)")
    worker.add_argument("--once", action="store_true", help="send what is due now, then exit")
    worker.set_defaults(func=run_async(_worker, fast_loop=True))

    migrate_cmd = commands.add_parser("migrate", help="apply pending database migrations")
    migrate_cmd.set_defaults(func=cmd_migrate)

    users = commands.add_parser("users", help="staff accounts").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    create = users.add_parser("create", help="create a staff account")
    create.add_argument("--email", required=True)
    create.add_argument("--role", required=True, choices=[role.value for role in Role])
    create.add_argument("--region", help="region code prefix, required for health_official")
    create.add_argument("--name", help="display name")
    create.add_argument("--issuer", type=int, help="issuer id an issuer account acts for")
    create.add_argument(
        "--generate-password",
        action="store_true",
        help="generate and print a password instead of asking for one",
    )
    create.set_defaults(func=run_async(_create_user))

    tokens = commands.add_parser("tokens", help="API tokens").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    token = tokens.add_parser("create", help="create an API token and print it once")
    token.add_argument("--email", required=True, help="the account the token acts as")
    token.add_argument("--name", required=True, help="what the token is for")
    token.set_defaults(func=run_async(_create_token))

    regions = commands.add_parser("regions", help="administrative regions").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    region_import = regions.add_parser("import", help="load regions from a CSV file (code,name)")
    region_import.add_argument("file", help="CSV with columns code,name; parents before children")
    region_import.set_defaults(func=run_async(_import_regions))

    keys = commands.add_parser("keys", help="poster signing keys").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    keys.add_parser("rotate", help="make a new key sign new posters").set_defaults(
        func=run_async(_keys_rotate)
    )
    retire = keys.add_parser("retire", help="retire a key: the posters it signed stop working")
    retire.add_argument("kid", help="the key id, as `singgah keys list` shows it")
    retire.set_defaults(func=run_async(_keys_retire))
    keys.add_parser("list", help="every key as a JSON line").set_defaults(
        func=run_async(_keys_list)
    )
    keys.add_parser(
        "rotate-data-key", help="a new personal-data key id; re-seal all personal data with it"
    ).set_defaults(func=run_async(_keys_rotate_data_key))

    commands.add_parser(
        "purge", help="delete what is past its retention period; prints counts per table"
    ).set_defaults(func=run_async(_purge))

    venues = commands.add_parser("venues", help="venues").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    venue_import = venues.add_parser(
        "import", help="register venues from a CSV file; prints a JSON line per venue"
    )
    venue_import.add_argument("file", help="CSV with a header; columns in the README")
    venue_import.set_defaults(func=run_async(_venues_import))
    posters = venues.add_parser(
        "posters",
        help="every active venue of a region in one PDF, one A4 poster a page",
        description="Write the posters of every active venue in a region (and the regions "
        "under it) to one PDF, one A4 page per venue, ordered by venue name.",
    )
    posters.add_argument(
        "--region", required=True, help="region code prefix, e.g. 16 (a province) or 16.71"
    )
    posters.add_argument("-o", "--output", required=True, metavar="FILE.pdf", help="PDF to write")
    posters.set_defaults(func=run_async(_venues_posters))
    add_certificate_commands(commands)
    return parser


def add_certificate_commands(commands: Any) -> None:
    issuers = commands.add_parser("issuers", help="accredited certificate issuers")
    issuer_actions = issuers.add_subparsers(dest="action", required=True, metavar="ACTION")
    new_issuer = issuer_actions.add_parser("create", help="register an issuer")
    new_issuer.add_argument("--name", required=True)
    new_issuer.add_argument("--kind", required=True, choices=ISSUER_KINDS)
    new_issuer.add_argument("--country", default="ID", help="two-letter code (default ID)")
    new_issuer.set_defaults(func=run_async(_create_issuer))
    signer = issuer_actions.add_parser("add-signer", help="create a signing key and certificate")
    signer.add_argument("--issuer", type=int, required=True, help="the issuer's id")
    signer.add_argument("--types", default="t,v,r", help="certificate types it may sign: t,v,r")
    signer.set_defaults(func=run_async(_add_signer))

    trust = commands.add_parser("trust", help="the trust list of signer certificates")
    trust_actions = trust.add_subparsers(dest="action", required=True, metavar="ACTION")
    trust_import = trust_actions.add_parser("import", help="trust the certificates in a file")
    trust_import.add_argument(
        "file", help="JSON: an array of base64 DER certificates, or kid->list"
    )
    trust_import.set_defaults(func=run_async(_import_trust_list))

    certificates = commands.add_parser("certificates", help="health certificates (HC1)")
    certificate_actions = certificates.add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    verify = certificate_actions.add_parser(
        "verify",
        help="verify an HC1 certificate; prints JSON, exits 0 valid, 1 invalid, 2 usage error",
    )
    verify.add_argument("hc1", help="the HC1:... text")
    verify.add_argument("--at", help="ISO 8601 time to verify at (default now; UTC if unzoned)")
    verify.add_argument(
        "--trust-cert",
        action="append",
        metavar="BASE64_DER",
        help="trust this signer (repeatable); without it, the database's trust list is used",
    )
    verify.set_defaults(func=run_async(_verify_certificate))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = resolve_secrets(load_settings())
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    # `databases` logs every connect at INFO, including the URL; keep it to warnings.
    logging.getLogger("databases").setLevel(logging.WARNING)
    os.environ.setdefault("SINGGAH_DATA_DIR", str(settings.data_dir))
    try:
        return args.func(settings, args) or 0
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (CommandFailed, Problem, VenueError, CertificateError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
