"""`singgah certificates verify`, `singgah issuers ...` and `singgah trust import`, run as
an operator would: a real process."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from tests.certificates.support import make_signer, sign, vaccination_dcc
from tests.certificates.test_conformance import DATA, MISSING
from tests.factories import START
from tests.web.test_cli import singgah


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def verify(data_dir: Path, *args: str, database_url: str = "") -> tuple[int, dict | None, str]:
    done = singgah(data_dir, "certificates", "verify", *args, database_url=database_url)
    body = json.loads(done.stdout) if done.stdout.strip() else None
    return done.returncode, body, done.stderr


def test_verify_prints_each_step_and_exits_by_validity(data_dir) -> None:
    key, signer = make_signer()
    text = sign(vaccination_dcc(), key, signer, valid_for=timedelta(days=1))
    trust = ("--trust-cert", signer.base64())
    code, body, _ = verify(data_dir, "--at", START.isoformat(), *trust, text)
    assert code == 0 and body["valid"] is True
    assert body["steps"]["signature"]["outcome"] == "pass"
    assert set(body["steps"]) == {
        "prefix", "base45", "decompression", "cose", "signature", "expiry", "key_usage", "schema",
    }  # fmt: skip
    code, body, _ = verify(data_dir, "--at", "2026-11-24T09:00:00Z", *trust, text)
    assert code == 1 and body["valid"] is False
    assert body["steps"]["expiry"] == {"outcome": "fail", "reason": "expired"}
    code, body, _ = verify(data_dir, "--at", START.isoformat(), *trust, "HC1:garbage")
    assert code == 1 and body["steps"]["base45"]["outcome"] == "fail"


def test_usage_errors_exit_2(data_dir) -> None:
    key, signer = make_signer()
    text = sign(vaccination_dcc(), key, signer)
    assert verify(data_dir, "--at", "yesterday", "--trust-cert", signer.base64(), text)[0] == 2
    code, _, stderr = verify(data_dir, "--trust-cert", "not base64!", text)
    assert code == 2 and "--trust-cert" in stderr
    assert verify(data_dir)[0] == 2


@pytest.mark.skipif(not DATA.is_dir(), reason=MISSING)
def test_verify_a_test_data_case_with_its_clock_and_signer(data_dir) -> None:
    case = json.loads((DATA / "common/2DCode/raw/CO10.json").read_text())
    context = case["TESTCTX"]
    code, body, _ = verify(
        data_dir,
        "--at",
        context["VALIDATIONCLOCK"],
        "--trust-cert",
        context["CERTIFICATE"],
        case["PREFIX"],
    )
    expected = case["EXPECTEDRESULTS"]
    assert body["steps"]["key_usage"]["outcome"] == (
        "pass" if expected["EXPECTEDKEYUSAGE"] else "fail"
    )
    assert code == (0 if body["valid"] else 1)


def test_issuers_signers_and_trust_import_from_the_command_line(
    data_dir, database_url, tmp_path
) -> None:
    assert singgah(data_dir, "migrate", database_url=database_url).returncode == 0
    created = singgah(
        data_dir, "issuers", "create", "--name", "Lab Palembang", "--kind", "lab",
        database_url=database_url,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert "id 1" in created.stdout
    signer = singgah(
        data_dir, "issuers", "add-signer", "--issuer", "1", "--types", "t",
        database_url=database_url,
    )  # fmt: skip
    assert signer.returncode == 0 and "kid" in signer.stdout, signer.stderr
    staff = singgah(
        data_dir, "users", "create", "--email", "lab@rs.id", "--role", "issuer", "--issuer", "1",
        database_url=database_url,
    )  # fmt: skip
    assert staff.returncode == 0, staff.stderr
    unknown = singgah(data_dir, "issuers", "add-signer", "--issuer", "7", database_url=database_url)
    assert unknown.returncode == 1 and "no issuer 7" in unknown.stderr

    key, foreign = make_signer()
    text = sign(vaccination_dcc(), key, foreign, issued_at=START, valid_for=timedelta(days=3650))
    at = ("--at", (START + timedelta(days=1)).isoformat())
    code, body, _ = verify(data_dir, *at, text, database_url=database_url)
    assert code == 1 and "no trusted signer" in body["steps"]["signature"]["reason"]
    trust_file = tmp_path / "trust.json"
    trust_file.write_text(json.dumps([foreign.base64()]))
    imported = singgah(data_dir, "trust", "import", str(trust_file), database_url=database_url)
    assert imported.returncode == 0 and "imported 1 new of 1" in imported.stdout
    code, body, _ = verify(data_dir, *at, text, database_url=database_url)
    assert code == 0 and body["steps"]["revocation"]["outcome"] == "pass"
    trust_file.write_text('["not a certificate"]')
    bad = singgah(data_dir, "trust", "import", str(trust_file), database_url=database_url)
    assert bad.returncode == 1 and "entry 1" in bad.stderr
