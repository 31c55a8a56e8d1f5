"""bench/checkin_load.py: rounds on fresh copies of one population, judged on the medians,
the latency at the target's rate.
Timings are not asserted."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.checkin_load import TARGET_RATIO, drive, free_port, server, summarise
from tests.live import ROOT


def checkin_run(rate: float, p99: float, rows: int) -> dict:
    return {
        "requests_per_s": rate,
        "p99_ms": p99,
        "created": 100,
        "visit_rows": rows,
        "distinct_visitor_venue": rows,
    }


def bench_round(
    bare_rate: float,
    checkin_rate: float,
    p99: float,
    rows: int = 100,
    saturated_p99: float = 80,
    paced_rows: int = 100,
    paced_share: float = 1.0,
) -> dict:
    """A round whose paced run has ``p99`` (judged) and answered ``paced_share`` of its rate,
    and whose saturated run has ``saturated_p99``."""
    asked = TARGET_RATIO * bare_rate
    paced = checkin_run(asked * paced_share, p99, paced_rows)
    return {
        "bare": {"requests_per_s": bare_rate},
        "checkin": checkin_run(checkin_rate, saturated_p99, rows),
        "paced": paced | {"requested_per_s": asked},
    }


def test_one_lucky_round_does_not_meet_the_target() -> None:
    rounds = [bench_round(1000, 320, 30), bench_round(700, 300, 30), bench_round(1000, 330, 30)]
    result = summarise(rounds, visitors=100)
    assert result["ratios"] == [0.32, 0.429, 0.33]
    assert result["ratio"] == 0.33
    assert not result["target_met"]


def test_the_medians_meet_the_target() -> None:
    rounds = [bench_round(1000, 420, 40), bench_round(1000, 380, 70), bench_round(1000, 410, 45)]
    result = summarise(rounds, visitors=100)
    assert (result["ratio"], result["paced_p99_ms"], result["saturated_p99_ms"]) == (0.41, 45, 80)
    assert result["target_met"]


def test_latency_is_judged_at_the_targets_rate_not_at_saturation() -> None:
    quick_when_paced = [bench_round(1000, 420, 30, saturated_p99=90) for _ in range(3)]
    assert summarise(quick_when_paced, visitors=100)["target_met"]
    slow_when_paced = [bench_round(1000, 420, 60, saturated_p99=20) for _ in range(3)]
    assert not summarise(slow_when_paced, visitors=100)["target_met"]


def test_a_paced_run_that_fell_behind_its_rate_does_not_meet_the_latency_target() -> None:
    # wrk times a request from its send: behind the schedule, the wait for a free connection
    # is left out, so a low p99 there says nothing about the latency at that rate
    behind = [bench_round(1000, 420, 30, paced_share=share) for share in (0.97, 0.9, 0.8)]
    result = summarise(behind, visitors=100)
    assert result["paced_p99_ms"] is None
    assert not result["target_met"]
    mostly_kept = [bench_round(1000, 420, 30, paced_share=share) for share in (0.97, 1, 0.8)]
    assert summarise(mostly_kept, visitors=100)["paced_p99_ms"] == 30


@pytest.mark.parametrize("run", ["checkin", "paced"])
def test_a_lost_checkin_in_any_run_fails_the_run(run: str) -> None:
    lossy = {"rows": 99} if run == "checkin" else {"paced_rows": 99}
    rounds = [bench_round(1000, 420, 40), bench_round(1000, 420, 40, **lossy)]
    result = summarise(rounds, visitors=100)
    assert not result["no_checkin_lost_or_duplicated"]
    assert not result["target_met"]


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is missing (make test installs it)")
def test_a_paced_run_keeps_to_its_rate(tmp_path: Path) -> None:
    # the bare endpoint answers thousands a second here; paced at 200/s, 150 requests take
    # 0.75 s (the schedule is absolute, so wrk's whole milliseconds cannot add up to more)
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("visitor poster\n" * 150)
    port = free_port()
    bare = [sys.executable, "-m", "bench.checkin_load", "--serve-bare", str(port)]
    with server(bare, port, os.environ | {"PYTHONPATH": str(ROOT)}):
        figures = drive(port, pairs, connections=20, max_seconds=30, rate=200)
    assert figures["created"] >= 150
    assert figures["requests_per_s"] <= 200 * 1.1


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
        assert pair["paced"]["created"] == pair["paced"]["visit_rows"] == 150
        # the constant answers 201 to every request, so those in flight at the end count too
        assert pair["bare"]["created"] >= 150
    assert report["no_checkin_lost_or_duplicated"]


def test_zero_rounds_is_refused_before_anything_runs() -> None:
    command = [sys.executable, "-m", "bench.checkin_load", "--rounds", "0"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "0 rounds: at least one is needed" in result.stderr
