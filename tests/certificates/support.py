"""Signers and DCC payloads for the certificates tests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from certificates.hc1 import encode_hc1
from certificates.issuers import (
    Issuance,
    Issuer,
    SigningCertificate,
    create_issuer,
    create_signing_certificate,
    issue_certificate,
    list_issuers,
)
from certificates.signers import (
    CERTIFICATE_TYPES,
    TrustedCertificate,
    create_signer_certificate,
    load_trusted,
)
from tests.factories import START
from web.database import Database
from web.routes_certificates import sealing_key
from web.settings import Settings


def make_signer(
    types: Iterable[str] = CERTIFICATE_TYPES, *, now: datetime = START
) -> tuple[ec.EllipticCurvePrivateKey, TrustedCertificate]:
    key, der = create_signer_certificate(
        common_name="Lab Test Palembang",
        country="ID",
        certificate_types=types,
        now=now,
        valid_for=timedelta(days=365),
    )
    return key, load_trusted(der)


def vaccination_dcc(dose: int = 2, series: int = 2, ci: str = "URN:UVCI:01:ID:TEST1") -> dict:
    return {
        "ver": "1.3.0",
        "nam": {"fn": "Siregar", "fnt": "SIREGAR", "gn": "Rina", "gnt": "RINA"},
        "dob": "1990-04-01",
        "v": [
            {
                "tg": "840539006",
                "vp": "1119349007",
                "mp": "EU/1/20/1528",
                "ma": "ORG-100030215",
                "dn": dose,
                "sd": series,
                "dt": "2026-06-01",
                "co": "ID",
                "is": "Kementerian Kesehatan",
                "ci": ci,
            }
        ],
    }


def pcr_test_dcc(result: str = "260415000", test_type: str = "LP6464-4", **extra: Any) -> dict:
    entry = {
        "tg": "840539006",
        "tt": test_type,
        "sc": "2026-11-21T08:00:00Z",
        "tr": result,
        "tc": "Lab Test Palembang",
        "co": "ID",
        "is": "Kementerian Kesehatan",
        "ci": "URN:UVCI:01:ID:TEST2",
        **extra,
    }
    return {"ver": "1.3.0", "nam": {"fnt": "SIREGAR"}, "dob": "1990-04-01", "t": [entry]}


def sign(
    dcc: dict,
    key: ec.EllipticCurvePrivateKey,
    signer: TrustedCertificate,
    *,
    issued_at: datetime = START,
    valid_for: timedelta = timedelta(days=30),
) -> str:
    return encode_hc1(
        dcc,
        issuer_country="ID",
        issued_at=issued_at,
        expires_at=issued_at + valid_for,
        private_key=key,
        kid=signer.kid,
    )


async def make_issuer(
    db: Database,
    settings: Settings,
    *,
    name: str = "Lab Kesehatan Daerah Palembang",
    types: Iterable[str] = CERTIFICATE_TYPES,
) -> tuple[Issuer, SigningCertificate]:
    issuer = await create_issuer(db, name=name, kind="lab", country="ID", now=START)
    signer = await create_signing_certificate(
        db, issuer, certificate_types=types, now=START, sealing_key=sealing_key(settings)
    )
    return issuer, signer


def issuing_request(entry: dict, kind: str = "t") -> dict:
    """An API body from a DCC payload built above: names, birth date and one entry."""
    return {"nam": {"fn": "Siregar", "gn": "Rina"}, "dob": "1990-04-01", kind: entry}


def pcr_entry(result: str = "260415000", sampled: str = "2026-11-22T08:00:00Z") -> dict:
    entry = pcr_test_dcc(result=result)["t"][0]
    for added_by_singgah in ("co", "is", "ci"):
        del entry[added_by_singgah]
    return {**entry, "sc": sampled}


def vaccination_entry(dose: int, series: int) -> dict:
    """An API entry (without co, is, ci) for dose ``dose`` of ``series``."""
    entry = vaccination_dcc(dose, series)["v"][0]
    return {k: v for k, v in entry.items() if k not in ("co", "is", "ci")}


async def issue_to_rina(
    db: Database,
    settings: Settings,
    entry: dict,
    kind: str,
    *,
    at: datetime = START,
    days: int | None = None,
) -> Issuance:
    """A certificate for Rina Siregar (initials RS) signed by a Singgah issuer (made once)."""
    issuer = next(iter(await list_issuers(db)), None) or (await make_issuer(db, settings))[0]
    return await issue_certificate(
        db, issuer, issuing_request(entry, kind), now=at, sealing_key=sealing_key(settings),
        valid_for=timedelta(days=days) if days else None,
    )  # fmt: skip
