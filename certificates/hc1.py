"""The HC1 pipeline, both ways.

Encoding: DCC JSON -> CWT claims ``{1: iss, 6: iat, 4: exp, -260: {1: dcc}}`` -> COSE_Sign1
(ES256) -> zlib -> Base45 -> ``"HC1:" + text``. Decoding is split into one function per stage
so verification can report each stage on its own; every stage raises `StageFailed` with a
reason a person can read, never anything else.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from importlib import resources
from typing import Any

import base45
import cbor2
from cryptography.hazmat.primitives.asymmetric import ec
from jsonschema import Draft202012Validator, ValidationError

from certificates.cose import MalformedCose, Sign1, parse_sign1, sign1_es256

PREFIX = "HC1:"
CLAIM_ISSUER = 1
CLAIM_EXPIRES = 4
CLAIM_ISSUED = 6
CLAIM_HCERT = -260
HCERT_DCC = 1
# An HC1 QR holds at most about 4 KB; a real DCC inflates to a few KB. The cap stops a
# decompression bomb from eating the server's memory.
MAX_DECOMPRESSED_BYTES = 256 * 1024


class StageFailed(ValueError):
    """One stage of decoding failed; the message is the reason shown to people."""


@dataclass(frozen=True)
class Claims:
    """The CWT claims of a decoded HC1, with the DCC as JSON-compatible data."""

    issuer: str | None
    issued_at: int | float | None
    expires_at: int | float | None
    dcc: dict[str, Any]

    @property
    def certificate_type(self) -> str | None:
        """``v``, ``t`` or ``r`` when the DCC holds exactly one kind of entry."""
        kinds = [kind for kind in ("v", "t", "r") if kind in self.dcc]
        return kinds[0] if len(kinds) == 1 else None

    @property
    def certificate_identifier(self) -> str | None:
        """The ``ci`` (UVCI) of the first entry, which revocation is keyed on."""
        kind = self.certificate_type
        entries = self.dcc.get(kind) if kind else None
        if isinstance(entries, list) and entries and isinstance(entries[0], Mapping):
            ci = entries[0].get("ci")
            return ci if isinstance(ci, str) else None
        return None


def encode_hc1(
    dcc: Mapping[str, Any],
    *,
    issuer_country: str,
    issued_at: datetime,
    expires_at: datetime,
    private_key: ec.EllipticCurvePrivateKey,
    kid: bytes,
) -> str:
    """Sign ``dcc`` into an ``HC1:`` string."""
    claims = {
        CLAIM_ISSUER: issuer_country,
        CLAIM_ISSUED: int(issued_at.timestamp()),
        CLAIM_EXPIRES: int(expires_at.timestamp()),
        CLAIM_HCERT: {HCERT_DCC: dict(dcc)},
    }
    message = sign1_es256(private_key, kid, cbor2.dumps(claims))
    return PREFIX + base45.b45encode(zlib.compress(message, 9)).decode("ascii")


def unprefix(text: str) -> str:
    if not isinstance(text, str) or not text.startswith(PREFIX):
        raise StageFailed(f"the text does not start with {PREFIX}")
    return text[len(PREFIX) :]


def base45_decode(text: str) -> bytes:
    try:
        return base45.b45decode(text)
    except (ValueError, TypeError) as exc:
        raise StageFailed(f"not valid Base45: {exc}") from exc


def decompress(data: bytes) -> bytes:
    inflater = zlib.decompressobj()
    try:
        inflated = inflater.decompress(data, MAX_DECOMPRESSED_BYTES)
    except zlib.error as exc:
        raise StageFailed(f"not valid zlib data: {exc}") from exc
    if inflater.unconsumed_tail:
        raise StageFailed(f"inflates to more than {MAX_DECOMPRESSED_BYTES} bytes")
    if not inflater.eof:
        raise StageFailed("the zlib stream is truncated")
    return inflated


def _cbor(data: bytes, what: str) -> Any:
    try:
        return cbor2.loads(data)
    except Exception as exc:  # cbor2 raises several exception types on hostile input
        raise StageFailed(f"{what} is not valid CBOR: {exc}") from exc


def json_compatible(value: Any) -> Any:
    """CBOR data as JSON data: dates become ISO 8601 strings, bytes base64, keys strings."""
    if isinstance(value, Mapping):
        return {str(key): json_compatible(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_compatible(item) for item in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _time_claim(claims: Mapping[Any, Any], label: int) -> int | float | None:
    value = claims.get(label)
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def decode_cose(data: bytes) -> tuple[Sign1, Claims]:
    """The COSE_Sign1 and its CWT claims; the payload must hold a DCC (``-260: {1: {...}}``)."""
    try:
        message = parse_sign1(_cbor(data, "the message"))
    except MalformedCose as exc:
        raise StageFailed(str(exc)) from exc
    claims = _cbor(message.payload, "the payload")
    if not isinstance(claims, Mapping):
        raise StageFailed("the payload is not a CBOR map of CWT claims")
    hcert = claims.get(CLAIM_HCERT)
    if not isinstance(hcert, Mapping) or not isinstance(hcert.get(HCERT_DCC), Mapping):
        raise StageFailed("the payload holds no DCC (claim -260 with key 1)")
    issuer = claims.get(CLAIM_ISSUER)
    return message, Claims(
        issuer=issuer if isinstance(issuer, str) else None,
        issued_at=_time_claim(claims, CLAIM_ISSUED),
        expires_at=_time_claim(claims, CLAIM_EXPIRES),
        dcc=json_compatible(hcert[HCERT_DCC]),
    )


def read_claims(text: str) -> Claims:
    """The claims of an HC1 without checking its signature: for one that was verified before.
    Raises `StageFailed` like the stages it runs."""
    return decode_cose(decompress(base45_decode(unprefix(text))))[1]


@cache
def dcc_schema_validator() -> Draft202012Validator:
    """The EU DCC JSON schema 1.3.3 shipped with the package."""
    text = resources.files("certificates").joinpath("data/DCC.combined-schema.json").read_text()
    return Draft202012Validator(json.loads(text))


def _rule(error: ValidationError) -> str:
    # Named by the broken rule, not by jsonschema's message: that quotes the value, which may be
    # a name or a date of birth, and these reasons reach API answers and terminals.
    value = error.validator_value
    shown = f" {value}" if isinstance(value, (str, int, float)) else ""
    return f"breaks {error.validator}{shown}"


def schema_errors(dcc: Mapping[str, Any]) -> list[dict[str, str]]:
    """Each place ``dcc`` breaks the DCC schema, as ``{"pointer", "detail"}``."""
    return [
        {
            "pointer": "#/" + "/".join(str(part) for part in error.absolute_path),
            "detail": _rule(error),
        }
        for error in sorted(
            dcc_schema_validator().iter_errors(dcc), key=lambda e: list(map(str, e.path))
        )
    ]
