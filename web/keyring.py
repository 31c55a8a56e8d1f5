"""Keys derived from the one secret key, each for a single purpose (HKDF-SHA256, RFC 5869)."""

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from web.settings import Settings

VENUE_SIGNING_KEYS = "venue-signing-keys"


def derive_key(settings: Settings, purpose: str) -> bytes:
    """A 256-bit key for ``purpose``; changing the secret key changes every derived key."""
    hkdf = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"singgah/" + purpose.encode()
    )
    return hkdf.derive(settings.secret())


def venue_key_encryption_key(settings: Settings) -> bytes:
    return derive_key(settings, VENUE_SIGNING_KEYS)
