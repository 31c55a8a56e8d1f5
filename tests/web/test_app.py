"""The application factory the server calls (web/app.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from web.app import GC_YOUNG_OBJECTS, GIL_SWITCH_INTERVAL_S

FACTORY_AND_GC = """
import gc, json, sys
before = gc.get_threshold()
switch_before = sys.getswitchinterval()
from web.app import app_from_environment
app = app_from_environment()
print(json.dumps({"frozen": gc.get_freeze_count(), "threshold": gc.get_threshold(),
                  "before": before, "routes": len(app.routes),
                  "switch_before": switch_before, "switch": sys.getswitchinterval()}))
"""


def served_app_facts(data_dir: Path) -> dict:
    """What the factory set, read in a process of its own: freezing this test process's heap
    (or changing its switch interval) would outlive the test."""
    env = {**os.environ, "SINGGAH_DATA_DIR": str(data_dir)}
    out = subprocess.run(
        [sys.executable, "-c", FACTORY_AND_GC], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.splitlines()[-1])


def test_the_served_app_leaves_start_up_objects_out_of_the_collector(tmp_path: Path) -> None:
    found = served_app_facts(tmp_path)
    assert found["routes"] > 50
    assert found["frozen"] > 50_000  # modules, tables, schemas, templates
    assert found["before"][0] == 700  # Python's default, so the change below is ours
    assert found["threshold"] == [GC_YOUNG_OBJECTS, 10, 10]


def test_the_served_app_hands_the_gil_over_within_half_a_millisecond(tmp_path: Path) -> None:
    found = served_app_facts(tmp_path)
    assert found["switch_before"] == 0.005  # Python's default
    assert found["switch"] == GIL_SWITCH_INTERVAL_S == 0.0005


async def test_the_shared_state_is_read_as_ordinary_attributes(app) -> None:
    """Starlette's `State` answers reads through ``__getattr__`` after a failed lookup (an
    AttributeError built and dropped each time, a dozen times a check-in); ours does not."""
    assert {"db", "clock", "settings", "signatures", "colour_rules"} <= vars(app.state).keys()
    assert not hasattr(type(app.state), "__getattr__")
