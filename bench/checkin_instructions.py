"""Check-in against the bare endpoint in CPU instructions per request, under callgrind.

`bench.checkin_load` measures requests per second, which on a shared 2-core machine moves by
a third from one run to the next. This runs the same two servers (the bare Starlette endpoint
and `singgah serve` on a fresh SQLite folder, the same uvicorn options, the same wrk load) under
``valgrind --tool=callgrind`` and counts the instructions each server executes per request,
which repeats to within about 1% whatever else the machine is doing. Counting starts after a
warm-up (the first requests fill the statement and signature caches) and stops when the last
request is answered. Instructions are a proxy for CPU time: a check-in's SQLite work and its
commit's fsync cost more time per instruction than the interpreter does, so the ratio of
instructions flatters the check-in side somewhat compared with the ratio of seconds.

    python -m bench.checkin_instructions [--requests 1000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.checkin_load import (
    bench_environment,
    drive,
    free_port,
    populate,
    wait_until_listening,
)
from web.settings import load_settings, resolve_secrets

WARM_UP = 300
VENUES = 50
CONNECTIONS = 50
COLLECTED = re.compile(r"Collected : (\d+)")


def pairs_file(path: Path, pairs: list[tuple[str, str]]) -> Path:
    path.write_text("".join(f"{visitor} {poster}\n" for visitor, poster in pairs))
    return path


def instructions_per_request(
    command: list[str], env: dict[str, str], warm: Path, measured: Path, folder: Path
) -> dict[str, Any]:
    """Run ``command`` (listening on the port at its end) under callgrind; wrk sends the warm
    pairs uncounted, then the measured pairs counted."""
    port = free_port()
    valgrind = [
        "valgrind", "--tool=callgrind", "--instr-atstart=no",
        f"--callgrind-out-file={folder / 'callgrind.out'}",
    ]  # fmt: skip
    server = subprocess.Popen(
        [*valgrind, *command, str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until_listening(port, server, 600)
        drive(port, warm, CONNECTIONS, 600)
        control = ["callgrind_control", "-i"]
        subprocess.run([*control, "on", str(server.pid)], capture_output=True, check=True)
        figures = drive(port, measured, CONNECTIONS, 600)
        subprocess.run([*control, "off", str(server.pid)], capture_output=True, check=True)
    finally:
        server.send_signal(signal.SIGINT)
        _, errors = server.communicate(300)
    found = COLLECTED.search(errors)
    if found is None:
        raise RuntimeError(f"callgrind reported no count: {errors[-2000:]}")
    answered = figures["created"] + figures["repeated"]
    return {
        "requests": answered,
        "created": figures["created"],
        "failed": figures["failed"],
        "instructions_per_request": round(int(found.group(1)) / answered),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    for tool in ("valgrind", "callgrind_control", "wrk"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is missing: apt-get install -y valgrind wrk")
    folder = Path(tempfile.mkdtemp(prefix="singgah-instructions-"))
    try:
        env = bench_environment(folder / "data", "", "WARNING")
        os.environ.update(env)
        settings = resolve_secrets(load_settings())
        pairs = asyncio.run(populate(settings, VENUES, WARM_UP + args.requests))
        warm = pairs_file(folder / "warm.txt", pairs[:WARM_UP])
        measured = pairs_file(folder / "measured.txt", pairs[WARM_UP:])
        bare_command = [sys.executable, "-m", "bench.checkin_load", "--serve-bare"]
        bare = instructions_per_request(bare_command, env, warm, measured, folder)
        singgah = Path(sys.executable).with_name("singgah")
        serve = [str(singgah), "serve", "--host", "127.0.0.1", "--port"]
        checkin = instructions_per_request(serve, env, warm, measured, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    ratio = bare["instructions_per_request"] / checkin["instructions_per_request"]
    return {"requests": args.requests, "bare": bare, "checkin": checkin, "ratio": round(ratio, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="counted check-ins")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for name in ("bare", "checkin"):
        figures = result[name]
        print(
            f"{name:8} {figures['instructions_per_request']:>12,} instructions/request"
            f" ({figures['created']:,} created, {figures['failed']} failed)"
        )
    print(f"bare / check-in: {result['ratio']:.1%} (the throughput target is 40%)")


if __name__ == "__main__":
    main()
