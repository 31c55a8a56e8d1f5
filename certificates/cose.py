"""COSE_Sign1 (RFC 9052) as HCERT uses it: parse, sign with ES256, verify ES256 and PS256.

CBOR comes from `cbor2`; signatures from `cryptography`. Only the parts HCERT needs are here:
one signer, no external AAD, the ``kid`` and ``alg`` headers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

HEADER_ALG = 1
HEADER_KID = 4
ALG_ES256 = -7
ALG_PS256 = -37
ALGORITHM_NAMES = {ALG_ES256: "ES256", ALG_PS256: "PS256"}
COSE_SIGN1_TAG = 18
CWT_TAG = 61
P256_COORDINATE_BYTES = 32


class MalformedCose(ValueError):
    """The bytes are not a COSE_Sign1 structure; the message says what is wrong."""


@dataclass(frozen=True)
class Sign1:
    """A parsed COSE_Sign1 message; ``protected_bytes`` is kept as signed."""

    protected_bytes: bytes
    protected: Mapping[Any, Any]
    unprotected: Mapping[Any, Any]
    payload: bytes
    signature: bytes

    def header(self, label: int) -> Any:
        """A header value from the protected bucket, else the unprotected one (HCERT allows
        ``kid`` and, in real certificates, ``alg`` in either)."""
        if label in self.protected:
            return self.protected[label]
        return self.unprotected.get(label)

    @property
    def kid(self) -> bytes | None:
        kid = self.header(HEADER_KID)
        return kid if isinstance(kid, bytes) else None

    @property
    def alg(self) -> int | None:
        alg = self.header(HEADER_ALG)
        return alg if isinstance(alg, int) else None


def _untag(value: Any) -> Any:
    # Real certificates come untagged, tagged 18 (COSE_Sign1) and tagged 61 (CWT) around 18.
    while isinstance(value, cbor2.CBORTag):
        if value.tag not in (COSE_SIGN1_TAG, CWT_TAG):
            raise MalformedCose(f"unexpected CBOR tag {value.tag}, expected 18 (COSE_Sign1)")
        value = value.value
    return value


def _protected_map(protected_bytes: bytes) -> Mapping[Any, Any]:
    if not protected_bytes:
        return {}
    try:
        protected = cbor2.loads(protected_bytes)
    except Exception as exc:  # cbor2 raises several types on hostile input
        raise MalformedCose(f"the protected header is not CBOR: {exc}") from exc
    if not isinstance(protected, Mapping):
        raise MalformedCose("the protected header is not a CBOR map")
    return protected


def parse_sign1(message: Any) -> Sign1:
    """The COSE_Sign1 in an already CBOR-decoded ``message``; `MalformedCose` otherwise."""
    value = _untag(message)
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)) or len(value) != 4:
        raise MalformedCose("a COSE_Sign1 is an array of 4 items")
    protected_bytes, unprotected, payload, signature = value
    if not isinstance(protected_bytes, bytes):
        raise MalformedCose("the protected header must be a byte string")
    if not isinstance(unprotected, Mapping):
        raise MalformedCose("the unprotected header must be a map")
    if not isinstance(payload, bytes):
        raise MalformedCose("the payload must be a byte string (detached payloads are not HC1)")
    if not isinstance(signature, bytes):
        raise MalformedCose("the signature must be a byte string")
    return Sign1(protected_bytes, _protected_map(protected_bytes), unprotected, payload, signature)


def sig_structure(protected_bytes: bytes, payload: bytes) -> bytes:
    """The bytes that are signed: ``["Signature1", protected, external_aad, payload]``."""
    return cbor2.dumps(["Signature1", protected_bytes, b"", payload])


def raw_to_der(signature: bytes) -> bytes:
    """COSE's ES256 ``r || s`` (32 + 32 bytes) as the DER that `cryptography` verifies."""
    if len(signature) != 2 * P256_COORDINATE_BYTES:
        raise InvalidSignature(f"an ES256 signature has 64 bytes, not {len(signature)}")
    r = int.from_bytes(signature[:P256_COORDINATE_BYTES], "big")
    s = int.from_bytes(signature[P256_COORDINATE_BYTES:], "big")
    return encode_dss_signature(r, s)


def der_to_raw(signature: bytes) -> bytes:
    r, s = decode_dss_signature(signature)
    return r.to_bytes(P256_COORDINATE_BYTES, "big") + s.to_bytes(P256_COORDINATE_BYTES, "big")


def sign1_es256(private_key: ec.EllipticCurvePrivateKey, kid: bytes, payload: bytes) -> bytes:
    """A tagged COSE_Sign1 over ``payload``, ES256 and ``kid`` in the protected header."""
    protected_bytes = cbor2.dumps({HEADER_ALG: ALG_ES256, HEADER_KID: kid})
    signature = private_key.sign(sig_structure(protected_bytes, payload), ec.ECDSA(hashes.SHA256()))
    message = [protected_bytes, {}, payload, der_to_raw(signature)]
    return cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, message))


def signature_is_valid(message: Sign1, public_key: Any) -> bool:
    """Whether ``public_key`` made ``message``'s signature under its ``alg`` (ES256 or PS256)."""
    signed = sig_structure(message.protected_bytes, message.payload)
    try:
        if message.alg == ALG_ES256 and isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(raw_to_der(message.signature), signed, ec.ECDSA(hashes.SHA256()))
            return True
        if message.alg == ALG_PS256 and isinstance(public_key, rsa.RSAPublicKey):
            # RFC 8230 fixes the salt at the hash length; AUTO also accepts signers that used
            # the maximum salt, which some national backends did.
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
            public_key.verify(message.signature, signed, pss, hashes.SHA256())
            return True
    except (InvalidSignature, ValueError):
        return False
    return False
