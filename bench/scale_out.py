"""Scale-out: the check-in load against 1 and 2 `singgah serve` processes, SQLite and PostgreSQL.

The load and its check are bench/checkin_load.py's (the same wrk script, tokens, population and
uvicorn options); what this adds, in one run:

1. for each engine (a fresh SQLite data folder, or a fresh PostgreSQL database made with
   ``CREATE DATABASE`` through psql) and each process count (``singgah serve --workers N``:
   uvicorn's workers share one listening socket, so wrk's one URL reaches all of them): the
   throughput, p50/p99, and the CPU seconds each group used during the load (the app
   processes, PostgreSQL's processes, wrk, and the whole machine), then visit rows against
   201 responses;
2. a kill run: the 2-process PostgreSQL load again, one worker SIGKILLed in the middle (half
   the first run's time, or ``--kill-only SECONDS`` for this run alone, or once half the
   check-ins are acknowledged if that comes first: a short load may be over sooner); wrk
   records the visit id of every 201, and afterwards every acknowledged visit must be in the
   table (nothing duplicated either). uvicorn's supervisor starts a new worker in its place.

    python -m bench.scale_out [--visitors 6000] [--venues 600] [--engines sqlite,postgresql]
        [--workers 1,2] [--no-kill | --kill-only SECONDS] [--json]
        [--admin-url postgresql://root@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench.checkin_load import (
    bench_environment,
    cpu_seconds,
    drive,
    free_port,
    lossless,
    server,
    write_pairs,
)
from web.cli import connected
from web.settings import load_settings

TARGET_SPEEDUP = 1.5
CLIENT = re.compile(r"\(\d+\)|\[local\]")  # a backend's client address in its title
ADMIN_URL = "postgresql://root@127.0.0.1:5432/test"


def processes() -> dict[int, tuple[int, str]]:
    """Every process on the machine: pid -> (parent pid, command name)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                comm, rest = (entry / "stat").read_text().rsplit(")", 1)
                found[int(entry.name)] = (int(rest.split()[1]), comm.split("(", 1)[1])
    return found


def descendants(pid: int) -> list[int]:
    table = processes()
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, (ppid, _) in table.items() if ppid == parent]
        found += children
        frontier += children
    return found


def postgres_pids(database: str | None) -> list[int]:
    """PostgreSQL's processes that work for this run: the server's own (postmaster, WAL
    writer, checkpointer...) and the backends connected to ``database``, not other sessions'
    backends (their title names their database and client: ``postgres: 15/main: root DB
    127.0.0.1(50514) idle``)."""
    found = []
    for pid, (_, comm) in processes().items():
        if comm.startswith("postgres"):
            with contextlib.suppress(OSError):
                title = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
                words = title.replace("\0", " ").split()
                if (database and database in words) or not CLIENT.search(title):
                    found.append(pid)
    return found


