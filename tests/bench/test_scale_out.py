"""bench/scale_out.py's pieces on a small load: several processes behind one socket, the rows
against the 201s, and (on PostgreSQL) the kill run's check that nothing acknowledged is lost.
Timings are not asserted."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.live import ROOT

pytestmark = pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is missing (make test installs it as root)"
)


def scale_out(*args: str) -> dict:
    command = [sys.executable, "-m", "bench.scale_out", "--visitors", "200", "--venues", "20"]
    result = subprocess.run(
        [*command, *args, "--json"], cwd=ROOT, capture_output=True, text=True, timeout=240
    )
    assert result.returncode == 0, result.stderr
    # populate() prints the migrations it applies before the JSON document
    return json.loads(result.stdout[result.stdout.index("\n{") :])


def test_two_sqlite_processes_keep_every_checkin() -> None:
    result = scale_out("--engines", "sqlite", "--workers", "2", "--no-kill")
    (run,) = result["runs"]
    assert run["cpu_seconds"]["app_processes"] >= 3  # the supervisor and its two workers
    assert run["created"] == run["visit_rows"] == run["distinct_visitor_venue"] == 200
    assert run["lossless"]


@pytest.mark.skipif(
    not os.environ.get("SINGGAH_TEST_POSTGRES_URL"), reason="SINGGAH_TEST_POSTGRES_URL is unset"
)
def test_a_killed_postgres_worker_loses_no_acknowledged_checkin() -> None:
    admin = os.environ["SINGGAH_TEST_POSTGRES_URL"]
    result = scale_out("--kill-only", "2", "--admin-url", admin)
    kill = result["kill"]
    assert kill["killed"] in kill["workers_before_kill"]
    assert kill["killed"] not in kill["workers_after"]
    assert len(kill["workers_after"]) == 2  # uvicorn's supervisor started a new one
    assert kill["acknowledged"] == kill["created"] > 0
    assert kill["acknowledged_missing"] == 0
    assert kill["nothing_acknowledged_lost"]
