"""bench/checkin_load.py: rounds on fresh copies of one population, judged on the medians.
Timings are not asserted."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from typing import Any

import pytest

from bench.checkin_load import summarise
from tests.live import ROOT


def bench_round(bare_rate: float, checkin_rate: float, p99: float, rows: int = 100) -> dict:
    checkin = {
        "requests_per_s": checkin_rate,
        "p99_ms": p99,
        "created": 100,
        "visit_rows": rows,
        "distinct_visitor_venue": rows,
    }
    return {"bare": {"requests_per_s": bare_rate}, "checkin": checkin}


def test_one_lucky_round_does_not_meet_the_target() -> None:
    rounds = [bench_round(1000, 320, 30), bench_round(700, 300, 30), bench_round(1000, 330, 30)]
    result = summarise(rounds, visitors=100)
    assert result["ratios"] == [0.32, 0.429, 0.33]
    assert result["ratio"] == 0.33
    assert not result["target_met"]


def test_the_medians_meet_the_target() -> None:
    rounds = [bench_round(1000, 420, 40), bench_round(1000, 380, 70), bench_round(1000, 410, 45)]
    result = summarise(rounds, visitors=100)
    assert (result["ratio"], result["checkin_p99_ms"]) == (0.41, 45)
    assert result["target_met"]


def test_a_lost_checkin_in_any_round_fails_the_run() -> None:
    rounds = [bench_round(1000, 420, 40), bench_round(1000, 420, 40, rows=99)]
    result = summarise(rounds, visitors=100)
    assert not result["no_checkin_lost_or_duplicated"]
    assert not result["target_met"]


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is missing (make test installs it)")
def test_every_round_checks_in_every_visitor_on_a_fresh_copy() -> None:
    command = [sys.executable, "-m", "bench.checkin_load", "--visitors", "150", "--venues", "15"]
    result = subprocess.run(
        [*command, "--rounds", "2", "--log-level", "WARNING", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    # populate() prints the migrations it applies before the JSON document
    report: dict[str, Any] = json.loads(result.stdout[result.stdout.index("\n{") :])
    assert len(report["rounds"]) == len(report["ratios"]) == 2
    for pair in report["rounds"]:  # a reused database would answer round 2 with 200s
        assert pair["checkin"]["created"] == pair["checkin"]["visit_rows"] == 150
        # the constant answers 201 to every request, so those in flight at the end count too
        assert pair["bare"]["created"] >= 150
    assert report["no_checkin_lost_or_duplicated"]


def test_zero_rounds_is_refused_before_anything_runs() -> None:
    command = [sys.executable, "-m", "bench.checkin_load", "--rounds", "0"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "0 rounds: at least one is needed" in result.stderr
