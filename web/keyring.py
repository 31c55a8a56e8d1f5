"""Keys derived from the one secret key, each for a single purpose (HKDF-SHA256, RFC 5869)."""

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from checkin.visitors import PersonalDataKeys
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


PERSONAL_DATA_KEY_ID = "k1"


def personal_data_keys(settings: Settings) -> PersonalDataKeys:
    """Keys sealing and indexing visitors' personal data, and signing visitor tokens."""
    return PersonalDataKeys(
        key_id=PERSONAL_DATA_KEY_ID,
        sealing_key=derive_key(settings, f"personal-data/{PERSONAL_DATA_KEY_ID}"),
        lookup_key=derive_key(settings, "personal-data-lookup"),
        token_key=derive_key(settings, "visitor-tokens"),
    )
