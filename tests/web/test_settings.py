import os
import stat
from pathlib import Path

import pytest

from web.settings import SETTINGS, Secret, Settings, SettingsError, load_settings, resolve_secrets

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_in_the_readme_table() -> None:
    rows = [line for line in README.read_text().splitlines() if line.startswith("| `SINGGAH_")]
    documented = {row.split("`")[1] for row in rows}
    missing = {setting.env for setting in SETTINGS} - documented
    assert not missing, f"settings missing from the README configuration table: {missing}"
    stale = documented - {setting.env for setting in SETTINGS}
    assert not stale, f"README documents settings that do not exist: {stale}"


def test_every_setting_maps_to_a_field_with_the_same_default() -> None:
    defaults = Settings()
    for setting in SETTINGS:
        assert getattr(defaults, setting.attr) == setting.default, setting.env


def test_settings_are_typed_and_defaulted() -> None:
    settings = load_settings({"SINGGAH_RETENTION_DAYS": "21", "SINGGAH_BASE_URL": "https://x.id/"})
    assert settings.retention_days == 21
    assert settings.base_url == "https://x.id"
    assert settings.secure_cookies
    assert load_settings({}).retention_days == 14


@pytest.mark.parametrize(
    ("env", "value"),
    [("SINGGAH_RETENTION_DAYS", "0"), ("SINGGAH_PORT", "eighty"), ("SINGGAH_BASE_URL", "ftp://x")],
)
def test_bad_values_name_the_variable(env: str, value: str) -> None:
    with pytest.raises(SettingsError, match=env):
        load_settings({env: value})


def test_secrets_never_print() -> None:
    settings = load_settings({"SINGGAH_SECRET_KEY": "hunter2-very-secret"})
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings.secret_key)
    assert settings.secret() == b"hunter2-very-secret"


def test_secret_is_generated_once_into_a_private_file(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    first = resolve_secrets(settings)
    second = resolve_secrets(settings)
    assert isinstance(first.secret_key, Secret)
    assert first.secret_key == second.secret_key
    mode = stat.S_IMODE(os.stat(tmp_path / "data" / "secrets.json").st_mode)
    assert mode == 0o600


def test_default_database_is_sqlite_in_the_data_folder(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path).resolved_database_url == f"sqlite:///{tmp_path}/singgah.db"
