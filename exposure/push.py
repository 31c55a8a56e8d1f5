"""Web Push messages: RFC 8291 encryption (aes128gcm) and RFC 8292 VAPID.

The body is encrypted by the `webpush` package (an independent `http_ece` decrypts it in the
tests; its RFC 8291 step is called directly, see `PushEncoder.encrypt`). Its VAPID header is
not used: `webpush` 1.0.6 drops a non-default port from the JWT's
`aud`, which RFC 8292 says is the endpoint's origin *with* its port, and a per-call `ttl` or
`subscriber` changes its defaults for later calls. So the instance is built once with fixed
defaults, and the JWT (cached per origin, it is valid for hours) and the TTL and Urgency headers
are made here.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from webpush import WebPush

from exposure.errors import PayloadTooLarge
from exposure.http import encode_headers, split_url

MAX_PAYLOAD_BYTES = 4096  # one aes128gcm record; larger bodies come out undecryptable
JWT_LIFETIME = 12 * 3600  # RFC 8292: at most 24 hours
JWT_RENEW_BEFORE = 3600


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def origin_of(endpoint: str) -> str:
    """The endpoint's origin with its port, as RFC 8292 wants in ``aud``."""
    return split_url(endpoint)[0]


@dataclass(frozen=True)
class VapidKeys:
    private_key: ec.EllipticCurvePrivateKey

    @classmethod
    def generate(cls) -> VapidKeys:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def load_or_create(cls, path: Path) -> VapidKeys:
        """Read the PEM key at ``path``, generating it (mode 0600) on first use.

        The new key is written whole to a temporary file and linked into place, so processes
        starting together (``serve --workers N``, ``worker``) all end up with the same key."""
        if not path.exists():
            keys = cls.generate()
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.{os.getpid()}")
            handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(handle, "wb") as out:
                out.write(keys.private_pem())
            try:
                os.link(temporary, path)
            except FileExistsError:
                pass  # another process won; use its key
            finally:
                temporary.unlink()
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return cls(key)

    def private_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def application_server_key(self) -> str:
        """The public key as browsers want it: base64url of the uncompressed point."""
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url(point)

    def sign_jwt(self, claims: dict[str, object]) -> str:
        header = b64url(json.dumps({"typ": "JWT", "alg": "ES256"}).encode())
        body = b64url(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{header}.{body}".encode()
        r, s = decode_dss_signature(self.private_key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return f"{header}.{body}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


@dataclass(frozen=True)
class SubscriptionKeys:
    p256dh: str
    auth: str


@dataclass(frozen=True)
class Subscription:
    id: int
    endpoint: str
    p256dh: str
    auth: str

    @cached_property
    def keys(self) -> SubscriptionKeys:
        """The shape `webpush` reads (``subscription.keys.p256dh``), made once per device."""
        return SubscriptionKeys(self.p256dh, self.auth)


@dataclass(frozen=True)
class PushRequest:
    endpoint: str
    body: bytes
    headers: dict[str, str]  # shared by the requests to one push service: read only
    header_lines: bytes  # the same encoded (`exposure.http.encode_headers`)


@dataclass
class PushEncoder:
    """Turns a payload and a subscription into the HTTP request the push service wants."""

    keys: VapidKeys
    subject: str
    wall_clock: Callable[[], float] = time.time
    _webpush: WebPush = field(init=False, repr=False)
    _public_key: str = field(init=False, repr=False)
    _tokens: dict[str, tuple[str, float]] = field(default_factory=dict, init=False, repr=False)
    # (origin, ttl, urgency) -> (headers, encoded, JWT expiry): built once, not per push
    _headers: dict[tuple[str, int, str], tuple[dict[str, str], bytes, float]] = field(
        default_factory=dict, init=False, repr=False
    )

    def __post_init__(self) -> None:
        self._public_key = self.keys.application_server_key()
        self._webpush = WebPush(
            private_key=self.keys.private_pem(),
            public_key=self.keys.public_pem(),
            subscriber=self.subject,
        )

    def encrypt(self, payload: bytes, subscription: Subscription) -> bytes:
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise PayloadTooLarge(f"{len(payload)} bytes; Web Push allows {MAX_PAYLOAD_BYTES}")
        # `_encrypt` is the RFC 8291 half of `WebPush.get`; the other half signs a VAPID JWT
        # with the wrong `aud` on every call (half the cost), and `get` validates through
        # pydantic. webpush is pinned to 1.0.6 in pyproject.toml for this reason.
        return self._webpush._encrypt(payload, subscription)  # type: ignore[arg-type]

    def authorization(self, endpoint: str) -> str:
        origin = origin_of(endpoint)
        now = self.wall_clock()
        token, expires = self._tokens.get(origin, ("", 0.0))
        if expires - now < JWT_RENEW_BEFORE:
            expires = int(now) + JWT_LIFETIME
            token = self.keys.sign_jwt({"aud": origin, "exp": expires, "sub": self.subject})
            self._tokens[origin] = (token, expires)
        return f"vapid t={token}, k={self._public_key}"

    def headers(self, endpoint: str, *, ttl: int, urgency: str) -> tuple[dict[str, str], bytes]:
        """The request headers for ``endpoint``'s push service, and the same encoded; made
        again only when the VAPID JWT in them is renewed."""
        key = (origin_of(endpoint), ttl, urgency)
        cached = self._headers.get(key)
        if cached is None or cached[2] - self.wall_clock() < JWT_RENEW_BEFORE:
            fields = {
                "content-encoding": "aes128gcm",
                "content-type": "application/octet-stream",
                "ttl": str(ttl),
                "urgency": urgency,
                "authorization": self.authorization(endpoint),
            }
            expires = self._tokens[key[0]][1]
            cached = self._headers[key] = (fields, encode_headers(fields), expires)
        return cached[0], cached[1]

    def request(
        self, payload: bytes, subscription: Subscription, *, ttl: int, urgency: str
    ) -> PushRequest:
        headers, header_lines = self.headers(subscription.endpoint, ttl=ttl, urgency=urgency)
        return PushRequest(
            subscription.endpoint, self.encrypt(payload, subscription), headers, header_lines
        )
