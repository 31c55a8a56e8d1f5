"""Every setting Singgah reads, in one place.

Settings come from the environment (``SINGGAH_*``), are typed, have a default and a line of
help. The README's configuration table is checked against ``SETTINGS`` by a test, so a new
setting cannot go undocumented. Secrets are wrapped in ``Secret`` so they never print.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class Secret:
    """A string that does not show itself in reprs, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and secrets.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(self._value)


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names the variable."""


@dataclass(frozen=True)
class Setting:
    env: str
    attr: str
    parse: Callable[[str], Any]
    default: Any
    help: str


def _bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError(f"expected a positive whole number, got {raw!r}")
    return value


def _language(raw: str) -> str:
    if raw not in {"id", "en"}:
        raise ValueError(f"expected 'id' or 'en', got {raw!r}")
    return raw


def _timezone(raw: str) -> str:
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {raw!r}") from exc
    return raw


def _base_url(raw: str) -> str:
    if not raw.startswith(("http://", "https://")):
        raise ValueError(f"expected an http:// or https:// URL, got {raw!r}")
    return raw.rstrip("/")


def _optional_secret(raw: str) -> Secret | None:
    return Secret(raw) if raw else None


def _optional_path(raw: str) -> Path | None:
    return Path(raw) if raw else None


SETTINGS: tuple[Setting, ...] = (
    Setting("SINGGAH_DATA_DIR", "data_dir", Path, Path("data"),
            "Folder for the SQLite database, generated secrets and caches."),
    Setting("SINGGAH_DATABASE_URL", "database_url", str, "",
            "sqlite:///PATH or postgresql://USER@HOST:PORT/DB; empty means "
            "sqlite:///<data dir>/singgah.db."),
    Setting("SINGGAH_BASE_URL", "base_url", _base_url, "http://127.0.0.1:8000",
            "Public URL of this server; poster QR codes and links are built from it."),
    Setting("SINGGAH_HOST", "host", str, "127.0.0.1", "Address `singgah serve` listens on."),
    Setting("SINGGAH_PORT", "port", _positive_int, 8000, "Port `singgah serve` listens on."),
    Setting("SINGGAH_FORWARDED_ALLOW_IPS", "forwarded_allow_ips", str, "127.0.0.1",
            "Reverse proxies (comma-separated addresses or networks, or *) whose "
            "X-Forwarded-For and X-Forwarded-Proto are believed; the rate limits key on "
            "that client address."),
    Setting("SINGGAH_SECRET_KEY", "secret_key", _optional_secret, None,
            "Key for sessions, CSRF and encrypting keys at rest; generated into the data "
            "folder on first start when empty. Never printed."),
    Setting("SINGGAH_RETENTION_DAYS", "retention_days", _positive_int, 14,
            "Days visits and personal data are kept before they are deleted."),
    Setting("SINGGAH_MAX_VISIT_HOURS", "max_visit_hours", _positive_int, 12,
            "No visit lasts longer than this, whatever the venue's usual length."),
    Setting("SINGGAH_REPEAT_SCAN_MINUTES", "repeat_scan_minutes", _positive_int, 10,
            "A resent offline scan within this many minutes of a visit is that visit."),
    Setting("SINGGAH_JOB_INTERVAL_SECONDS", "job_interval_seconds", _positive_int, 60,
            "How often `serve` runs its background jobs (auto-checkout)."),
    Setting("SINGGAH_CLOSE_CONTACT_MINUTES", "close_contact_minutes", _positive_int, 15,
            "Overlap with a case (its aerosol tail included) that makes a close contact."),
    Setting("SINGGAH_AEROSOL_TAIL", "aerosol_tail", _bool, True,
            "Extend a case's presence by min(visit length, 30 min) after they left."),
    Setting("SINGGAH_INFECTIOUS_DAYS_BEFORE", "infectious_days_before", _positive_int, 2,
            "Days before symptom onset (or the positive test) that a case's window starts."),
    Setting("SINGGAH_EMERGENCY_NUMBER", "emergency_number", str, "119",
            "The emergency number alert and isolation pages call (tel: link)."),
    Setting("SINGGAH_MAX_BODY_BYTES", "max_body_bytes", _positive_int, 65536,
            "Largest request body accepted; larger ones get 413."),
    Setting("SINGGAH_SESSION_HOURS", "session_hours", _positive_int, 12,
            "How long a staff login session lasts."),
    Setting("SINGGAH_LOGIN_MAX_FAILURES", "login_max_failures", _positive_int, 5,
            "Failed logins for one account within the window before logins are throttled."),
    Setting("SINGGAH_LOGIN_WINDOW_MINUTES", "login_window_minutes", _positive_int, 15,
            "Window for counting failed logins."),
    Setting("SINGGAH_EXPOSURE_RETENTION_DAYS", "exposure_retention_days", _positive_int, 14,
            "Days contact lists (exposures), hotspots and closed cases are kept."),
    Setting("SINGGAH_NOTIFICATION_RETENTION_DAYS", "notification_retention_days",
            _positive_int, 14, "Days the notification outbox keeps a notice."),
    Setting("SINGGAH_AUDIT_RETENTION_DAYS", "audit_retention_days", _positive_int, 365,
            "Days audit log entries (no personal data) are kept."),
    Setting("SINGGAH_RATE_LIMIT_IP_PER_MINUTE", "rate_limit_ip_per_minute", _positive_int, 600,
            "Requests one IP address may make per minute to check-in, verify, login and "
            "certificate endpoints before 429 (high: carriers put many phones behind one "
            "address)."),
    Setting("SINGGAH_RATE_LIMIT_VISITOR_PER_MINUTE", "rate_limit_visitor_per_minute",
            _positive_int, 30, "Requests one visitor may make per minute to those endpoints."),
    Setting("SINGGAH_MAX_HEADER_BYTES", "max_header_bytes", _positive_int, 16384,
            "Largest request line and headers accepted; larger ones are refused (431)."),
    Setting("SINGGAH_SQLITE_POOL_SIZE", "sqlite_pool_size", _positive_int, 4,
            "Long-lived SQLite connections kept open (WAL readers run in parallel), plus one"
            " that checkpoints the WAL."),
    Setting("SINGGAH_DEFAULT_LANGUAGE", "default_language", _language, "id",
            "Language when the browser states no preference: id (Bahasa Indonesia) or en."),
    Setting("SINGGAH_TIMEZONE", "timezone", _timezone, "Asia/Jakarta",
            "Time zone for times shown on pages (WIB by default; Asia/Makassar, Asia/Jayapura)."),
    Setting("SINGGAH_LOG_LEVEL", "log_level", str, "INFO",
            "Python logging level: DEBUG, INFO, WARNING or ERROR."),
    Setting("SINGGAH_COLOUR_RULES_FILE", "colour_rules_file", _optional_path, None,
            "JSON file with the entry colour rules; empty means the shipped PeduliLindungi "
            "rules (docs/certificates.md)."),
    Setting("SINGGAH_ISOLATION_DAYS", "isolation_days", _positive_int, 14,
            "Days an isolation lasts when an official or a rule places someone in it."),
    Setting("SINGGAH_ISOLATE_CLOSE_CONTACTS", "isolate_close_contacts", _bool, False,
            "Place every close contact of a confirmed exposure run in isolation at once."),
    Setting("SINGGAH_SPO2_DANGER", "spo2_danger", _positive_int, 94,
            "Oxygen saturation (%) below which a daily isolation report is a danger sign."),
    Setting("SINGGAH_VAPID_SUBJECT", "vapid_subject", str, "mailto:admin@localhost",
            "Contact (mailto: or https: URL) that push services see in the VAPID signature; "
            "the VAPID key pair is generated into the data folder on first start."),
)  # fmt: skip


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    database_url: str = ""
    base_url: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = 8000
    forwarded_allow_ips: str = "127.0.0.1"
    secret_key: Secret | None = None
    retention_days: int = 14
    max_visit_hours: int = 12
    repeat_scan_minutes: int = 10
    job_interval_seconds: int = 60
    close_contact_minutes: int = 15
    aerosol_tail: bool = True
    infectious_days_before: int = 2
    emergency_number: str = "119"
    max_body_bytes: int = 65536
    session_hours: int = 12
    login_max_failures: int = 5
    login_window_minutes: int = 15
    exposure_retention_days: int = 14
    notification_retention_days: int = 14
    audit_retention_days: int = 365
    rate_limit_ip_per_minute: int = 600
    rate_limit_visitor_per_minute: int = 30
    max_header_bytes: int = 16384
    sqlite_pool_size: int = 4
    default_language: str = "id"
    timezone: str = "Asia/Jakarta"
    log_level: str = "INFO"
    colour_rules_file: Path | None = None
    isolation_days: int = 14
    isolate_close_contacts: bool = False
    spo2_danger: int = 94
    vapid_subject: str = "mailto:admin@localhost"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'singgah.db'}"

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")

    def secret(self) -> bytes:
        if self.secret_key is None:
            raise SettingsError("SINGGAH_SECRET_KEY is not resolved; call resolve_secrets()")
        return self.secret_key.reveal().encode()


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read every ``SINGGAH_*`` variable; unknown or unset ones take their defaults."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = environ.get(setting.env)
        if raw is None:
            continue
        try:
            values[setting.attr] = setting.parse(raw)
        except ValueError as exc:
            raise SettingsError(f"{setting.env}: {exc}") from exc
    return Settings(**values)


SECRETS_FILE = "secrets.json"


def resolve_secrets(settings: Settings) -> Settings:
    """Fill unset secrets from the data folder, generating and saving them on first start.

    The file is created with mode 0600 so only the service's own user can read it.
    """
    if settings.secret_key is not None:
        return settings
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / SECRETS_FILE
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    if "secret_key" not in stored:
        stored["secret_key"] = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(stored, handle)
    return replace(settings, secret_key=Secret(stored["secret_key"]))


def settings_help() -> str:
    """The settings as text for ``singgah --help``."""
    lines = ["settings (environment variables):"]
    for setting in SETTINGS:
        default = "(generated)" if setting.attr == "secret_key" else setting.default
        lines.append(f"  {setting.env:<30} default {default!s:<22} {setting.help}")
    return "\n".join(lines)
