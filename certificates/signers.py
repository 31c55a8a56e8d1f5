"""Document signer certificates: key ids, HCERT key usage, creation, and keys sealed at rest.

A signer is an X.509 certificate. Its ``kid`` is the first 8 bytes of the SHA-256 of its DER
encoding. Its extended key usage says which certificate types it may sign (HCERT 1.0.5, 3.3.1):
the ``...1847.2021.1.1/2/3`` OIDs for test, vaccination and recovery, in the official and the
alternative (``...1.3.6.1.4.1.0.1847...``) arc. A signer with none of them may sign any type.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

from certificates.errors import InvalidSignerCertificate, SealedKeyUnreadable

KID_BYTES = 8
CERTIFICATE_TYPES = ("t", "v", "r")
TYPE_NAMES = {"t": "test", "v": "vaccination", "r": "recovery"}
KEY_USAGE_OIDS: dict[str, frozenset[str]] = {
    kind: frozenset({f"1.3.6.1.4.1.1847.2021.1.{n}", f"1.3.6.1.4.1.0.1847.2021.1.{n}"})
    for n, kind in enumerate(CERTIFICATE_TYPES, start=1)
}
HCERT_OIDS = frozenset().union(*KEY_USAGE_OIDS.values())
NONCE_BYTES = 12


def key_id(certificate_der: bytes) -> bytes:
    """The HCERT ``kid`` of a DER certificate."""
    return hashlib.sha256(certificate_der).digest()[:KID_BYTES]


def kid_text(kid: bytes) -> str:
    return base64.b64encode(kid).decode()


@dataclass(frozen=True)
class TrustedCertificate:
    """A signer certificate a verifier trusts, with what HCERT needs from it."""

    der: bytes
    certificate: x509.Certificate

    @property
    def kid(self) -> bytes:
        return key_id(self.der)

    @property
    def subject(self) -> str:
        return self.certificate.subject.rfc4514_string()

    @property
    def hcert_usages(self) -> frozenset[str]:
        """The HCERT key usage OIDs in the certificate's extended key usage (often none)."""
        try:
            usage = self.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
        except x509.ExtensionNotFound:
            return frozenset()
        except ValueError:
            # Some national signers carry extensions `cryptography` cannot parse (an empty
            # SEQUENCE, say); with none readable, no HCERT usage restricts them.
            return frozenset()
        return frozenset(oid.dotted_string for oid in usage.value) & HCERT_OIDS

    def may_sign(self, certificate_type: str) -> bool:
        usages = self.hcert_usages
        return not usages or bool(usages & KEY_USAGE_OIDS[certificate_type])

    def base64(self) -> str:
        return base64.b64encode(self.der).decode()


def load_trusted(der: bytes) -> TrustedCertificate:
    """A DER certificate as a `TrustedCertificate`; `InvalidSignerCertificate` if unreadable."""
    try:
        return TrustedCertificate(der, x509.load_der_x509_certificate(der))
    except ValueError as exc:
        raise InvalidSignerCertificate(f"not a DER X.509 certificate: {exc}") from exc


def load_trusted_base64(text: str) -> TrustedCertificate:
    try:
        der = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidSignerCertificate(f"not base64: {exc}") from exc
    return load_trusted(der)


TrustStore = Mapping[bytes, tuple[TrustedCertificate, ...]]


def trust_store(certificates: Iterable[TrustedCertificate]) -> TrustStore:
    """Certificates grouped by ``kid``: kids can collide, so each kid maps to all of them."""
    store: dict[bytes, tuple[TrustedCertificate, ...]] = {}
    for certificate in certificates:
        if certificate not in store.get(certificate.kid, ()):
            store[certificate.kid] = (*store.get(certificate.kid, ()), certificate)
    return store


def create_signer_certificate(
    *,
    common_name: str,
    country: str,
    certificate_types: Iterable[str],
    now: datetime,
    valid_for: timedelta,
) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    """A new P-256 key and a self-signed certificate whose EKU allows ``certificate_types``."""
    private_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, country),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    usages = [
        x509.ObjectIdentifier(oid)
        for kind in sorted(set(certificate_types))
        for oid in sorted(KEY_USAGE_OIDS[kind])
    ]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + valid_for)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(private_key, hashes.SHA256())
    )
    return private_key, certificate.public_bytes(serialization.Encoding.DER)


def seal_private_key(
    private_key: ec.EllipticCurvePrivateKey, sealing_key: bytes, kid: bytes
) -> bytes:
    """The key as PKCS#8, encrypted with AES-GCM; the kid is bound in as associated data so a
    sealed key cannot be swapped onto another certificate's row."""
    plain = private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(sealing_key).encrypt(nonce, plain, kid)


def unseal_private_key(sealed: bytes, sealing_key: bytes, kid: bytes) -> ec.EllipticCurvePrivateKey:
    try:
        plain = AESGCM(sealing_key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], kid)
    except InvalidTag as exc:
        raise SealedKeyUnreadable(
            "the signing key cannot be decrypted: was SINGGAH_SECRET_KEY changed?"
        ) from exc
    key = serialization.load_der_private_key(plain, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise SealedKeyUnreadable("the stored signing key is not an EC key")
    return key
