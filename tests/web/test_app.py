"""The application factory the server calls (web/app.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from web.app import GC_YOUNG_OBJECTS

FACTORY_AND_GC = """
import gc, json
before = gc.get_threshold()
from web.app import app_from_environment
app = app_from_environment()
print(json.dumps({"frozen": gc.get_freeze_count(), "threshold": gc.get_threshold(),
                  "before": before, "routes": len(app.routes)}))
"""


def test_the_served_app_leaves_start_up_objects_out_of_the_collector(tmp_path: Path) -> None:
    # In a process of its own: freezing this test process's heap would outlive the test.
    env = {**os.environ, "SINGGAH_DATA_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", FACTORY_AND_GC], env=env, capture_output=True, text=True, check=True
    )
    found = json.loads(out.stdout.splitlines()[-1])
    assert found["routes"] > 50
    assert found["frozen"] > 50_000  # modules, tables, schemas, templates
    assert found["before"][0] == 700  # Python's default, so the change below is ours
    assert found["threshold"] == [GC_YOUNG_OBJECTS, 10, 10]
