"""Poster token verification per second: cold (Ed25519 each time) and cached, in one run.

Both go through `verify_venue_token` on a real SQLite database, so the figures include the
key and venue lookups that make retirement and deactivation take effect at once; the
signature-only rates are printed beside them.

    python -m bench.tokens [--tokens 2000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from venues.keys import ensure_signing_key
from venues.regions import seed_regions_if_empty
from venues.registry import VenueFields, VenueKind, create_venue, venue_token, verify_venue_token
from venues.tokens import SignatureCache, parse_token
from web.database import open_database
from web.migrations import migrate

NOW = datetime(2026, 11, 22, tzinfo=UTC)
KEK = bytes(32)


async def run(count: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        db = open_database(f"sqlite:///{Path(folder) / 'bench.db'}")
        await db.connect()
        try:
            await migrate(db, NOW)
            await seed_regions_if_empty(db)
            key = await ensure_signing_key(db, NOW, KEK)
            tokens = []
            async with db.transaction():
                for n in range(count):
                    fields = VenueFields(f"Venue {n}", VenueKind.OTHER, "16.71")
                    venue = await create_venue(db, fields, NOW)
                    tokens.append((await venue_token(db, venue, KEK))[0])
            result = {}
            for label, cache in (("cold", None), ("cached", SignatureCache())):
                if cache is not None:
                    for token in tokens:
                        await verify_venue_token(db, token, cache)
                began = time.perf_counter()
                for token in tokens:
                    await verify_venue_token(db, token, cache or SignatureCache())
                result[f"{label}_per_s"] = round(count / (time.perf_counter() - began))
            verifier = key.verifier()
            parsed = [parse_token(token) for token in tokens]
            began = time.perf_counter()
            for _, signed, signature in parsed:
                verifier.verify(signature, signed)
            result["signature_only_per_s"] = round(count / (time.perf_counter() - began))
            return result
        finally:
            await db.disconnect()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(run(args.tokens))
    if args.json:
        print(json.dumps(result))
    else:
        for name, value in result.items():
            print(f"{name:<24} {value:>8}")
        print(f"cached / cold: {result['cached_per_s'] / result['cold_per_s']:.2f}x")


if __name__ == "__main__":
    main()