def cpu_by_pid(pids: list[int]) -> dict[int, float]:
    found = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            found[pid] = cpu_seconds(pid)
    return found


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot."""
    fields = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


class CpuMeter:
    """CPU seconds each group used between ``start`` and ``stop``. A process that exits in
    between takes its CPU with it (wrk excepted: it is counted through RUSAGE_CHILDREN once
    waited for, which is why only wrk may end while the meter runs)."""

    def __init__(self, server_pid: int, database: str | None) -> None:
        self.server_pid = server_pid
        self.database = database

    def snapshot(self) -> dict[str, Any]:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return {
            "app": cpu_by_pid([self.server_pid, *descendants(self.server_pid)]),
            "postgresql": cpu_by_pid(postgres_pids(self.database)),
            "wrk": children.ru_utime + children.ru_stime,
            "machine": machine_ticks(),
        }

    def start(self) -> None:
        self.before = self.snapshot()

    def stop(self) -> dict[str, float]:
        after, before = self.snapshot(), self.before
        used = {
            group: sum(cpu - before[group].get(pid, 0.0) for pid, cpu in after[group].items())
            for group in ("app", "postgresql")
        }
        used["wrk"] = after["wrk"] - before["wrk"]
        busy = after["machine"][0] - before["machine"][0]
        total = after["machine"][1] - before["machine"][1]
        used["machine"] = busy / os.sysconf("SC_CLK_TCK")
        used["machine_busy_share"] = busy / total if total else 0.0
        used["app_processes"] = len(after["app"])
        return {key: round(value, 3) for key, value in used.items()}


def psql(admin_url: str, sql: str) -> str:
    command = ["psql", admin_url, "-v", "ON_ERROR_STOP=1", "-Atc", sql]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


@contextlib.contextmanager
def postgres_database(admin_url: str, name: str) -> Iterator[str]:
    """A fresh database on the admin URL's server, as the same user; yields its URL; dropped
    afterwards."""
    psql(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    psql(admin_url, f"CREATE DATABASE {name}")
    try:
        yield urlunsplit(urlsplit(admin_url)._replace(path=name))
    finally:
        psql(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def visit_counts(acknowledged: list[str] | None) -> dict[str, Any]:
    """Visit rows, distinct (visitor, venue) pairs and, with the ``acknowledged`` visit ids
    (wrk's lines), how many of them are missing from the table (the environment names the
    database)."""
    async with connected(load_settings()) as db:
        ids = {row[0] for row in await db.fetch_rows("SELECT id FROM visits")}
        row = await db.fetch_one(
            "SELECT count(DISTINCT visitor_id || ' ' || venue_id) AS pairs FROM visits"
        )
    counts: dict[str, Any] = {"visit_rows": len(ids), "distinct_visitor_venue": row["pairs"]}
    if acknowledged is not None:
        counts["acknowledged"] = len(acknowledged)
        counts["acknowledged_distinct"] = len(set(acknowledged))
        counts["acknowledged_missing"] = sum(
            1 for line in acknowledged if not line.isdigit() or int(line) not in ids
        )
    return counts


def worker_pids(server_pid: int) -> list[int]:
    """uvicorn's worker processes under its supervisor (multiprocessing's spawned children;
    not its resource tracker)."""
    found = []
    for pid in descendants(server_pid):
        with contextlib.suppress(OSError):
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
    return found


def kill_one_worker_after(
    server_pid: int, delay: float, acks: Path, acknowledged: int, record: dict[str, Any]
) -> None:
    """SIGKILL the first worker ``delay`` seconds from now or once ``acks`` holds
    ``acknowledged`` visit ids, whichever comes first, in a thread; ``record`` gets the victim,
    the moment and the acknowledged count then."""

    def kill() -> None:
        began = time.monotonic()
        while time.monotonic() - began < delay and lines_in(acks) < acknowledged:
            time.sleep(0.01)
        workers = worker_pids(server_pid)
        record["workers_before_kill"] = workers
        if workers:
            os.kill(workers[0], signal.SIGKILL)
            record["killed"] = workers[0]
            record["killed_after_s"] = round(time.monotonic() - began, 2)
            record["acknowledged_before_kill"] = lines_in(acks)

    threading.Thread(target=kill, daemon=True).start()


def lines_in(path: Path) -> int:
    """Lines written so far (0 before wrk has opened the file)."""
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def one_run(
    args: argparse.Namespace, engine: str, workers: int, *, kill_after: float | None = None
) -> dict[str, Any]:
    """A fresh database, populated; ``singgah serve --workers N`` under wrk; the counts."""
    folder = Path(tempfile.mkdtemp(prefix="singgah-scale-"))
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, folder, ignore_errors=True)
        url, name = "", None
        if engine == "postgresql":
            name = f"bench_scale_{os.getpid()}_{workers}{'_kill' if kill_after else ''}"
            url = stack.enter_context(postgres_database(args.admin_url, name))
        env = bench_environment(folder / "data", url, args.log_level)
        pairs = write_pairs(env, args.venues, args.visitors, folder / "pairs.txt")
        acks = folder / "acks.txt" if kill_after is not None else None
        port = free_port()
        singgah = [str(Path(sys.executable).with_name("singgah")), "serve", "--host", "127.0.0.1"]
        command = [*singgah, "--port", str(port), "--workers", str(workers)]
        event: dict[str, Any] = {}
        max_seconds = args.max_seconds
        with server(command, port, env) as pid:
            wait_for_workers(pid, workers)
            meter = CpuMeter(pid, name)
            meter.start()
            if kill_after is not None:
                assert acks is not None
                kill_one_worker_after(pid, kill_after, acks, args.visitors // 2, event)
                # Check-ins committed whose 201 died with the worker answer 200 when wrk
                # resends them, so the run may never count all lines as 201: bound it.
                max_seconds = int(kill_after * 3) + 15
            figures = drive(port, pairs, args.connections, max_seconds, acks)
            figures["cpu_seconds"] = meter.stop()
            if engine == "postgresql":
                figures["postgres_connections"] = int(
                    psql(
                        args.admin_url,
                        f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{name}'",
                    )
                )
            if kill_after is not None:
                # the load may end before uvicorn's supervisor (it looks every half second)
                # has replaced the victim: give it the time it needs
                event["workers_after"] = workers_up(pid, workers, within_seconds=15)
        figures |= asyncio.run(visit_counts(acks.read_text().split() if acks else None))
    figures.update(engine=engine, workers=workers, kill_run=kill_after is not None, **event)
    return figures


def wait_for_workers(server_pid: int, workers: int) -> None:
    """With N > 1 uvicorn forks its workers after binding: wait until all are up and have
    connected (the socket already accepts before they run their lifespan)."""
    if workers == 1:
        return
    workers_up(server_pid, workers, within_seconds=60)
    time.sleep(2)  # the lifespan (database pool, key load) of each worker


def workers_up(server_pid: int, workers: int, *, within_seconds: float) -> list[int]:
    """The worker pids once there are ``workers`` of them, or as many as there are after
    ``within_seconds``."""
    deadline = time.monotonic() + within_seconds
    while len(found := worker_pids(server_pid)) < workers and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def run(args: argparse.Namespace) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install -y wrk (make bench installs it)")
    load_before = os.getloadavg()
    runs = []
    for engine in args.engines if args.kill_only is None else ():
        for workers in args.workers:
            figures = one_run(args, engine, workers)
            figures["lossless"] = lossless(figures, args.visitors)
            runs.append(figures)
    result: dict[str, Any] = {
        "visitors": args.visitors,
        "venues": args.venues,
        "connections": args.connections,
        "runs": runs,
    }
    by_key = {(r["engine"], r["workers"]): r for r in runs}
    for engine in args.engines:
        one, two = by_key.get((engine, 1)), by_key.get((engine, 2))
        if one and two:
            result[f"{engine}_speedup"] = round(two["requests_per_s"] / one["requests_per_s"], 3)
    kill_after = args.kill_only
    if args.kill and ("postgresql", 2) in by_key:
        kill_after = by_key[("postgresql", 2)]["seconds"] / 2
    if kill_after is not None:
        kill = one_run(args, "postgresql", 2, kill_after=kill_after)
        kill["nothing_acknowledged_lost"] = (
            kill["acknowledged_missing"] == 0
            and kill["acknowledged"] == kill["acknowledged_distinct"] == kill["created"]
            and kill["visit_rows"] == kill["distinct_visitor_venue"]
        )
        result["kill"] = kill
    result["load_average_before"] = [round(n, 2) for n in load_before]
    result["load_average_after"] = [round(n, 2) for n in os.getloadavg()]
    return result


def print_table(result: dict[str, Any]) -> None:
    print(
        f"{result['visitors']} visitors at {result['venues']} venues, {result['connections']}"
        f" connections (wrk, 1 thread); load average {result['load_average_before']} before,"
        f" {result['load_average_after']} after"
    )
    header = (
        "engine", "processes", "check-ins/s", "p50 ms", "p99 ms", "201", "rows", "failed",
        "cpu s app", "cpu s postgres", "cpu s wrk", "cpu s machine (busy)", "pg conns",
    )  # fmt: skip
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for f in [*result["runs"], *([result["kill"]] if "kill" in result else [])]:
        cpu = f["cpu_seconds"]
        name = f["engine"] + (" (kill)" if f["kill_run"] else "")
        cells = (
            name, str(f["workers"]), f"{f['requests_per_s']:,.0f}", f"{f['p50_ms']:.1f}",
            f"{f['p99_ms']:.1f}", f"{f['created']:,}", f"{f['visit_rows']:,}", f"{f['failed']:,}",
            f"{cpu['app']:.1f}", f"{cpu['postgresql']:.1f}", f"{cpu['wrk']:.1f}",
            f"{cpu['machine']:.1f} ({cpu['machine_busy_share']:.0%})",
            str(f.get("postgres_connections", "")),
        )  # fmt: skip
        print("| " + " | ".join(cells) + " |")
    for engine in ("sqlite", "postgresql"):
        if f"{engine}_speedup" in result:
            print(f"{engine}: 2 processes / 1 process = {result[f'{engine}_speedup']:.2f}x")
    if "postgresql_speedup" in result:
        met = result["postgresql_speedup"] >= TARGET_SPEEDUP
        print(f"target (PostgreSQL >= {TARGET_SPEEDUP}x): {'met' if met else 'NOT met'}")
    for f in result["runs"]:
        if not f["lossless"]:
            print(f"{f['engine']} x{f['workers']}: rows vs 201s MISMATCH")
    if "kill" in result:
        k = result["kill"]
        print(
            f"kill run: worker {k.get('killed')} SIGKILLed after {k.get('killed_after_s')} s;"
            f" workers before {k.get('workers_before_kill')}, after {k.get('workers_after')};"
            f" {k['acknowledged']:,} acknowledged, {k['acknowledged_missing']} missing,"
            f" {k['visit_rows']:,} rows ({k['visit_rows'] - k['created']:,} committed without"
            f" a 201 reaching wrk), socket errors and failures {k['failed']:,}: "
            + ("nothing acknowledged lost" if k["nothing_acknowledged_lost"] else "LOSS")
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, default=6_000)
    parser.add_argument("--venues", type=int, default=600)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--engines", default="sqlite,postgresql", type=lambda s: s.split(","))
    parser.add_argument("--workers", default="1,2", type=lambda s: [int(n) for n in s.split(",")])
    parser.add_argument("--no-kill", dest="kill", action="store_false", help="skip the kill run")
    parser.add_argument(
        "--kill-only",
        type=float,
        metavar="SECONDS",
        help="only the kill run, the worker killed this long into the load (or once half the"
        " check-ins are acknowledged, if sooner)",
    )
    parser.add_argument("--admin-url", default=ADMIN_URL, help="PostgreSQL to create databases on")
    parser.add_argument("--max-seconds", type=int, default=600, help="wrk's -d, an upper bound")
    parser.add_argument("--log-level", default="WARNING")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)


if __name__ == "__main__":
    main()
