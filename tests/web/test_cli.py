"""The `singgah` command, run as an operator would: a real process on a real database."""

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.factories import START
from tests.venues.test_posters import decoded_urls, normalised, pdf_pages, pdf_texts
from venues.registry import find_venue, update_venue
from web.database import open_database

ROOT = Path(__file__).resolve().parents[2]


def singgah(
    data_dir: Path,
    *args: str,
    stdin: str = "",
    database_url: str = "",
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    environment = {
        **os.environ,
        "SINGGAH_DATA_DIR": str(data_dir),
        "SINGGAH_DATABASE_URL": database_url,
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "web.cli", *args],
        cwd=ROOT,
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def test_help_lists_commands_and_settings(data_dir) -> None:
    result = singgah(data_dir, "--help")
    assert result.returncode == 0
    for word in ("serve", "migrate", "users", "tokens", "regions", "SINGGAH_DATABASE_URL"):
        assert word in result.stdout


def test_usage_errors_exit_2(data_dir) -> None:
    assert singgah(data_dir, "users", "create", "--email", "x@y.id").returncode == 2


def test_migrate_then_create_user_and_token(data_dir, database_url) -> None:
    assert singgah(data_dir, "migrate", database_url=database_url).returncode == 0
    created = singgah(
        data_dir,
        "users",
        "create",
        "--email",
        "lab@rs.id",
        "--role",
        "issuer",
        database_url=database_url,
    )
    assert created.returncode == 0, created.stderr
    assert "password: " in created.stdout
    token = singgah(
        data_dir,
        "tokens",
        "create",
        "--email",
        "lab@rs.id",
        "--name",
        "LIS",
        database_url=database_url,
    )
    assert token.returncode == 0 and token.stdout.startswith("sgk_")
    unknown = singgah(
        data_dir,
        "tokens",
        "create",
        "--email",
        "no@one.id",
        "--name",
        "x",
        database_url=database_url,
    )
    assert unknown.returncode == 1 and "no account" in unknown.stderr


def test_official_without_region_is_refused(data_dir, database_url) -> None:
    result = singgah(
        data_dir,
        "users",
        "create",
        "--email",
        "o@x.id",
        "--role",
        "health_official",
        database_url=database_url,
    )
    assert result.returncode == 1 and "region" in result.stderr


def test_regions_import_reports_the_bad_line_and_imports_nothing(
    data_dir, database_url, tmp_path
) -> None:
    assert singgah(data_dir, "migrate", database_url=database_url).returncode == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("code,name\n16.71.01,Ilir Barat II\n16.71.99.x,Broken\n")
    result = singgah(data_dir, "regions", "import", str(bad), database_url=database_url)
    assert result.returncode == 1 and "line 3" in result.stderr
    good = tmp_path / "good.csv"
    good.write_text("code,name\n16.71.01,Ilir Barat II\n16.71.01.1001,Bukit Lama\n")
    result = singgah(data_dir, "regions", "import", str(good), database_url=database_url)
    assert result.returncode == 0 and "imported 2" in result.stdout


def test_keys_rotate_list_and_retire(data_dir, database_url) -> None:
    assert singgah(data_dir, "migrate", database_url=database_url).returncode == 0
    first = singgah(data_dir, "keys", "list", database_url=database_url).stdout.splitlines()
    assert len(first) == 1
    rotated = singgah(data_dir, "keys", "rotate", database_url=database_url)
    assert rotated.returncode == 0 and "new signing key" in rotated.stdout
    keys = [
        json.loads(line)
        for line in singgah(data_dir, "keys", "list", database_url=database_url).stdout.splitlines()
    ]
    newest = keys[-1]["kid"]
    refused = singgah(data_dir, "keys", "retire", newest, database_url=database_url)
    assert refused.returncode == 1 and "rotate first" in refused.stderr
    retired = singgah(data_dir, "keys", "retire", keys[0]["kid"], database_url=database_url)
    assert retired.returncode == 0


def migrate_and_import(
    data_dir: Path, database_url: str, csv_file: Path, rows: str
) -> subprocess.CompletedProcess:
    """`singgah migrate`, then `singgah venues import` of ``rows`` written to ``csv_file``."""
    assert singgah(data_dir, "migrate", database_url=database_url).returncode == 0
    csv_file.write_text(rows)
    return singgah(data_dir, "venues", "import", str(csv_file), database_url=database_url)


def test_venues_import_prints_json_lines_or_names_the_bad_line(
    data_dir, database_url, tmp_path
) -> None:
    result = migrate_and_import(
        data_dir,
        database_url,
        tmp_path / "venues.csv",
        "name,kind,region_code,capacity\nKantor Lurah 23 Ilir,public_office,16.71,20\n"
        "SMA Negeri 1,school,16.71,900\n",
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [set(line) for line in lines] == [{"id", "code", "checkin_url"}] * 2
    assert lines[0]["checkin_url"].startswith("http://127.0.0.1:8000/c/")
    bad = tmp_path / "bad.csv"
    bad.write_text("name,kind,region_code\nOK Hall,event,16.71\nBad Hall,casino,16.71\n")
    result = singgah(data_dir, "venues", "import", str(bad), database_url=database_url)
    assert result.returncode == 1 and "line 3" in result.stderr


async def _deactivate(database_url: str, venue_id: int) -> None:
    db = open_database(database_url)
    await db.connect()
    try:
        await update_venue(db, await find_venue(db, venue_id), {"is_active": False}, START)
    finally:
        await db.disconnect()


def region_posters(
    data_dir: Path, database_url: str, region: str, output: Path
) -> subprocess.CompletedProcess:
    return singgah(
        data_dir, "venues", "posters", "--region", region, "-o", str(output),
        database_url=database_url,
    )  # fmt: skip


def test_venues_posters_writes_one_page_per_active_venue_of_the_region(
    data_dir, database_url, tmp_path
) -> None:
    imported = migrate_and_import(
        data_dir,
        database_url,
        tmp_path / "venues.csv",
        "name,kind,region_code\nSMA Negeri 1 Palembang,school,16.71\n"
        "Kantor Lurah 23 Ilir,public_office,16.71\nBalai Kota Jakarta,public_office,31.71\n"
        "Pasar 16 Ilir,mall,16.71\n",
    )
    sma, lurah, _jakarta, pasar = [json.loads(line) for line in imported.stdout.splitlines()]
    asyncio.run(_deactivate(database_url, pasar["id"]))
    output = tmp_path / "sumsel.pdf"

    result = region_posters(data_dir, database_url, "16", output)

    assert result.returncode == 0, result.stderr
    assert "wrote 2 posters" in result.stdout
    data = output.read_bytes()
    texts = pdf_texts(data)
    # One page per active venue of region 16, by name: neither Jakarta nor the closed market.
    assert len(texts) == 2
    assert "Kantor Lurah 23 Ilir" in texts[0] and "SMA Negeri 1 Palembang" in texts[1]
    decoded = [decoded_urls(page) for page in pdf_pages(data)]
    assert [[normalised(url) for url in urls] for urls in decoded] == [
        [lurah["checkin_url"]],
        [sma["checkin_url"]],
    ]


def test_venues_posters_of_a_region_without_venues_is_a_clear_error(
    data_dir, database_url, tmp_path
) -> None:
    assert singgah(data_dir, "migrate", database_url=database_url).returncode == 0
    output = tmp_path / "none.pdf"
    result = region_posters(data_dir, database_url, "32", output)
    assert result.returncode == 1
    assert "region 32" in result.stderr and "no active venues" in result.stderr
    assert not output.exists()
    unknown = region_posters(data_dir, database_url, "99", output)
    assert unknown.returncode == 1 and "not in the regions table" in unknown.stderr


def test_venues_posters_help_says_what_it_writes(data_dir) -> None:
    result = singgah(data_dir, "venues", "posters", "--help")
    assert result.returncode == 0
    assert "--region" in result.stdout and "one A4 page per venue" in result.stdout


def test_serve_refuses_oversized_headers(tmp_path: Path) -> None:
    """SINGGAH_MAX_HEADER_BYTES (16384) bounds the request line and headers in the parser."""
    from tests.live import live_server

    with live_server(tmp_path / "data", demo=False) as server:
        fits = httpx.get(f"{server.url}/healthz", headers={"X-Pad": "a" * 4_000}, timeout=10)
        refused = httpx.get(f"{server.url}/healthz", headers={"X-Pad": "a" * 20_000}, timeout=10)
    assert fits.status_code == 200
    assert refused.status_code == 431
    assert refused.headers["content-type"] == "application/problem+json"
