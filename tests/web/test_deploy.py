"""The deployment files (deploy/) agree with the settings and limits they configure, and the
proxy setting they rely on works in a real `singgah serve`."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.live import ROOT, live_server
from web.ratelimit import LIMITED
from web.settings import SETTINGS, Settings, load_settings

DEPLOY = ROOT / "deploy"
FILES = [
    DEPLOY / "singgah.env",
    DEPLOY / "singgah.service",
    DEPLOY / "Containerfile",
    DEPLOY / "nginx.conf",
    ROOT / "docs" / "deployment.md",
]
KNOWN = {setting.env for setting in SETTINGS}


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_every_setting_named_exists(path: Path) -> None:
    named = set(re.findall(r"SINGGAH_[A-Z0-9_]+", path.read_text()))
    assert named, f"{path.name} names no setting"
    assert named <= KNOWN, f"{path.name} names unknown settings: {sorted(named - KNOWN)}"


def env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines())
    return {key: value for key, value in (p for p in pairs if len(p) == 2) if key[:1] != "#"}


def test_the_environment_file_parses_as_settings() -> None:
    settings = load_settings(env_file(DEPLOY / "singgah.env"))
    assert settings.base_url.startswith("https://")  # secure cookies and HSTS in production
    assert settings.resolved_database_url.startswith("postgresql://")


def test_the_proxy_limits_match_the_apps() -> None:
    nginx = (DEPLOY / "nginx.conf").read_text()
    defaults = Settings()
    assert f"client_max_body_size {defaults.max_body_bytes // 1024}k;" in nginx
    assert f"large_client_header_buffers 4 {defaults.max_header_bytes // 1024}k;" in nginx
    limited = re.search(r"location ~ (\S+) \{\n\s+limit_req ", nginx)
    assert limited
    for _, path in LIMITED:
        example = path.replace("[^/]+", "token")
        assert re.match(limited.group(1), example), f"nginx does not limit {example}"


def test_untrusted_peers_cannot_choose_their_address(tmp_path: Path, monkeypatch) -> None:
    """X-Forwarded-For counts only from SINGGAH_FORWARDED_ALLOW_IPS: from another peer, each
    request's made-up address is ignored and the per-IP limit holds."""
    monkeypatch.setenv("SINGGAH_FORWARDED_ALLOW_IPS", "192.0.2.1")
    monkeypatch.setenv("SINGGAH_RATE_LIMIT_IP_PER_MINUTE", "3")
    with live_server(tmp_path / "data", demo=False) as server:
        statuses = [
            httpx.post(
                f"{server.url}/api/qr/verify",
                json={},
                headers={"X-Forwarded-For": f"203.0.113.{n}"},
                timeout=10,
            ).status_code
            for n in range(6)
        ]
    assert 429 in statuses, statuses
