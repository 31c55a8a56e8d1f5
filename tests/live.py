"""A real `singgah serve` process on a free loopback port, for browser and multi-process tests."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    data_dir: Path
    process: subprocess.Popen

    def credentials(self) -> dict[str, tuple[str, str]]:
        """Demo accounts by role: ``{"admin": (email, password), ...}``."""
        found = {}
        for line in (self.data_dir / "demo-credentials.txt").read_text().splitlines():
            words = line.split()
            if len(words) == 3 and "@" in words[1]:
                role, email, password = words
                found[role] = (email, password)
        return found

    def demo_checkin_url(self) -> str:
        text = (self.data_dir / "demo-credentials.txt").read_text()
        return next(w for w in text.split() if w.startswith(self.url + "/c/"))


@contextlib.contextmanager
def live_server(
    data_dir: Path, database_url: str = "", demo: bool = True, env: dict[str, str] | None = None
) -> Iterator[LiveServer]:
    """``singgah serve`` until the block ends; ``env`` adds or overrides its settings."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "SINGGAH_DATA_DIR": str(data_dir),
        "SINGGAH_DATABASE_URL": database_url,
        "SINGGAH_BASE_URL": url,
        "SINGGAH_LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    args = [sys.executable, "-m", "web.cli", "serve", "--port", str(port)]
    log = (data_dir.parent / f"serve-{port}.log").open("w")
    process = subprocess.Popen(
        [*args, "--demo"] if demo else args, cwd=ROOT, env=env, stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"singgah serve exited: {log.name}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("singgah serve did not become healthy in 60 s")
            time.sleep(0.2)
        yield LiveServer(url, data_dir, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
