"""The signed venue token that a poster's QR code carries (specified in docs/qr-format.md).

    payload   = version (1 byte, 1) | kid (4 bytes) | venue id (8 bytes, big-endian unsigned)
                | issued at (4 bytes, big-endian unsigned seconds since the Unix epoch)
    signature = Ed25519 over CONTEXT + payload (64 bytes)
    token     = base64url without padding of payload + signature (108 characters)

The QR holds ``{base_url}/c/{token}`` so any phone camera opens the check-in page.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from collections import OrderedDict
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from venues.errors import TokenBadSignature, TokenMalformed

VERSION = 1
CONTEXT = b"singgah/venue-token/v1\n"  # domain separation: these signatures mean nothing else
PAYLOAD = struct.Struct(">B4sQI")
SIGNATURE_BYTES = 64
TOKEN_BYTES = PAYLOAD.size + SIGNATURE_BYTES
TOKEN_CHARS = 108
# Matched with fullmatch: "^...$" would let a trailing newline through.
TOKEN_TEXT = re.compile(r"[A-Za-z0-9_-]{108}")
# Venue ids are the database's signed 64-bit keys: a larger id names no venue and cannot even
# be bound as a query parameter (SQLite and asyncpg both raise), so it is malformed.
MAX_VENUE_ID = 2**63 - 1
URL_PATH = re.compile(r"/c/([A-Za-z0-9_-]+)/?$")


@dataclass(frozen=True)
class VenueToken:
    kid: str
    venue_id: int
    issued_at: int


def sign_token(key: Ed25519PrivateKey, kid: str, venue_id: int, issued_at: int) -> str:
    payload = PAYLOAD.pack(VERSION, bytes.fromhex(kid), venue_id, issued_at)
    signature = key.sign(CONTEXT + payload)
    return base64.urlsafe_b64encode(payload + signature).rstrip(b"=").decode()


def checkin_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/c/{token}"


def token_from_url(url: str) -> str:
    """The token in a poster URL (any host: a foreign poster fails on its key, not its host)."""
    match = URL_PATH.search(url.split("?", 1)[0].split("#", 1)[0])
    if not match:
        raise TokenMalformed("the URL is not a Singgah poster URL ending in /c/<token>")
    return match[1]


def parse_token(token: str) -> tuple[VenueToken, bytes, bytes]:
    """The token's fields, the signed bytes and the signature; `TokenMalformed` otherwise."""
    if not isinstance(token, str) or not TOKEN_TEXT.fullmatch(token):
        raise TokenMalformed(f"a venue token is {TOKEN_CHARS} base64url characters")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError) as exc:
        raise TokenMalformed("the token is not base64url") from exc
    version, kid, venue_id, issued_at = PAYLOAD.unpack(raw[: PAYLOAD.size])
    if version != VERSION:
        raise TokenMalformed(f"token format version {version} is not supported (expected 1)")
    if venue_id > MAX_VENUE_ID:
        raise TokenMalformed(f"venue id {venue_id} is out of range")
    return (
        VenueToken(kid.hex(), venue_id, issued_at),
        CONTEXT + raw[: PAYLOAD.size],
        raw[PAYLOAD.size :],
    )


class SignatureCache:
    """Tokens whose signature has been verified. Posters are few and static, so a bounded cache
    saves the Ed25519 verification on almost every scan. Only the signature is cached: key
    retirement and venue deactivation are checked on every verification."""

    def __init__(self, size: int = 50_000) -> None:
        self._size = size
        self._verified: OrderedDict[str, None] = OrderedDict()

    def check(self, token: str, signed: bytes, signature: bytes, public_key: bytes) -> None:
        if token in self._verified:
            self._verified.move_to_end(token)
            return
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(signature, signed)
        except InvalidSignature as exc:
            raise TokenBadSignature("the poster's signature does not match its contents") from exc
        self._verified[token] = None
        if len(self._verified) > self._size:
            self._verified.popitem(last=False)
